/**
 * The notifications model: targets (where messages go), subscriptions (which events go to which
 * targets) and delivery bounds, as the config declares them. Secrets are never values here, only
 * references (an environment variable or a file); src/notify/secrets.ts reads them when the
 * notifier starts, so a secret never reaches the Spec, the state store, logs or the admin API.
 */

/** Where a secret is read from: an environment variable or a file (trailing newline dropped). */
export type SecretRef = { env: string } | { file: string };

/** A URL written in the config, or one that is itself a secret (chat webhooks carry their token in the URL). */
export type UrlRef = string | SecretRef;

export const TARGET_KINDS = ['webhook', 'slack', 'feishu', 'dingtalk', 'wecom'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/**
 * Events a subscription can name. The rollout ones are the reasons of the rollout's event log
 * (src/rollout/status.ts) that people act on; release events (full-link gray releases) will join
 * this list with their own names.
 */
export const NOTIFY_EVENTS = [
  'RolloutStarted',
  'StepStarted',
  'AwaitingPromotion',
  'AnalysisFailed',
  'Aborted',
  'Promoted',
  'Completed',
  'ReloadRejected',
  'StoreUnavailable',
] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

export interface NotifyTargetSpec {
  name: string;
  kind: TargetKind;
  url: UrlRef;
  /** webhook: the HMAC-SHA256 key (required); feishu, dingtalk: the bot's signing secret (optional). */
  secret?: SecretRef;
}

export interface NotifySubscriptionSpec {
  targets: string[];
  /** Which events; all of NOTIFY_EVENTS when absent. */
  events: NotifyEventName[];
  /** Only these rollouts (rollout events); absent = every rollout. */
  rollouts?: string[];
  /** Only rollouts of these services; absent = every service. */
  services?: string[];
}

export interface NotifyDeliverySpec {
  /** Tries per message (the first included) before it is dropped and counted. */
  attempts: number;
  /** A message older than this is dropped and counted, however few tries it had. */
  maxAgeMs: number;
  /** First wait between tries; it doubles up to maxBackoffMs, with full jitter. */
  backoffMs: number;
  maxBackoffMs: number;
  /** One HTTP try: connect, send and answer. */
  timeoutMs: number;
}

/** One-time signed promote/abort links in approval messages (docs/notifications.md#approval-links). */
export interface ApprovalLinksSpec {
  /** The admin API as people's browsers reach it, e.g. https://graylane.example.com (links go under /approve). */
  baseUrl: string;
  /** The HMAC key links are signed with. */
  key: SecretRef;
  /** How long a link is valid. */
  ttlMs: number;
}

export interface NotificationsSpec {
  targets: Record<string, NotifyTargetSpec>;
  subscriptions: NotifySubscriptionSpec[];
  delivery: NotifyDeliverySpec;
  /** Absent = off (the default). */
  approvalLinks?: ApprovalLinksSpec;
}

export const DEFAULT_DELIVERY: NotifyDeliverySpec = {
  attempts: 10,
  maxAgeMs: 24 * 3_600_000,
  backoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
  timeoutMs: 10_000,
};

export const DEFAULT_LINK_TTL_MS = 3_600_000;
