/**
 * The notifier: turns committed rollout events, rejected reloads and store outages into queued
 * deliveries, and a background sender that delivers them.
 *
 * Nothing here is awaited by the controller, the gateway or the config watcher: they call
 * rolloutEvents() / system(), which only push onto an in-memory list and return. The list is
 * written to the store's queue (queue.ts) on the next turn; a store that refuses keeps it in memory
 * (bounded) until it accepts. The sender runs on a timer, only where `sending()` is true (the
 * elected controller in clustered mode, so two gateways never both send), reads due deliveries and
 * tries each once per pass: a 2xx (and, for the chat platforms, a zero error code in the answer) is
 * delivered and the key deleted; anything else is retried after an exponential backoff with jitter,
 * until `attempts` tries or `maxAge`, then dropped, counted and logged. One slow receiver holds
 * only its own target: each target has at most one request in flight, bounded by `timeout`.
 *
 * Delivery is at least once: a sender killed after the receiver answered and before the key was
 * deleted sends that message again. Receivers dedupe by the message id (X-Graylane-Delivery).
 */
import type { Logger } from 'pino';
import type { RolloutSpec } from '../spec/rollout-model.js';
import type { RolloutEvent, RolloutStatus } from '../status/rollout-status.js';
import type { Store } from '../store/types.js';
import { signApproval } from './approval.js';
import { rolloutMessages, systemMessage, targetsFor } from './events.js';
import { formatRequest, type OutgoingRequest } from './formats.js';
import type { ApprovalLinks, NotifyMessage } from './message.js';
import { enqueue, listQueue, type QueueEntry, type QueuedDelivery } from './queue.js';
import { readSecret, readUrl } from './secrets.js';
import type { NotificationsSpec, NotifyEventName, NotifyTargetSpec } from '../spec/notifications.js';

/** What the controller knows of the notifier: committed events, nothing about targets. */
export interface RolloutEventSink {
  rolloutEvents(rollout: RolloutSpec, status: RolloutStatus, events: readonly RolloutEvent[]): void;
}

export type SendOutcome = 'sent' | 'failed' | 'dropped';

export interface NotifierOptions {
  store: Store;
  /** The notifications section of the spec being served (read at each use: reloads apply). */
  spec(): NotificationsSpec | undefined;
  /** Whether this process sends (one process: always; clustered: while it leads). */
  sending(): boolean;
  logger?: Logger;
  clock?: () => number;
  /** [0, 1): backoff jitter. */
  random?: () => number;
  /** Whether the state store answers (clustered mode): a change to false queues StoreUnavailable. */
  storeUp?(): boolean;
  /** Time between sender passes; default 500 ms. */
  pollMs?: number;
}

/** Deliveries held in memory while the store refuses them; older ones are dropped (and counted) past this. */
const MAX_HELD = 1000;
/** An answer's body read to find a chat platform's error code. */
const MAX_ANSWER = 8 * 1024;

export class Notifier implements RolloutEventSink {
  readonly #o: NotifierOptions;
  readonly #clock: () => number;
  readonly #random: () => number;
  readonly #log: Logger | undefined;
  /** Not yet in the store. */
  #held: QueuedDelivery[] = [];
  #flushing: Promise<void> | null = null;
  /** Targets with a request in flight. */
  readonly #busy = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #passing = false;
  #closed = false;
  #depth = 0;
  #storeWasUp = true;
  readonly #counts = new Map<string, number>();

  constructor(opts: NotifierOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#log = opts.logger;
  }

  start(): void {
    const every = this.#o.pollMs ?? 500;
    this.#timer = setInterval(() => {
      this.#watchStore();
      void this.pass();
    }, every);
    this.#timer.unref();
  }

  /** Called by the controller after a commit; returns at once. */
  rolloutEvents(rollout: RolloutSpec, status: RolloutStatus, events: readonly RolloutEvent[]): void {
    const spec = this.#o.spec();
    if (spec === undefined || this.#closed) return;
    const messages = rolloutMessages({ rollout: rollout.name, service: rollout.service, status }, events, spec.approvalLinks !== undefined);
    this.#queue(spec, messages);
  }

  /** A message about graylane itself (reload rejected, store unavailable); returns at once. */
  system(event: NotifyEventName, title: string, text: string): void {
    const spec = this.#o.spec();
    if (spec === undefined || this.#closed) return;
    this.#queue(spec, [systemMessage(event, title, text, this.#clock())]);
  }

  #queue(spec: NotificationsSpec, messages: NotifyMessage[]): void {
    const now = this.#clock();
    for (const message of messages) {
      for (const target of targetsFor(spec, message)) this.#held.push({ target, message, queuedAt: now, attempts: 0, nextAt: now, lastError: null });
    }
    if (this.#held.length > MAX_HELD) {
      const lost = this.#held.splice(0, this.#held.length - MAX_HELD);
      for (const d of lost) this.#count(d.target, 'dropped');
      this.#log?.error({ dropped: lost.length }, 'notifications: the store refused queued messages for too long; the oldest were dropped');
    }
    if (this.#held.length > 0) setImmediate(() => void this.flush());
  }

  /** Writes held deliveries to the store's queue; what the store refuses stays held. */
  flush(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#held.length > 0) {
          const d = this.#held[0]!;
          await enqueue(this.#o.store, [d]);
          this.#held.shift();
        }
      } catch (err) {
        this.#log?.warn({ err: (err as Error).message, held: this.#held.length }, 'notifications: the store refused the queue; kept in memory, tried again');
      } finally {
        this.#flushing = null;
      }
    })();
    return this.#flushing;
  }

  /** Held in memory until the store is back, then queued and sent like any message. */
  #watchStore(): void {
    if (this.#o.storeUp === undefined) return;
    const up = this.#o.storeUp();
    if (this.#storeWasUp && !up) this.system('StoreUnavailable', 'graylane: the state store is unavailable', 'the state store does not answer: gateways keep serving their last good snapshot; rollouts wait and admin changes fail until it is back');
    this.#storeWasUp = up;
  }

  /** One sender pass: every due delivery of a target that has nothing in flight is tried once. */
  async pass(): Promise<void> {
    if (this.#passing || this.#closed) return;
    this.#passing = true;
    try {
      if (this.#held.length > 0) await this.flush();
      const entries = await listQueue(this.#o.store);
      this.#depth = entries.length + this.#held.length;
      if (!this.#o.sending()) return;
      const now = this.#clock();
      const due = new Map<string, QueueEntry[]>();
      for (const e of entries) {
        if (e.delivery.nextAt > now || this.#busy.has(e.delivery.target)) continue;
        due.set(e.delivery.target, [...(due.get(e.delivery.target) ?? []), e]);
      }
      for (const [target, list] of due) {
        this.#busy.add(target);
        // Not awaited: a slow receiver must not hold the other targets (nor the next pass).
        void this.#deliverInOrder(list).finally(() => this.#busy.delete(target));
      }
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'notifications: reading the queue failed; tried again');
    } finally {
      this.#passing = false;
    }
  }

  /** One target's due deliveries, oldest first, one at a time; stops at the first failure (the receiver is likely down). */
  async #deliverInOrder(list: QueueEntry[]): Promise<void> {
    for (const e of list) {
      if (this.#closed || !this.#o.sending()) return;
      if (!(await this.#deliver(e))) return;
    }
  }

  /** True when delivered (or dropped for good). */
  async #deliver(entry: QueueEntry): Promise<boolean> {
    const d = entry.delivery;
    const spec = this.#o.spec();
    const target = spec?.targets[d.target];
    if (spec === undefined || target === undefined) {
      await this.#drop(entry, 'the target is no longer in the config');
      return true;
    }
    const now = this.#clock();
    let error: string | null;
    try {
      const req = this.#request(spec, target, d.message, now);
      error = await send(req, spec.delivery.timeoutMs, target.kind);
    } catch (err) {
      error = (err as Error).message;
    }
    if (this.#closed) return false;
    try {
      if (error === null) {
        await this.#o.store.deleteKey(entry.key);
        this.#count(d.target, 'sent');
        this.#log?.info({ target: d.target, event: d.message.event, id: d.message.id, attempts: d.attempts + 1 }, 'notification delivered');
        return true;
      }
      const attempts = d.attempts + 1;
      const after = this.#clock();
      if (attempts >= spec.delivery.attempts || after - d.queuedAt >= spec.delivery.maxAgeMs) {
        await this.#drop(entry, `${attempts} tries, last: ${error}`);
        return true;
      }
      const cap = Math.min(spec.delivery.maxBackoffMs, spec.delivery.backoffMs * 2 ** (attempts - 1));
      // Equal jitter: at least half the backoff, so retries of many messages spread but never hammer.
      const wait = Math.round(cap / 2 + (this.#random() * cap) / 2);
      await this.#o.store.putKey(entry.key, { ...d, attempts, nextAt: after + wait, lastError: error }, { expectRevision: entry.revision });
      this.#count(d.target, 'failed');
      this.#log?.warn({ target: d.target, event: d.message.event, id: d.message.id, attempts, retryInMs: wait, error }, 'notification not delivered; retrying');
    } catch (err) {
      this.#log?.warn({ target: d.target, err: (err as Error).message }, 'notifications: recording a delivery failed');
    }
    return false;
  }

  async #drop(entry: QueueEntry, why: string): Promise<void> {
    await this.#o.store.deleteKey(entry.key);
    this.#count(entry.delivery.target, 'dropped');
    this.#log?.error({ target: entry.delivery.target, event: entry.delivery.message.event, id: entry.delivery.message.id, why }, 'notification dropped');
  }

  /** The request for one try: URL, secret and links read now, never stored. */
  #request(spec: NotificationsSpec, target: NotifyTargetSpec, message: NotifyMessage, now: number): OutgoingRequest {
    const url = readUrl(target.url);
    const secret = target.secret === undefined ? undefined : readSecret(target.secret);
    let links: ApprovalLinks | undefined;
    const al = spec.approvalLinks;
    if (message.approval && al !== undefined && message.rollout !== undefined && message.attempt !== undefined && message.step !== undefined) {
      const key = readSecret(al.key);
      const claim = { rollout: message.rollout, attempt: message.attempt, step: message.step, expires: message.time + al.ttlMs, nonce: message.id };
      links = {
        promote: `${al.baseUrl}/approve/${signApproval({ ...claim, action: 'promote' }, key)}`,
        abort: `${al.baseUrl}/approve/${signApproval({ ...claim, action: 'abort' }, key)}`,
      };
    }
    return formatRequest({ kind: target.kind, url, secret, message, links, now });
  }

  #count(target: string, outcome: SendOutcome): void {
    const k = `${target}\u0000${outcome}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  /** graylane_notifications_sent_total: tries by target and outcome. */
  counts(): { target: string; outcome: SendOutcome; n: number }[] {
    return [...this.#counts].map(([k, n]) => {
      const [target, outcome] = k.split('\u0000') as [string, SendOutcome];
      return { target, outcome, n };
    });
  }

  /** Deliveries waiting (in the store's queue and held in memory), as of the last pass. */
  queueDepth(): number {
    return this.#depth;
  }

  /** Stops the sender; what is queued stays queued for the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#flushing;
  }
}

/** One HTTP try; null when delivered, else why not. */
async function send(req: OutgoingRequest, timeoutMs: number, kind: NotifyTargetSpec['kind']): Promise<string | null> {
  let res: Response;
  try {
    res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    // Never the URL: chat webhook URLs carry their token.
    return e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `request failed: ${e.cause?.code ?? e.name}`;
  }
  const text = await readCapped(res);
  if (res.status < 200 || res.status > 299) return `HTTP ${res.status}`;
  return platformError(kind, text);
}

/**
 * Chat platforms answer 200 with an error code in the body when they refuse (bad signature, rate
 * limit): DingTalk and WeCom `errcode`, Feishu `code` (or `StatusCode` in older answers).
 */
function platformError(kind: NotifyTargetSpec['kind'], text: string): string | null {
  if (kind !== 'dingtalk' && kind !== 'wecom' && kind !== 'feishu') return null;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  const code = kind === 'feishu' ? (v.code ?? v.StatusCode) : v.errcode;
  if (code === undefined || code === 0) return null;
  const msg = kind === 'feishu' ? (v.msg ?? v.StatusMessage) : v.errmsg;
  return `${kind} refused: code ${String(code)}${typeof msg === 'string' ? ` (${msg.slice(0, 200)})` : ''}`;
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
      if (size >= MAX_ANSWER) break;
    }
  } catch {
    return '';
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).toString('utf8');
}
