/**
 * Approval links: a signed, expiring token naming one rollout, attempt, step and action, and a
 * nonce. Pure signing and checking here; the admin route (src/admin/approval-routes.ts) checks the token
 * against the rollout's status and spends the nonce in the store, which is what makes a link usable
 * once. Threat model: docs/notifications.md#approval-links.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type ApprovalAction = 'promote' | 'abort';

export interface ApprovalClaim {
  rollout: string;
  attempt: number;
  step: number;
  action: ApprovalAction;
  /** Expiry, epoch ms. */
  expires: number;
  /** The message's id: one nonce per message, spent by whichever of its links is used first. */
  nonce: string;
}

/** Domain separation: this key signs nothing else, and a future format changes the prefix. */
const CONTEXT = 'graylane-approval-v1.';
const MAX_TOKEN = 2048;

export function signApproval(claim: ApprovalClaim, key: string): string {
  const payload = Buffer.from(JSON.stringify({ r: claim.rollout, a: claim.attempt, s: claim.step, x: claim.action, e: claim.expires, n: claim.nonce })).toString('base64url');
  return `${payload}.${mac(payload, key)}`;
}

export type ApprovalCheck = { ok: true; claim: ApprovalClaim } | { ok: false; reason: string };

/** Checks the signature and the expiry only; what the token may still do is the route's question. */
export function verifyApproval(token: string, key: string, now: number): ApprovalCheck {
  if (token.length > MAX_TOKEN) return { ok: false, reason: 'malformed link' };
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return { ok: false, reason: 'malformed link' };
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const want = Buffer.from(mac(payload, key), 'base64url');
  if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, reason: 'the link is not signed by this graylane (tampered, or the key changed)' };
  let v: { r?: unknown; a?: unknown; s?: unknown; x?: unknown; e?: unknown; n?: unknown };
  try {
    v = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof v;
  } catch {
    return { ok: false, reason: 'malformed link' };
  }
  if (typeof v.r !== 'string' || typeof v.a !== 'number' || typeof v.s !== 'number' || (v.x !== 'promote' && v.x !== 'abort') || typeof v.e !== 'number' || typeof v.n !== 'string') {
    return { ok: false, reason: 'malformed link' };
  }
  if (now >= v.e) return { ok: false, reason: `the link expired at ${new Date(v.e).toISOString()}` };
  return { ok: true, claim: { rollout: v.r, attempt: v.a, step: v.s, action: v.x, expires: v.e, nonce: v.n } };
}

function mac(payload: string, key: string): string {
  return createHmac('sha256', key).update(CONTEXT + payload).digest('base64url');
}
