/**
 * The approval link endpoint on the admin API: `/approve/<token>`, outside /api/v1 and without the
 * bearer token (the signed token is the credential).
 *
 * GET never acts: chat apps fetch URLs to preview them, and so do mail scanners. It answers a small
 * confirmation page whose button POSTs to the same URL. POST checks, in order: the signature and
 * expiry; that the link's nonce is unspent; that the rollout is still at that attempt and step and waiting for promotion (a link for
 * an older step, or after someone else acted, is refused); then spends the token's nonce with a
 * compare-and-swap create in the store (usable once, across every gateway of a cluster); then
 * asks the controller, as the admin API would.
 */
import type { ApiRoute } from './server.js';
import { ApiError } from './server.js';
import type { RolloutController } from '../rollout/controller.js';
import { StoreConflictError, type Store } from '../store/types.js';
import { verifyApproval, type ApprovalClaim } from '../notify/approval.js';
import { readSecret } from '../notify/secrets.js';
import type { NotificationsSpec } from '../spec/notifications.js';

export const USED_PREFIX = 'notify/approvals/used/';

export interface ApprovalRouteOptions {
  spec(): NotificationsSpec | undefined;
  controller: Pick<RolloutController, 'get' | 'command'>;
  store: Store;
  clock?: () => number;
}

export function approvalRoutes(opts: ApprovalRouteOptions): ApiRoute[] {
  const clock = opts.clock ?? Date.now;
  const check = (token: string): ApprovalClaim => {
    const links = opts.spec()?.approvalLinks;
    if (links === undefined) throw new ApiError(404, 'approval_links_off', 'approval links are off (notifications.approvalLinks)');
    const v = verifyApproval(token, readSecret(links.key), clock());
    if (!v.ok) throw new ApiError(403, 'bad_link', v.reason);
    return v.claim;
  };
  return [
    {
      method: 'GET',
      path: '/approve/:token',
      access: 'read',
      handle(req, res) {
        let page: string;
        let status = 200;
        try {
          const c = check(req.params.token!);
          page = confirmPage(c);
        } catch (err) {
          status = err instanceof ApiError ? err.status : 500;
          page = htmlPage('Link refused', `<p>${esc((err as Error).message)}</p>`);
        }
        res.writeHead(status, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
          // The page only posts to itself: no scripts, no frames.
          'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
          'x-frame-options': 'DENY',
        });
        res.end(page);
        return { handled: true };
      },
    },
    {
      method: 'POST',
      path: '/approve/:token',
      access: 'read',
      async handle(req) {
        const c = check(req.params.token!);
        // Checked first so that a replay is told it is one (the create below is what guarantees it).
        if ((await opts.store.getKey(USED_PREFIX + c.nonce)) !== null) throw new ApiError(409, 'link_used', 'this link has already been used');
        const state = await opts.controller.get(c.rollout).catch(() => {
          throw new ApiError(404, 'not_found', `rollout ${c.rollout} is not declared any more`);
        });
        const s = state.stored?.status;
        if (s === undefined || s.attempt !== c.attempt || s.currentStepIndex !== c.step || s.reason !== 'AwaitingPromotion') {
          throw new ApiError(409, 'stale_link', `rollout ${c.rollout} is no longer waiting at step ${c.step + 1} of attempt ${c.attempt}: the link is for a step that has passed`);
        }
        try {
          await opts.store.putKey(USED_PREFIX + c.nonce, { at: clock(), action: c.action, rollout: c.rollout, step: c.step }, { expectRevision: 0 });
        } catch (err) {
          if (err instanceof StoreConflictError) throw new ApiError(409, 'link_used', 'this link has already been used');
          throw err;
        }
        const out = await opts.controller.command(c.rollout, c.action === 'promote' ? { type: 'promote' } : { type: 'abort' });
        return { body: { rollout: c.rollout, action: c.action, step: c.step, phase: out.status.phase, reason: out.status.reason, message: out.status.message } };
      },
    },
  ];
}

function confirmPage(c: ApprovalClaim): string {
  const verb = c.action === 'promote' ? 'Promote' : 'Abort';
  return htmlPage(
    `${verb} ${c.rollout}?`,
    `<p>${verb} rollout <b>${esc(c.rollout)}</b> at step ${c.step + 1} (attempt ${c.attempt}). The link works once and expires ${esc(new Date(c.expires).toISOString())}.</p>
<form method="post"><button type="submit">${verb}</button></form>`,
  );
}

function htmlPage(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
