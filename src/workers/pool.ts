/**
 * The primary's side of `graylane serve --workers N`: N data-plane worker processes (worker.ts)
 * forked with node:cluster, which shares the listening sockets among them (docs/architecture.md#workers).
 *
 * To app.ts the pool is the data plane, shaped like a Gateway: swap() sends the snapshot's spec
 * and status to every worker in one message each (the spec only when it changed for that worker),
 * snapshot() is what the primary compiled, and health, mirror counters and in-flight requests are
 * read from the workers' counters batches (src/workers/traffic.ts).
 *
 * A worker that exits unasked is forked again in its slot: at once the first time, then with a
 * doubling delay while it keeps dying within `stableAfterMs` of its start (a crash loop must not
 * spin the CPU). close() drains every worker and waits for them, killing any that outlive the
 * drain by `killAfterMs`.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import type { Logger } from 'pino';
import type { Gateway } from '../gateway/index.js';
import type { ListenerAddress, ListenerOptions } from '../gateway/server.js';
import type { TlsConfig } from '../gateway/tls.js';
import type { HealthTable, OriginHealth } from '../gateway/health.js';
import type { MirrorCounters } from '../gateway/mirror.js';
import type { Snapshot } from '../routing/types.js';
import type { Spec } from '../spec/index.js';
import type { ApplyMessage, FromWorker, InitMessage, ListenAt } from './protocol.js';
import { WORKER_SLOT_ENV } from './protocol.js';
import type { WorkerTraffic } from './traffic.js';

/** The data plane as app.ts drives it: one gateway, or a pool of workers. */
export type DataPlane = Omit<Gateway, 'health'> & { readonly health: Pick<HealthTable, 'isUp' | 'entries'> };

export interface WorkerPoolOptions {
  count: number;
  /** The snapshot to serve first. */
  snapshot: Snapshot;
  /** The gateway's listeners; certificates sent with setCertificates() replace theirs for workers forked later. */
  listeners: ListenerOptions[];
  mesh: ListenerOptions | null;
  decide: ListenAt | null;
  accessLog: boolean;
  logPretty: boolean;
  accessPretty: boolean;
  workerHeader: boolean;
  logger: Logger;
  /** Where the workers' counters batches are summed. */
  traffic: WorkerTraffic;
  /** How often a worker sends its counters (when they changed); default 250 ms. */
  publishMs?: number;
  /** Delay of the second restart in a row of a crash-looping worker, doubled each time up to maxBackoffMs; default 100 ms. */
  minBackoffMs?: number;
  /** Default 10 s. */
  maxBackoffMs?: number;
  /** A worker that ran this long before exiting is not crash-looping; default 10 s. */
  stableAfterMs?: number;
  /** close(): workers still running this long after the drain time are killed; default 5 s. */
  killAfterMs?: number;
}

/** A worker as /api/v1/config shows it. */
export interface WorkerInfo {
  slot: number;
  pid: number | null;
  /** The snapshot id the worker serves; '' before it served one. */
  snapshotId: string;
  /** Times this slot's worker was forked again after exiting. */
  restarts: number;
}

/** How long the last accepted change took to be served by every worker. */
export interface Propagation {
  id: string;
  /** From swap() in the primary to the last worker's acknowledgement, ms. */
  ms: number;
  /** The slowest worker's compile and swap, ms. */
  compileMs: number;
  workers: number;
}

interface Slot {
  readonly slot: number;
  worker: Worker | null;
  forkedAt: number;
  /** Said hello and got its init: applies may be sent to it. */
  initialised: boolean;
  ready: boolean;
  /** The snapshot id this worker was started with (its `init`). */
  initId: string;
  /** The spec last sent to this worker (the next apply omits an unchanged one). */
  specSent: Spec | null;
  servingId: string;
  restarts: number;
  /** Exits within stableAfterMs of the start, in a row. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | null;
}

/** The entry module workers are forked with. */
const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/**
 * Forks `opts.count` workers and resolves once every one listens; rejects (after stopping the
 * others) with the first worker's start error.
 */
export async function startWorkerPool(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const pool = new WorkerPool(opts);
  try {
    await pool.started;
  } catch (err) {
    await pool.close({ drainMs: 0 });
    throw err;
  }
  return pool;
}

/** `cluster.schedulingPolicy` as a word: how connections are spread over workers. */
export function schedulingPolicy(): 'rr' | 'none' {
  return cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none';
}

export class WorkerPool implements DataPlane {
  readonly started: Promise<void>;
  readonly health: Pick<HealthTable, 'isUp' | 'entries'>;
  readonly #opts: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  #snapshot: Snapshot;
  #seq = 1;
  #listeners: ListenerAddress[] = [];
  #meshAddress: ListenAt | null = null;
  #decideAddress: ListenAt | null = null;
  #stopping = false;
  #closing: Promise<void> | null = null;
  #onStarted: { resolve(): void; reject(err: Error): void } = { resolve() {}, reject() {} };
  #isStarted = false;
  /** The change being propagated: slots that have not acknowledged it yet. */
  #pending: { seq: number; id: string; at: number; waiting: Set<number>; compileMs: number } | null = null;
  #propagation: Propagation | null = null;
  #restarts = 0;
  #serialized: { spec: Spec; bytes: Uint8Array } | null = null;

  constructor(opts: WorkerPoolOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#snapshot = opts.snapshot;
    this.health = mergedHealth(() => opts.traffic.batches());
    this.started = new Promise<void>((resolve, reject) => (this.#onStarted = { resolve, reject }));
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [], serialization: 'advanced' });
    for (let i = 1; i <= opts.count; i++) {
      const slot: Slot = { slot: i, worker: null, forkedAt: 0, initialised: false, ready: false, initId: '', specSent: null, servingId: '', restarts: 0, quickExits: 0, restartTimer: null };
      this.#slots.push(slot);
      this.#fork(slot);
    }
  }

  get address(): ListenAt {
    const a = this.#listeners[0];
    return a === undefined ? { host: '', port: 0 } : { host: a.host, port: a.port };
  }

  get listeners(): readonly ListenerAddress[] {
    return this.#listeners;
  }

  /**
   * Every worker serves `tls` on listener `name` from its next handshake on, and a worker forked
   * later starts with it. The primary read and checked the files once: the workers all serve the
   * same certificates.
   */
  setCertificates(name: string, tls: TlsConfig): void {
    const all = [...this.#opts.listeners, ...(this.#opts.mesh === null ? [] : [this.#opts.mesh])];
    const listener = all.find((l) => l.name === name);
    if (listener === undefined || listener.tls === undefined) throw new Error(`no TLS listener named ${name}`);
    listener.tls = tls;
    for (const slot of this.#slots) {
      if (slot.worker !== null && slot.initialised) slot.worker.send({ type: 'certificates', listener: name, tls });
    }
  }

  get meshAddress(): ListenAt | null {
    return this.#meshAddress;
  }

  /** Where the workers' decision listener listens; null without one. */
  get decideAddress(): ListenAt | null {
    return this.#decideAddress;
  }

  get mirror(): Readonly<MirrorCounters> {
    return this.#opts.traffic.mirror();
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Requests in flight on every worker, as of their last counters batches. */
  inFlight(): number {
    let n = 0;
    for (const b of this.#opts.traffic.batches()) n += b.inFlight;
    return n;
  }

  /** Workers forked again after exiting unasked, since the start. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Workers running now. */
  get live(): number {
    return this.#slots.filter((s) => s.worker !== null).length;
  }

  workers(): WorkerInfo[] {
    return this.#slots.map((s) => ({ slot: s.slot, pid: s.worker?.process.pid ?? null, snapshotId: s.servingId, restarts: s.restarts }));
  }

  /** The last change every worker acknowledged; null before the first. */
  lastPropagation(): Propagation | null {
    return this.#propagation;
  }

  /** Every worker serves `snapshot` once it has compiled it (one message per worker). */
  swap(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    const seq = ++this.#seq;
    const waiting = new Set<number>();
    for (const slot of this.#slots) {
      if (slot.worker === null || !slot.initialised) continue; // gets the current snapshot in its init
      slot.worker.send(this.#applyFor(slot));
      waiting.add(slot.slot);
    }
    this.#pending = { seq, id: snapshot.id, at: performance.now(), waiting, compileMs: 0 };
    this.#settle();
  }

  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#drain(opts.drainMs ?? this.#snapshot.spec.drainMs);
    return this.#closing;
  }

  async #drain(drainMs: number): Promise<void> {
    this.#stopping = true;
    const exits: Promise<void>[] = [];
    for (const slot of this.#slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      const w = slot.worker;
      if (w === null) continue;
      exits.push(new Promise<void>((resolve) => w.once('exit', () => resolve())));
      if (w.isConnected()) w.send({ type: 'drain', drainMs });
      else w.process.kill('SIGKILL');
    }
    const kill = setTimeout(() => {
      for (const slot of this.#slots) {
        if (slot.worker !== null) {
          this.#log.error({ worker: slot.slot, pid: slot.worker.process.pid }, 'worker did not stop after draining: killed');
          slot.worker.process.kill('SIGKILL');
        }
      }
    }, drainMs + (this.#opts.killAfterMs ?? 5000));
    await Promise.all(exits);
    clearTimeout(kill);
  }

  #applyFor(slot: Slot): ApplyMessage {
    const snapshot = this.#snapshot;
    const changed = slot.specSent !== snapshot.spec;
    slot.specSent = snapshot.spec;
    return { type: 'apply', seq: this.#seq, ...(changed ? { spec: this.#specBytes(snapshot.spec) } : {}), status: snapshot.status, id: snapshot.id };
  }

  /** The spec serialized once, however many workers it is sent to (a 100k-user list: ~1.5 MB, tens of ms). */
  #specBytes(spec: Spec): Uint8Array {
    if (this.#serialized?.spec !== spec) this.#serialized = { spec, bytes: v8.serialize(spec) };
    return this.#serialized.bytes;
  }

  #fork(slot: Slot): void {
    slot.restartTimer = null;
    slot.initialised = false;
    slot.ready = false;
    slot.specSent = null;
    slot.servingId = '';
    slot.forkedAt = Date.now();
    // The admin token is the primary's alone: a worker, which parses untrusted requests, never needs it.
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.slot), GRAYLANE_ADMIN_TOKEN: undefined });
    slot.worker = worker;
    worker.on('message', (m: FromWorker) => this.#onMessage(slot, worker, m));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(slot, worker, code, signal));
    // An IPC write to a worker that just died: its 'exit' handles it.
    worker.on('error', (err) => this.#log.warn({ worker: slot.slot, err }, 'worker channel error'));
  }

  #onMessage(slot: Slot, worker: Worker, m: FromWorker): void {
    if (slot.worker !== worker) return;
    switch (m.type) {
      case 'hello': {
        const apply = this.#applyFor(slot);
        const init: InitMessage = {
          type: 'init',
          slot: slot.slot,
          listeners: this.#opts.listeners,
          mesh: this.#opts.mesh,
          decide: this.#opts.decide,
          accessLog: this.#opts.accessLog,
          logPretty: this.#opts.logPretty,
          accessPretty: this.#opts.accessPretty,
          workerHeader: this.#opts.workerHeader,
          publishMs: this.#opts.publishMs ?? 250,
          apply,
        };
        slot.initialised = true;
        slot.initId = apply.id;
        worker.send(init);
        return;
      }
      case 'ready':
        slot.ready = true;
        // Changes sent since its init follow in order ('applied').
        slot.servingId = slot.initId;
        // Workers share the listeners: the first to listen says where (port 0 gets one port for all).
        if (this.#listeners.length === 0) {
          this.#listeners = m.listeners;
          this.#meshAddress = m.mesh;
          this.#decideAddress = m.decide;
        }
        if (!this.#isStarted && this.#slots.every((s) => s.ready)) {
          this.#isStarted = true;
          this.#onStarted.resolve();
        }
        return;
      case 'failed':
        if (!this.#isStarted) this.#onStarted.reject(new Error(`worker ${slot.slot}: ${m.message}`));
        else this.#log.error({ worker: slot.slot, error: m.message }, 'worker could not start');
        return;
      case 'applied': {
        slot.servingId = m.id;
        const p = this.#pending;
        if (p !== null && m.seq >= p.seq && p.waiting.delete(slot.slot)) {
          p.compileMs = Math.max(p.compileMs, m.compileMs);
          this.#settle();
        }
        return;
      }
      case 'counters':
        this.#opts.traffic.add(slot.slot, m);
        return;
    }
  }

  /** Records the propagation once every worker that was sent the change acknowledged it. */
  #settle(): void {
    const p = this.#pending;
    if (p === null || p.waiting.size > 0) return;
    this.#pending = null;
    this.#propagation = { id: p.id, ms: performance.now() - p.at, compileMs: p.compileMs, workers: this.#slots.length };
    this.#log.info({ id: p.id, ms: round(this.#propagation.ms), compileMs: round(p.compileMs), workers: this.#slots.length }, 'every worker serves the new snapshot');
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    this.#opts.traffic.exited(slot.slot);
    const p = this.#pending;
    if (p !== null && p.waiting.delete(slot.slot)) this.#settle();
    if (this.#stopping) return;
    if (!this.#isStarted) {
      this.#onStarted.reject(new Error(`worker ${slot.slot} exited while starting (code ${code}, signal ${signal})`));
      return;
    }
    const ranMs = Date.now() - slot.forkedAt;
    slot.quickExits = ranMs < (this.#opts.stableAfterMs ?? 10_000) ? slot.quickExits + 1 : 1;
    const delay = slot.quickExits <= 1 ? 0 : Math.min(this.#opts.maxBackoffMs ?? 10_000, (this.#opts.minBackoffMs ?? 100) * 2 ** (slot.quickExits - 2));
    slot.restarts++;
    this.#restarts++;
    this.#log.error({ worker: slot.slot, pid: worker.process.pid, code, signal, ranMs, restartInMs: delay }, 'worker exited; starting a new one');
    slot.restartTimer = setTimeout(() => this.#fork(slot), delay);
  }
}

/**
 * Passive health across workers, as the admin API and /metrics show it: an origin is down when
 * any worker has it ejected (each worker ejects on what it sees, docs/config.md#workers).
 */
function mergedHealth(batches: () => Iterable<{ health: OriginHealth[] }>): Pick<HealthTable, 'isUp' | 'entries'> {
  const entries = (): OriginHealth[] => {
    const byOrigin = new Map<string, OriginHealth>();
    for (const b of batches()) {
      for (const e of b.health) {
        const m = byOrigin.get(e.origin);
        if (m === undefined) byOrigin.set(e.origin, { ...e });
        else {
          m.failures = Math.max(m.failures, e.failures);
          m.ejectedUntil = Math.max(m.ejectedUntil, e.ejectedUntil);
          m.ejections += e.ejections;
        }
      }
    }
    return [...byOrigin.values()];
  };
  return {
    entries,
    isUp(origin: string): boolean {
      const now = Date.now();
      for (const b of batches()) {
        for (const e of b.health) if (e.origin === origin && e.ejectedUntil > now) return false;
      }
      return true;
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
