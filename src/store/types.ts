/**
 * The store: where rollout status, the event log, analysis run history and other controller state
 * live. One interface, two implementations: embedded SQLite (sqlite.ts, the default) and etcd
 * (clustered mode, later). conformance.ts is the suite both must pass.
 *
 * Consistency model, the same as etcd's:
 * - Every write gets a new *revision* from one counter that only grows (statuses and keys share it).
 * - A status or key is replaced only with compare-and-swap on the revision it was read at
 *   (0 = "must not exist yet"), so two controllers, or a controller and the admin API, can never
 *   overwrite each other: the loser gets StoreConflictError, re-reads and tries again.
 * - commit() writes a status, its events and its analysis runs atomically: after a crash a
 *   reader sees all of a commit or none of it, so no event is lost or logged without its status.
 */
import { GraylaneError } from '../errors.js';
import type { AnalysisRun } from '../status/analysis-run.js';
import type { RolloutEvent, RolloutStatus, StoredEvent } from '../status/rollout-status.js';

export type { StoredEvent };

export interface StoredStatus {
  name: string;
  /** Revision of the write that stored this status: pass it back as `expectRevision`. */
  revision: number;
  status: RolloutStatus;
}


export interface KeyEntry {
  key: string;
  revision: number;
  value: unknown;
}

export interface CommitRequest {
  name: string;
  status: RolloutStatus;
  /** The revision the status was read at; 0 when it must not exist yet. */
  expectRevision: number;
  events?: readonly RolloutEvent[];
  /** Runs to insert or replace in the history, by (rollout, run id). */
  runs?: readonly AnalysisRun[];
}

export interface EventQuery {
  /** Only events with a larger seq (for tailing). */
  afterSeq?: number;
  /** At most this many, oldest first, from afterSeq on. */
  limit?: number;
  /** The newest `last` events, oldest first (ignores limit). */
  last?: number;
}

export interface Store {
  getStatus(name: string): Promise<StoredStatus | null>;
  /** Every stored status, by name. */
  listStatuses(): Promise<StoredStatus[]>;
  /** Writes status + events + runs in one transaction; resolves to the new revision. Throws StoreConflictError. */
  commit(req: CommitRequest): Promise<number>;
  /** Removes a status (its events and runs stay in the history). False when it was not there. Throws StoreConflictError. */
  deleteStatus(name: string, expectRevision?: number): Promise<boolean>;
  /** Events without a status change (e.g. a notice from the admin API). */
  appendEvents(name: string, events: readonly RolloutEvent[]): Promise<void>;
  /** Events of one rollout, or of all when `name` is null, in log order. */
  listEvents(name: string | null, query?: EventQuery): Promise<StoredEvent[]>;
  /** Run history of a rollout, all attempts, oldest first. */
  listAnalysisRuns(name: string): Promise<AnalysisRun[]>;

  /** Other state as JSON values under string keys (registrations, leader records...). */
  getKey(key: string): Promise<KeyEntry | null>;
  /** Resolves to the new revision. With expectRevision, compare-and-swap (0 = must not exist). */
  putKey(key: string, value: unknown, opts?: { expectRevision?: number }): Promise<number>;
  deleteKey(key: string, opts?: { expectRevision?: number }): Promise<boolean>;
  /** Keys starting with `prefix`, sorted. */
  listKeys(prefix: string): Promise<KeyEntry[]>;

  close(): Promise<void>;
}

/** A compare-and-swap lost: someone wrote since the caller read. Re-read and retry. */
export class StoreConflictError extends GraylaneError {
  readonly code = 'STORE_CONFLICT';
  /** The admin API's answer. */
  readonly status = 409;
  constructor(
    readonly key: string,
    readonly expectedRevision: number,
    /** The revision found; 0 when absent. */
    readonly actualRevision: number,
  ) {
    super(`${key} changed since it was read (expected revision ${expectedRevision}, found ${actualRevision})`);
  }
}

/**
 * The store cannot be reached or did not answer in time (etcd down, partitioned, or out of quota).
 * Thrown within the client's bounded timeout, never a hang. A write that fails this way was one
 * transaction, so it happened entirely or not at all; which one is unknown when the request was
 * sent before the connection broke, and compare-and-swap makes the retry safe (it conflicts when
 * the first attempt did land). The admin API answers it with HTTP 503.
 */
export class StoreUnavailableError extends GraylaneError {
  readonly code = 'STORE_UNAVAILABLE';
  readonly status = 503;
  constructor(
    /** What was attempted, e.g. `commit rollout whoami-v2`. */
    readonly operation: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`store unavailable: ${operation}: ${reason}`, options);
  }
}

/**
 * A write from a controller that is no longer the leader: its leadership key is gone (lease expired
 * or resigned) or belongs to another campaign. Nothing was written; the controller must stop.
 */
export class StoreFencedError extends GraylaneError {
  readonly code = 'STORE_FENCED';
  readonly status = 409;
  constructor(
    readonly leaderKey: string,
    /** Create revision the writer held the key at. */
    readonly expectedRevision: number,
  ) {
    super(`not the leader any more: ${leaderKey} is no longer held at revision ${expectedRevision}; nothing was written`);
  }
}
