/**
 * `notifications`: targets, subscriptions, delivery bounds and approval links (docs/notifications.md).
 * Absent means off, and the Spec then has no `notifications` key.
 *
 * Secrets (and chat webhook URLs, which carry a token) are references only: `{ env: NAME }` or
 * `{ file: PATH }`. A secret written inline is an error naming the key, so it never lands in a
 * file that gets committed, nor in the Spec the admin API shows.
 */
import {
  DEFAULT_DELIVERY,
  DEFAULT_LINK_TTL_MS,
  NOTIFY_EVENTS,
  TARGET_KINDS,
  type ApprovalLinksSpec,
  type NotificationsSpec,
  type NotifyDeliverySpec,
  type NotifyEventName,
  type NotifySubscriptionSpec,
  type NotifyTargetSpec,
  type SecretRef,
  type TargetKind,
  type UrlRef,
} from '../notifications.js';
import { entries, isRecord, list, num, rec, str, type NormalizeContext } from '../context.js';
import type { Path } from '../paths.js';
import { parseDuration } from '../units.js';

const INLINE_SECRET = 'secrets are never written in the config: use { env: NAME } (an environment variable) or { file: PATH } (a file holding it)';

export function normalizeNotifications(data: Record<string, unknown>, ctx: NormalizeContext): { notifications?: NotificationsSpec } {
  if (!isRecord(data.notifications)) return {};
  const raw = data.notifications;
  const targets: Record<string, NotifyTargetSpec> = {};
  for (const [name, t] of entries(raw.targets)) {
    const target = normalizeTarget(name, rec(t), ['notifications', 'targets', name], ctx);
    if (target) targets[name] = target;
  }
  const subscriptions = list(raw.subscriptions).map((s, i) => normalizeSubscription(rec(s), ['notifications', 'subscriptions', i], Object.keys(rec(raw.targets)), ctx));
  const approvalLinks = isRecord(raw.approvalLinks) ? normalizeLinks(raw.approvalLinks, ctx) : undefined;
  return {
    notifications: {
      targets,
      subscriptions,
      delivery: normalizeDelivery(rec(raw.delivery), ctx),
      ...(approvalLinks ? { approvalLinks } : {}),
    },
  };
}

function normalizeTarget(name: string, raw: Record<string, unknown>, path: Path, ctx: NormalizeContext): NotifyTargetSpec | undefined {
  const kind = str(raw.kind);
  if (kind === undefined || !(TARGET_KINDS as readonly string[]).includes(kind)) return undefined; // the schema reports it
  const url = urlRef(raw.url, [...path, 'url'], ctx);
  const secret = raw.secret === undefined ? undefined : secretRef(raw.secret, [...path, 'secret'], ctx);
  if (kind === 'webhook' && raw.secret === undefined) {
    ctx.report(path, 'missing-key', `webhook target "${name}" needs a secret (the key of its X-Graylane-Signature): secret: { env: NAME } or { file: PATH }`);
  }
  if ((kind === 'slack' || kind === 'wecom') && raw.secret !== undefined) {
    ctx.report([...path, 'secret'], 'invalid-value', `${kind} webhooks have no signing secret: the URL itself is the secret (url: { env: NAME })`, 'key');
  }
  if (url === undefined) return undefined;
  return { name, kind: kind as TargetKind, url, ...(secret ? { secret } : {}) };
}

/** A URL as written, checked when it is written inline; `{ env }` / `{ file }` are checked when read. */
function urlRef(value: unknown, path: Path, ctx: NormalizeContext): UrlRef | undefined {
  if (typeof value === 'string') {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      ctx.report(path, 'bad-url', `"${value}" is not an absolute URL`);
      return undefined;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.report(path, 'bad-url', `only http and https URLs, got ${u.protocol}`);
    return value;
  }
  return secretRef(value, path, ctx);
}

function secretRef(value: unknown, path: Path, ctx: NormalizeContext): SecretRef | undefined {
  if (typeof value === 'string' || typeof value === 'number') {
    // Do not echo the value: it is a secret someone just wrote into a file.
    ctx.report(path, 'invalid-value', INLINE_SECRET);
    return undefined;
  }
  const r = rec(value);
  const env = str(r.env);
  const file = str(r.file);
  if ((env === undefined) === (file === undefined)) {
    if (isRecord(value)) ctx.report(path, 'invalid-value', `give exactly one of env and file`);
    return undefined;
  }
  return env !== undefined ? { env } : { file: file! };
}

function normalizeSubscription(raw: Record<string, unknown>, path: Path, targetNames: string[], ctx: NormalizeContext): NotifySubscriptionSpec {
  const targets = list(raw.targets).filter((t): t is string => typeof t === 'string');
  targets.forEach((t, i) => {
    if (!targetNames.includes(t)) ctx.report([...path, 'targets', i], 'invalid-value', `unknown target "${t}"; targets are: ${targetNames.join(', ') || '(none)'}`);
  });
  const events = raw.events === undefined ? [...NOTIFY_EVENTS] : list(raw.events).filter((e): e is NotifyEventName => (NOTIFY_EVENTS as readonly unknown[]).includes(e));
  const strings = (v: unknown): string[] | undefined => (v === undefined ? undefined : list(v).filter((x): x is string => typeof x === 'string'));
  const rollouts = strings(raw.rollouts);
  const services = strings(raw.services);
  services?.forEach((s, i) => ctx.checkService([...path, 'services', i], s));
  return { targets, events, ...(rollouts ? { rollouts } : {}), ...(services ? { services } : {}) };
}

function normalizeDelivery(raw: Record<string, unknown>, ctx: NormalizeContext): NotifyDeliverySpec {
  const d = { ...DEFAULT_DELIVERY };
  d.attempts = num(raw.attempts) ?? d.attempts;
  for (const [key, field] of [['maxAge', 'maxAgeMs'], ['backoff', 'backoffMs'], ['maxBackoff', 'maxBackoffMs'], ['timeout', 'timeoutMs']] as const) {
    if (raw[key] === undefined) continue;
    const ms = parseDuration(raw[key]);
    if (ms === undefined || ms === 0) ctx.report(['notifications', 'delivery', key], 'bad-duration', `expected a duration like 500ms, 10s, 1h, got ${JSON.stringify(raw[key])}`);
    else d[field] = ms;
  }
  if (d.maxBackoffMs < d.backoffMs) ctx.report(['notifications', 'delivery', 'maxBackoff'], 'out-of-range', 'maxBackoff must be at least backoff');
  return d;
}

function normalizeLinks(raw: Record<string, unknown>, ctx: NormalizeContext): ApprovalLinksSpec | undefined {
  const path: Path = ['notifications', 'approvalLinks'];
  const baseUrl = str(raw.baseUrl);
  if (baseUrl !== undefined) {
    try {
      const u = new URL(baseUrl);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') ctx.report([...path, 'baseUrl'], 'bad-url', `only http and https URLs, got ${u.protocol}`);
    } catch {
      ctx.report([...path, 'baseUrl'], 'bad-url', `"${baseUrl}" is not an absolute URL`);
    }
  }
  const key = raw.key === undefined ? undefined : secretRef(raw.key, [...path, 'key'], ctx);
  const ttlMs = raw.ttl === undefined ? DEFAULT_LINK_TTL_MS : parseDuration(raw.ttl);
  if (ttlMs === undefined || ttlMs === 0) ctx.report([...path, 'ttl'], 'bad-duration', `expected a duration like 30m or 1h, got ${JSON.stringify(raw.ttl)}`);
  if (baseUrl === undefined || key === undefined || ttlMs === undefined) return undefined;
  return { baseUrl: baseUrl.replace(/\/+$/, ''), key, ttlMs };
}
