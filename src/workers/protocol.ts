/**
 * The messages between a primary and its data-plane workers, over node:cluster's IPC channel
 * (serialization 'advanced': the V8 structured clone, which keeps what JSON would not, such as
 * `undefined` and Infinity in a Spec).
 *
 * primary -> worker: `init` once (asked for by the worker's `hello`, so nothing is sent before it listens) (what to listen on, the spec and status to serve), `apply` for
 * every accepted spec or status change, `drain` to stop.
 * worker -> primary: `ready` (listening) or `failed`, `applied` per apply (for propagation
 * figures and /api/v1/config), `counters` in batches (never per request).
 *
 * What travels is the spec and status, never a compiled Snapshot: a snapshot holds closures,
 * regexes and balancing state, so each worker compiles what it receives, exactly as the primary did.
 */
import type { OriginHealth } from '../gateway/health.js';
import type { ListenerAddress, ListenerOptions } from '../gateway/server.js';
import type { TlsConfig } from '../gateway/tls.js';
import type { MirrorCounters } from '../gateway/mirror.js';
import type { Status } from '../routing/types.js';
import type { CountersDocument } from '../traffic/index.js';
import type { OutcomeTotals } from '../decide/index.js';

export interface ListenAt {
  host: string;
  port: number;
}

export interface InitMessage {
  type: 'init';
  /** 1..N; a restarted worker keeps its slot. */
  slot: number;
  /** The gateway's listeners, TLS certificates included (read and checked once, by the primary). */
  listeners: ListenerOptions[];
  mesh: ListenerOptions | null;
  decide: ListenAt | null;
  accessLog: boolean;
  /** Write logs as readable lines (the primary's `--log-format` decision per stream). */
  logPretty: boolean;
  accessPretty: boolean;
  /** `debug.workerHeader`: name the worker in a response header. */
  workerHeader: boolean;
  /** How often counters are sent to the primary (when they changed). */
  publishMs: number;
  apply: ApplyMessage;
}

/** One accepted change: the spec (when it changed since the last apply) and the status, compiled by the worker. */
export interface ApplyMessage {
  type: 'apply';
  /** Increases with every apply. */
  seq: number;
  /**
   * The spec, serialized once by the primary with v8.serialize (for every worker: the primary's cost
   * of a 100k-user list does not grow with N); omitted when it is the one of the previous apply (a
   * rollout step changes only the status).
   */
  spec?: Uint8Array;
  status: Status;
  /** The snapshot id the primary compiled: the worker's must be the same. */
  id: string;
}

export interface DrainMessage {
  type: 'drain';
  drainMs: number;
}

/**
 * New certificates of a TLS listener, read and checked by the primary (src/app/certificates.ts):
 * every worker serves the same ones, never a pair it read half-written.
 */
export interface CertificatesMessage {
  type: 'certificates';
  listener: string;
  tls: TlsConfig;
}

export type ToWorker = InitMessage | ApplyMessage | DrainMessage | CertificatesMessage;

/** The worker listens for messages now: send `init`. */
export interface HelloMessage {
  type: 'hello';
}

export interface ReadyMessage {
  type: 'ready';
  listeners: ListenerAddress[];
  mesh: ListenAt | null;
  decide: ListenAt | null;
}

export interface FailedMessage {
  type: 'failed';
  message: string;
}

export interface AppliedMessage {
  type: 'applied';
  seq: number;
  /** The snapshot id the worker serves now (unchanged when compiling failed). */
  id: string;
  /** Time the worker took to read the spec, compile and swap, ms. */
  compileMs: number;
  /** Set when the worker could not compile what the primary did (it keeps serving its snapshot). */
  error?: string;
}

/** Cumulative totals of one worker run (counted from `doc.startedAt`), sent every publishMs when they changed. */
export interface CountersMessage {
  type: 'counters';
  /** Requests, errors and the fine latency histogram per (service, version): the clustered-mode document. */
  doc: CountersDocument;
  /** What /metrics shows beyond the document. */
  versions: VersionDetail[];
  series: SeriesDetail[];
  mirror: MirrorCounters;
  inFlight: number;
  /** Passive-health entries of origins that failed at least once. */
  health: OriginHealth[];
  /** The decision listener's outcome listeners: counted and refused (empty without decide.report). */
  outcomes: OutcomeTotals[];
}

/** [service, version, upstream errors, upstream timeouts, latency sum in seconds, Prometheus bucket counts]. */
export type VersionDetail = [string, string, number, number, number, number[]];
/** [route, service, version, lane label, counts by status class]. */
export type SeriesDetail = [string, string, string, string, number[]];

export type FromWorker = HelloMessage | ReadyMessage | FailedMessage | AppliedMessage | CountersMessage;

/** The env variable a worker finds its slot in (set by the primary at fork). */
export const WORKER_SLOT_ENV = 'GRAYLANE_WORKER';
