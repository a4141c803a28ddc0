/**
 * The rollout controller: the loop transitions.ts describes, run over a Store.
 *
 * One runner per declared rollout. Everything that touches a rollout's status (a tick, a command)
 * runs on that runner's queue, one at a time, so the process never races itself; compare-and-swap
 * still guards every write, so a second writer (another process on the same file) can only make a
 * write fail and be redone, never be overwritten.
 *
 * A tick reads the status, calls reconcile() with the effect results that arrived since and the ids
 * of the effects still running here, commits the result (status, events and analysis runs in one
 * transaction) and only then starts the actions it returned: an effect is recorded as started
 * before it starts, which is what keeps hooks at most once across a kill -9 (see transitions.ts).
 * Ticks happen on the status's requeue time (pause deadline, next measurement), on every effect
 * result, after every command, and after every tick that changed something (until one changes
 * nothing: reconcile reaches a fixed point without news).
 *
 * Commands (promote, abort, ...) are the pure functions of transitions.ts applied on the same queue
 * and committed the same way: the admin API only asks; the controller decides and writes. After
 * every commit the overlays of all rollouts are recomputed and, when they changed, handed to
 * `onStatus` synchronously, so an abort's "all traffic to stable" reaches the gateway in the same
 * turn of the event loop as its commit.
 *
 * Clustered mode (docs/cluster.md): every process has a controller, but only the elected one
 * drives. The others *follow*: they read, accept commands (committed with compare-and-swap like any
 * write), and learn of the leader's commits through observe(), which keeps their overlays current.
 * lead(store) starts driving with the leadership's fenced store; follow() stops at once.
 */
import type { Logger } from 'pino';
import type { ServiceOverlay } from '../routing/types.js';
import { StoreConflictError, type EventQuery, type Store, type StoredEvent, type StoredStatus } from '../store/types.js';
import type { AnalysisRun } from './analysis.js';
import { runAction } from './effects.js';
import { RolloutError } from './errors.js';
import type { AnalysisTemplate, RolloutSpec } from './model.js';
import { overlayFor } from './overlay.js';
import type { RolloutEvent, RolloutStatus } from './status.js';
import {
  abort,
  pause,
  promote,
  reconcile,
  resume,
  retry,
  setWeight,
  type CommandResult,
  type Observation,
  type RolloutAction,
} from './transitions.js';
import type { MetricsSource } from '../traffic/index.js';

/** An intent from a person (CLI, API). */
export type RolloutCommand =
  | { type: 'promote'; full?: boolean }
  | { type: 'abort' }
  | { type: 'retry' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'setWeight'; weight: number };

export interface ControllerOptions {
  store: Store;
  rollouts: readonly RolloutSpec[];
  templates: Readonly<Record<string, AnalysisTemplate>>;
  /**
   * Called with the overlays of every rollout (by service) after a commit changed them, before the
   * controller does anything else. Not called by open() or update(): their caller reads overlays().
   */
  onStatus: (overlays: Record<string, ServiceOverlay>) => void;
  /** Traffic counters for builtin analysis (this process's TrafficRecorder, or every gateway's in clustered mode). */
  metrics?: MetricsSource;
  /** Epoch milliseconds; default Date.now. */
  clock?: () => number;
  logger?: Logger;
  /** Wait before a tick is tried again after a store error; default 1000 ms. */
  retryMs?: number;
  /**
   * The statuses to start from instead of reading the store (clustered mode, etcd away at start:
   * the gateway's cache of the last statuses it saw).
   */
  initialStatuses?: readonly StoredStatus[];
}

/** A declared rollout and what the controller last read or wrote of its status. */
export interface RolloutState {
  spec: RolloutSpec;
  stored: StoredStatus | null;
}

/** Compare-and-swap losses in a row before a tick gives up until its retry. */
const MAX_CONFLICTS = 5;
/**
 * Ticks in a row that changed the status without any news (no effect result) before the controller
 * stops ticking again at once. Settling takes one or two; more means a transition that never
 * settles.
 */
const MAX_CHANGES_IN_A_ROW = 20;
/** setTimeout turns longer delays into 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

class Runner {
  stored: StoredStatus | null = null;
  /** Effect results not yet committed through a reconcile. */
  readonly pending: Observation[] = [];
  /** Ids of effects running in this process. */
  readonly inFlight = new Set<string>();
  timer: NodeJS.Timeout | null = null;
  /** The queue: every status read-modify-write of this rollout runs after the previous one. */
  chain: Promise<unknown> = Promise.resolve();
  tickQueued = false;
  removed = false;
  /** Committed ticks without news since the last one that changed nothing (see MAX_CHANGES_IN_A_ROW). */
  changesInARow = 0;

  constructor(public spec: RolloutSpec) {}
}

export class RolloutController {
  /** The store reads and commands use; while leading, the leadership's fenced store. */
  #store: Store;
  readonly #baseStore: Store;
  /** Counts lead()/follow() changes: an effect result from an earlier term is dropped. */
  #term = 0;
  readonly #runners = new Map<string, Runner>();
  /**
   * Runners of rollouts taken out of the config. Kept so that effects they started still report
   * somewhere: if the rollout comes back, its runner (with those effects in flight) comes back too,
   * instead of a new one taking them for lost.
   */
  readonly #retired = new Map<string, Runner>();
  readonly #onStatus: ControllerOptions['onStatus'];
  readonly #metrics: MetricsSource | undefined;
  readonly #clock: () => number;
  readonly #logger: Logger | undefined;
  readonly #retryMs: number;
  #templates: Readonly<Record<string, AnalysisTemplate>>;
  /** JSON of the overlays last handed out, to call onStatus only on a change. */
  #published = '';
  #started = false;
  #closed = false;

  private constructor(opts: ControllerOptions) {
    this.#store = opts.store;
    this.#baseStore = opts.store;
    this.#onStatus = opts.onStatus;
    this.#metrics = opts.metrics;
    this.#clock = opts.clock ?? Date.now;
    this.#logger = opts.logger;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#templates = opts.templates;
    for (const r of opts.rollouts) this.#runners.set(r.name, new Runner(r));
  }

  /**
   * Reads the stored status of every declared rollout, without acting yet: overlays() is then what
   * the gateway must start with (a restarted process resumes with the weights it had). start() begins.
   *
   * @example
   * const controller = await RolloutController.open({ store, rollouts, templates, metrics: window, onStatus: (o) => swap(o) });
   * const gateway = await startGateway({ snapshot: compile(spec, { services: controller.overlays() }), observer: window });
   * controller.start();
   */
  static async open(opts: ControllerOptions): Promise<RolloutController> {
    const c = new RolloutController(opts);
    const stored = new Map((opts.initialStatuses ?? (await c.#store.listStatuses())).map((s) => [s.name, s]));
    for (const r of c.#runners.values()) r.stored = stored.get(r.spec.name) ?? null;
    c.#published = JSON.stringify(c.overlays());
    return c;
  }

  /** Starts ticking every rollout (now, then on its own schedule). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#term++;
    for (const r of this.#runners.values()) this.#requestTick(r);
  }

  /**
   * Clustered mode: this process was elected. Drives every rollout from its stored status, writing
   * through `store` (fenced by the leadership, so a write after the leadership ended fails whole).
   */
  lead(store: Store): void {
    if (this.#closed) return;
    this.#store = store;
    this.start();
  }

  /**
   * Clustered mode: the leadership ended. Stops driving at once: no tick starts, results of effects
   * started while leading are dropped (the next leader finds them unfinished and deals with them as
   * after a restart), and writes go through the unfenced store again (commands only).
   */
  follow(): void {
    this.#started = false;
    this.#term++;
    this.#store = this.#baseStore;
    for (const r of [...this.#runners.values(), ...this.#retired.values()]) {
      if (r.timer !== null) clearTimeout(r.timer);
      r.timer = null;
      r.pending.length = 0;
      r.inFlight.clear();
    }
  }

  /**
   * Statuses as the store has them now (clustered mode: every gateway watches them). Newer ones
   * replace what this process knew, so followers route by the leader's steps; a leader ticks a
   * rollout that someone else changed (a command answered by another gateway).
   */
  observe(statuses: readonly StoredStatus[]): void {
    const byName = new Map(statuses.map((s) => [s.name, s]));
    for (const r of this.#runners.values()) {
      const s = byName.get(r.spec.name);
      if (s === undefined || (r.stored !== null && s.revision <= r.stored.revision)) continue;
      r.stored = s;
      this.#requestTick(r);
    }
    this.#publish();
  }

  /**
   * A reloaded config: new rollouts start, changed ones follow reconcile's rules (the running attempt
   * aborts, a new one starts), removed ones stop being acted on (their status stays in the store,
   * and their overlay goes: the service is routed by the spec alone). Does not call onStatus.
   */
  update(rollouts: readonly RolloutSpec[], templates: Readonly<Record<string, AnalysisTemplate>>): void {
    this.#templates = templates;
    const names = new Set(rollouts.map((r) => r.name));
    for (const [name, r] of this.#runners) {
      if (names.has(name)) continue;
      r.removed = true;
      if (r.timer !== null) clearTimeout(r.timer);
      this.#runners.delete(name);
      this.#retired.set(name, r);
      this.#logger?.info({ rollout: name }, 'rollout removed from the config: no longer acted on');
    }
    for (const spec of rollouts) {
      let r = this.#runners.get(spec.name);
      if (r === undefined) {
        r = this.#retired.get(spec.name) ?? new Runner(spec);
        this.#retired.delete(spec.name);
        r.removed = false;
        r.spec = spec;
        this.#runners.set(spec.name, r);
        // Its stored status (from before it was removed, or from another run) is read by its first tick.
        this.#requestTick(r);
      } else if (r.spec !== spec) {
        r.spec = spec;
        this.#requestTick(r);
      }
    }
    this.#published = JSON.stringify(this.overlays());
  }

  /** The routing overlays of every declared rollout, by service (Status.services). */
  overlays(): Record<string, ServiceOverlay> {
    const out: Record<string, ServiceOverlay> = {};
    for (const r of this.#runners.values()) out[r.spec.service] = overlayFor(r.spec, r.stored?.status ?? null);
    return out;
  }

  /** The declared rollouts, in config order. */
  specs(): RolloutSpec[] {
    return [...this.#runners.values()].map((r) => r.spec);
  }

  /** A rollout and its status as stored now. Throws RolloutError UNKNOWN_ROLLOUT. */
  async get(name: string): Promise<RolloutState> {
    const r = this.#runner(name);
    return { spec: r.spec, stored: await this.#store.getStatus(name) };
  }

  /** Every declared rollout with its stored status. */
  async list(): Promise<RolloutState[]> {
    const stored = new Map((await this.#store.listStatuses()).map((s) => [s.name, s]));
    return this.specs().map((spec) => ({ spec, stored: stored.get(spec.name) ?? null }));
  }

  /** The event log of a declared rollout. */
  async events(name: string, query?: EventQuery): Promise<StoredEvent[]> {
    this.#runner(name);
    return this.#store.listEvents(name, query);
  }

  /**
   * Applies a command through the controller's own commit path and resolves to the status written.
   * A refused command (RolloutError: completed, aborted, bad weight, unknown rollout) writes nothing.
   */
  async command(name: string, cmd: RolloutCommand): Promise<StoredStatus> {
    const r = this.#runner(name);
    if (this.#closed) throw new Error('the rollout controller is stopped');
    return this.#enqueue(r, async () => {
      const store = this.#store;
      for (let i = 0; i < MAX_CONFLICTS; i++) {
        let stored = await store.getStatus(name);
        if (stored === null) {
          // Never ticked yet: let it start properly (RolloutStarted) before the command applies.
          // Only the controller that drives may start it.
          if (!this.#started) throw new RolloutError('NOT_STARTED', `rollout ${name} has not been started by the controller yet; try again in a moment`);
          await this.#tick(r);
          stored = await store.getStatus(name);
        }
        const result = applyCommand(cmd, r.spec, stored?.status ?? null, this.#clock());
        const revision = await this.#commit(r, store, stored, result.status, result.events);
        if (revision === null) continue;
        this.#requestTick(r);
        return r.stored!;
      }
      throw new Error(`rollout ${name} kept changing while the command was applied; try again`);
    });
  }

  /** Stops acting: no more ticks or commands; effects still running are left to finish unobserved. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#runners.values()) if (r.timer !== null) clearTimeout(r.timer);
    await Promise.all([...this.#runners.values()].map((r) => r.chain));
  }

  #runner(name: string): Runner {
    const r = this.#runners.get(name);
    if (r === undefined) throw new RolloutError('UNKNOWN_ROLLOUT', `no rollout named ${JSON.stringify(name)} in the loaded config`);
    return r;
  }

  #enqueue<T>(r: Runner, fn: () => Promise<T>): Promise<T> {
    const p = r.chain.then(fn);
    r.chain = p.catch(() => undefined);
    return p;
  }

  #requestTick(r: Runner): void {
    if (!this.#started || this.#closed || r.removed || r.tickQueued) return;
    r.tickQueued = true;
    void this.#enqueue(r, async () => {
      r.tickQueued = false;
      if (!this.#closed && !r.removed) await this.#tick(r);
    });
  }

  async #tick(r: Runner): Promise<void> {
    const name = r.spec.name;
    // One store for the whole tick: a follow() in between must not let this tick's write go out
    // unfenced (it fails as fenced, and nothing is written).
    const store = this.#store;
    const term = this.#term;
    try {
      for (let i = 0; i < MAX_CONFLICTS; i++) {
        const stored = await store.getStatus(name);
        // Taken together with reconcile (no await in between): a result and its id leaving
        // inFlight are seen together or not at all.
        const results = r.pending.slice();
        const t = reconcile(r.spec, stored?.status ?? null, { results, running: r.inFlight }, this.#clock(), this.#templates);
        if (!t.changed) {
          r.changesInARow = 0;
          r.pending.splice(0, results.length);
          r.stored = stored;
          this.#publish();
          this.#schedule(r, t.requeueAt);
          return;
        }
        const revision = await this.#commit(r, store, stored, t.status, t.events);
        if (revision === null) continue;
        r.pending.splice(0, results.length);
        if (term !== this.#term) return; // the leadership ended while committing: start nothing
        for (const action of t.actions) this.#perform(r, action);
        // Reconcile again until nothing changes: some transitions take two passes (an attempt
        // aborted by a spec change settles, then the new attempt starts). That pass schedules the
        // timer. The bound only guards against a transition that never settles (a bug): it must
        // not turn into a loop writing to the store as fast as it can.
        r.changesInARow = results.length === 0 ? r.changesInARow + 1 : 0;
        if (r.changesInARow <= MAX_CHANGES_IN_A_ROW) this.#requestTick(r);
        else {
          this.#logger?.error({ rollout: name }, 'rollout status changes on every reconcile; slowing down');
          this.#schedule(r, Math.max(t.requeueAt ?? 0, this.#clock() + this.#retryMs));
        }
        return;
      }
      this.#logger?.warn({ rollout: name }, 'rollout status kept changing under the controller; retrying');
    } catch (err) {
      this.#logger?.error({ rollout: name, err }, 'rollout tick failed; retrying');
    }
    this.#schedule(r, this.#clock() + this.#retryMs);
  }

  /**
   * Compare-and-swap write of a status with its events and changed analysis runs; null when another
   * writer got there first. On success the overlays are published at once.
   */
  async #commit(r: Runner, store: Store, stored: StoredStatus | null, status: RolloutStatus, events: readonly RolloutEvent[]): Promise<number | null> {
    const name = r.spec.name;
    let revision: number;
    try {
      revision = await store.commit({
        name,
        status,
        expectRevision: stored?.revision ?? 0,
        events,
        runs: changedRuns(stored?.status ?? null, status),
      });
    } catch (err) {
      if (err instanceof StoreConflictError) return null;
      throw err;
    }
    r.stored = { name, revision, status };
    this.#publish();
    for (const e of events) {
      const fields = { rollout: name, reason: e.reason, attempt: status.attempt };
      if (e.type === 'Warning') this.#logger?.warn(fields, e.message);
      else this.#logger?.info(fields, e.message);
    }
    return revision;
  }

  #publish(): void {
    const overlays = this.overlays();
    const json = JSON.stringify(overlays);
    if (json === this.#published) return;
    this.#published = json;
    try {
      this.#onStatus(overlays);
    } catch (err) {
      this.#logger?.error({ err }, 'applying rollout overlays failed');
    }
  }

  /** Starts an effect committed as started; its result comes back through the next tick. */
  #perform(r: Runner, action: RolloutAction): void {
    const term = this.#term;
    r.inFlight.add(action.id);
    runAction(action, r.spec, { metrics: this.#metrics, clock: this.#clock }).then(
      (observation) => {
        if (term !== this.#term) return; // started under a leadership that has ended
        r.inFlight.delete(action.id);
        if (this.#closed) return;
        // A removed rollout keeps the result for the case it comes back (requestTick skips it).
        r.pending.push(observation);
        this.#requestTick(r);
      },
      (err: unknown) => {
        // runAction reports failures as observations; this is a bug in it. Without a result the
        // next tick finishes the effect as interrupted (a failed hook, an Error measurement).
        this.#logger?.error({ rollout: r.spec.name, effect: action.id, err }, 'rollout effect failed unexpectedly');
        if (term !== this.#term) return;
        r.inFlight.delete(action.id);
        this.#requestTick(r);
      },
    );
  }

  #schedule(r: Runner, at: number | null): void {
    if (r.timer !== null) {
      clearTimeout(r.timer);
      r.timer = null;
    }
    if (at === null || this.#closed || r.removed) return;
    const delay = Math.min(Math.max(0, at - this.#clock()), MAX_TIMER_MS);
    r.timer = setTimeout(() => {
      r.timer = null;
      this.#requestTick(r);
    }, delay);
    // The servers keep the process alive; a pending timer alone must not.
    r.timer.unref();
  }
}

function applyCommand(cmd: RolloutCommand, spec: RolloutSpec, status: RolloutStatus | null, now: number): CommandResult {
  switch (cmd.type) {
    case 'promote':
      return promote(spec, status, now, { full: cmd.full === true });
    case 'abort':
      return abort(spec, status, now);
    case 'retry':
      return retry(spec, status, now);
    case 'pause':
      return pause(spec, status, now);
    case 'resume':
      return resume(spec, status, now);
    case 'setWeight':
      return setWeight(spec, status, now, cmd.weight);
  }
}

/** Runs that are new or different from the previous status: what the history table must upsert. */
function changedRuns(before: RolloutStatus | null, after: RolloutStatus): AnalysisRun[] {
  const old = new Map((before?.analysisRuns ?? []).map((run) => [run.id, JSON.stringify(run)]));
  return after.analysisRuns.filter((run) => old.get(run.id) !== JSON.stringify(run));
}
