/**
 * A notification as graylane queues it, before it is dressed for a platform (formats.ts). It holds
 * no secret and no signed link: signatures and approval links are made when a message is sent, from
 * keys read then, so the state store never holds anything that could sign or approve.
 */
import type { NotifyEventName } from '../spec/notifications.js';

export interface NotifyMessage {
  /** Unique and stable across retries: the webhook's X-Graylane-Delivery, a receiver's idempotency key. */
  id: string;
  event: NotifyEventName;
  /** When it happened, epoch ms. */
  time: number;
  severity: 'info' | 'warning';
  /** One line: what happened to what. */
  title: string;
  /** The event's own message (the rollout event log's text, or the reload error). */
  text: string;
  rollout?: string;
  service?: string;
  attempt?: number;
  /** Index of the step the rollout is at (0-based, as in the status). */
  step?: number;
  /** AwaitingPromotion with approval links on: links are signed at send time for this step. */
  approval?: boolean;
}

/** Signed promote/abort links of one approval message. */
export interface ApprovalLinks {
  promote: string;
  abort: string;
}

/** Bounded text: a reload error can be long, chat platforms cap messages at a few KB. */
export function clip(text: string, max = 1500): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
