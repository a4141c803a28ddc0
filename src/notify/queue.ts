/**
 * The delivery queue, on the Store interface (SQLite in one process, etcd in clustered mode): one key
 * per (message, target), written before anything is sent, so a message queued while a receiver is
 * down, or before a kill -9, is still there for the next sender. A key holds the message and its
 * delivery state only: no secret, no signed link.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/types.js';
import type { NotifyMessage } from './message.js';

export const QUEUE_PREFIX = 'notify/queue/';

export interface QueuedDelivery {
  target: string;
  message: NotifyMessage;
  /** When it was queued, epoch ms (the age bound counts from here). */
  queuedAt: number;
  /** Tries made so far. */
  attempts: number;
  /** Not tried before this time, epoch ms. */
  nextAt: number;
  /** Why the last try failed. */
  lastError: string | null;
}

export interface QueueEntry {
  key: string;
  revision: number;
  delivery: QueuedDelivery;
}

/** Keys sort by queue time, so the oldest are sent first. */
export function queueKey(queuedAt: number): string {
  return `${QUEUE_PREFIX}${String(queuedAt).padStart(15, '0')}-${randomUUID()}`;
}

export async function enqueue(store: Store, deliveries: readonly QueuedDelivery[]): Promise<void> {
  for (const d of deliveries) await store.putKey(queueKey(d.queuedAt), d, { expectRevision: 0 });
}

export async function listQueue(store: Store): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  for (const k of await store.listKeys(QUEUE_PREFIX)) {
    if (isDelivery(k.value)) out.push({ key: k.key, revision: k.revision, delivery: k.value });
  }
  return out;
}

function isDelivery(v: unknown): v is QueuedDelivery {
  const d = v as Partial<QueuedDelivery> | null;
  return typeof d === 'object' && d !== null && typeof d.target === 'string' && typeof d.message === 'object' && typeof d.attempts === 'number' && typeof d.nextAt === 'number';
}
