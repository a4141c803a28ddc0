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
 * Abort is the emergency stop, so it does not wait for the store: the aborted status is held in
 * memory and routes at once (before any store I/O, from the status this process last knew), then
 * it is written like any command. When the store refuses the write (a full disk, etcd away or
 * refusing), the abort stays held: the gateway keeps routing it, the answer says it is not durable
 * (`durable: false`), the log says so, and the write is retried with backoff until the store takes
 * it; then it is an ordinary aborted status. Meanwhile ticks and other commands wait for it. A
 * process that stops before the write loses the held abort (nothing else could keep it: the disk
 * is what refused).
 *
 * Clustered mode (docs/cluster.md): every process has a controller, but only the elected one
 * drives. The others *follow*: they read, accept commands (committed with compare-and-swap like any
 * write), and learn of the leader's commits through observe(), which keeps their overlays current.
 * lead(store) starts driving with the leadership's fenced store; follow() stops at once.
 */
import type { Logger } from 'pino';
import type { RouteOverlay, ServiceOverlay } from '../routing/types.js';
import { StoreConflictError, type EventQuery, type Store, type StoredEvent, type StoredStatus } from '../store/types.js';
import type { AnalysisRun } from './analysis.js';
import { runAction } from './effects.js';
import { RolloutError } from './errors.js';
import type { AnalysisTemplate, RolloutSpec } from '../spec/rollout-model.js';
import { overlayFor } from './overlay.js';
import type { PreviousStable, RolloutEvent, RolloutStatus } from '../status/rollout-status.js';
import type { AbortPending } from '../status/rollout-view.js';
import { releaseOverlay, releaseRolloutName, RELEASE_PREFIX } from './release.js';
import {
  abort,
  pause,
  promote,
  reconcile,
  resume,
  retry,
  setWeight,
  undo,
  type CommandResult,
  type SpecContext,
  type Observation,
  type RolloutAction,
} from './transitions.js';
import type { MetricsSource } from '../traffic/index.js';

export type { AbortPending };

/** An intent from a person (CLI, API). */
export type RolloutCommand =
  | { type: 'promote'; full?: boolean }
  | { type: 'abort' }
  | { type: 'retry' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'setWeight'; weight: number }
  | { type: 'undo' };

export interface ControllerOptions {
  store: Store;
  rollouts: readonly RolloutSpec[];
  templates: Readonly<Record<string, AnalysisTemplate>>;
  /**
   * Called with the overlays of every rollout (by service) after a commit changed them, before the
   * controller does anything else. Not called by open() or update(): their caller reads overlays().
   */
  onStatus: (overlays: Record<string, ServiceOverlay>) => void;
  /**
   * Told the events of every commit, after the store took them (src/notify's notifier in app.ts).
   * Called synchronously; must return at once and not throw.
   */
  onEvents?: (rollout: RolloutSpec, status: RolloutStatus, events: readonly RolloutEvent[]) => void;
  /** Traffic counters for builtin analysis (this process's TrafficRecorder, or every gateway's in clustered mode). */
  metrics?: MetricsSource;
  /**
   * The endpoints the served spec gives a service's version now (static ones): completion records
   * the stable version's as what `undo` puts back, and undo refuses when they changed since.
   * Read at each tick and command, so it follows reloads. Absent: none known (undo then works only
   * while stable has no static endpoints either way).
   */
  endpointsOf?: (service: string, version: string) => readonly string[] | undefined;
  /** A service's fallback version in the served spec (a release records each service's). */
  fallbackOf?: (service: string) => string | undefined;
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
  /** With an abort held in memory: its status, at the revision it was taken from. */
  stored: StoredStatus | null;
  /** Set while an abort routes on this gateway but is not written to the store yet. */
  abortPending: AbortPending | null;
}

/** What a command wrote: the status and its revision; `durable` false for an abort the store has not taken yet. */
export interface CommandOutcome extends StoredStatus {
  durable: boolean;
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
/** Longest wait between two tries to write a held abort (the wait doubles from `retryMs`). */
const ABORT_RETRY_MAX_MS = 10_000;

/** An abort applied to routing and not written yet: its status, and how writing it goes. */
interface HeldAbort extends AbortPending {
  status: RolloutStatus;
  /** The abort's message, kept for the write (a retry re-applies abort() to what is stored then). */
  message: string | undefined;
}

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
  /** An abort that routes but is not written yet; overlays use it over `stored`. */
  held: HeldAbort | null = null;
  /** The next try to write `held`. */
  abortTimer: NodeJS.Timeout | null = null;

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
  readonly #onEvents: ControllerOptions['onEvents'];
  readonly #metrics: MetricsSource | undefined;
  readonly #clock: () => number;
  readonly #endpointsOf: NonNullable<ControllerOptions['endpointsOf']>;
  readonly #fallbackOf: NonNullable<ControllerOptions['fallbackOf']>;
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
    this.#onEvents = opts.onEvents;
    this.#metrics = opts.metrics;
    this.#clock = opts.clock ?? Date.now;
    this.#endpointsOf = opts.endpointsOf ?? (() => undefined);
    this.#fallbackOf = opts.fallbackOf ?? (() => undefined);
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
    c.#published = JSON.stringify([c.overlays(), c.routeOverlays()]);
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
      if (r.held !== null) this.#logger?.warn({ rollout: name }, 'rollout removed from the config while its abort was not written yet: the abort is dropped with it');
      this.#release(r);
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
    this.#published = JSON.stringify([this.overlays(), this.routeOverlays()]);
  }

  /**
   * The routing overlays of every declared rollout and release, by service (Status.services).
   * Validation keeps each service in at most one rollout or release.
   */
  overlays(): Record<string, ServiceOverlay> {
    const out: Record<string, ServiceOverlay> = {};
    for (const r of this.#runners.values()) {
      const status = r.held?.status ?? r.stored?.status ?? null;
      if (r.spec.release === undefined) out[r.spec.service] = overlayFor(r.spec, status);
      else Object.assign(out, releaseOverlay(r.spec, status).services);
    }
    return out;
  }

  /** What running releases add at their entry routes, by route name (Status.routes). */
  routeOverlays(): Record<string, RouteOverlay> {
    const out: Record<string, RouteOverlay> = {};
    for (const r of this.#runners.values()) {
      if (r.spec.release === undefined) continue;
      const { share } = releaseOverlay(r.spec, r.held?.status ?? r.stored?.status ?? null);
      if (share === null) continue;
      (out[r.spec.release.route] ??= { releases: [] }).releases!.push(share);
    }
    return out;
  }

  /** Every declared rollout with whether an abort of it waits for the store (for /metrics; no store read). */
  abortsPending(): { rollout: string; service: string; pending: AbortPending | null }[] {
    return [...this.#runners.values()].map((r) => ({ rollout: r.spec.name, service: r.spec.service, pending: pendingOf(r.held) }));
  }

  /** The declared rollouts, in config order. */
  specs(): RolloutSpec[] {
    return [...this.#runners.values()].map((r) => r.spec);
  }

  /**
   * A rollout and its status as stored now, or its held abort (read from memory: the store may be
   * the reason it is held). Throws RolloutError UNKNOWN_ROLLOUT.
   */
  async get(name: string): Promise<RolloutState> {
    return this.#state(this.#runner(name));
  }

  async #state(r: Runner): Promise<RolloutState> {
    const name = r.spec.name;
    if (r.held !== null) return { spec: r.spec, stored: heldAsStored(r), abortPending: pendingOf(r.held) };
    return { spec: r.spec, stored: await this.#store.getStatus(name), abortPending: null };
  }

  /** Every declared rollout with its stored status (a held abort instead, as get()). */
  async list(): Promise<RolloutState[]> {
    return this.#states('rollout');
  }

  async #states(kind: RunnerKind): Promise<RolloutState[]> {
    const stored = new Map((await this.#store.listStatuses()).map((s) => [s.name, s]));
    return [...this.#runners.values()].filter((r) => kindOf(r) === kind).map((r) =>
      r.held !== null
        ? { spec: r.spec, stored: heldAsStored(r), abortPending: pendingOf(r.held) }
        : { spec: r.spec, stored: stored.get(r.spec.name) ?? null, abortPending: null },
    );
  }

  /** The event log of a declared rollout. */
  async events(name: string, query?: EventQuery): Promise<StoredEvent[]> {
    this.#runner(name);
    return this.#store.listEvents(name, query);
  }

  /** Every declared release (its rollout `release:<name>`) with its stored status. */
  async listReleases(): Promise<RolloutState[]> {
    return this.#states('release');
  }

  /** A release by its own name. Throws RolloutError UNKNOWN_RELEASE. */
  async getRelease(name: string): Promise<RolloutState> {
    return this.#state(this.#runner(releaseRolloutName(name), 'release'));
  }

  async releaseEvents(name: string, query?: EventQuery): Promise<StoredEvent[]> {
    const r = this.#runner(releaseRolloutName(name), 'release');
    return this.#store.listEvents(r.spec.name, query);
  }

  /** A command on a release: the rollout commands, applied to the one status of the whole release. */
  async releaseCommand(name: string, cmd: RolloutCommand): Promise<CommandOutcome> {
    return this.#command(this.#runner(releaseRolloutName(name), 'release'), cmd);
  }

  /**
   * Applies a command through the controller's own commit path and resolves to the status written.
   * A refused command (RolloutError: completed, aborted, bad weight, unknown rollout) writes nothing.
   * An abort routes before it is written and resolves with `durable: false` when the store refused
   * it (see the top of this file); until it is written, other commands are refused (ABORT_PENDING).
   */
  async command(name: string, cmd: RolloutCommand): Promise<CommandOutcome> {
    return this.#command(this.#runner(name), cmd);
  }

  async #command(r: Runner, cmd: RolloutCommand): Promise<CommandOutcome> {
    const name = r.spec.name;
    if (this.#closed) throw new Error('the rollout controller is stopped');
    if (cmd.type === 'abort') {
      // Asked again while held: still the abort of the first request.
      const at = r.held?.since ?? this.#clock();
      this.#holdFromKnown(r, at);
      return this.#enqueue(r, () => this.#writeAbort(r, at, undefined));
    }
    return this.#enqueue(r, async () => {
      if (r.held !== null) {
        await this.#writeHeldAbort(r);
        if (r.held !== null) {
          throw new RolloutError('ABORT_PENDING', `rollout ${name} is aborted on this gateway but the abort is not written yet (the store refused: ${r.held.error}); it is retried, and other commands wait until it is written`);
        }
      }
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
        const result = applyCommand(cmd, r.spec, stored?.status ?? null, this.#clock(), this.#contextOf(r.spec));
        const revision = await this.#commit(r, store, stored, result.status, result.events);
        if (revision === null) continue;
        this.#requestTick(r);
        return { ...r.stored!, durable: true };
      }
      throw new Error(`rollout ${name} kept changing while the command was applied; try again`);
    });
  }

  /**
   * The emergency stop's first half, before any store I/O: routes by the abort of the status this
   * process last knew. Nothing happens when that status refuses an abort (it may be stale: the
   * write that follows decides on what is stored, and answers the refusal).
   */
  #holdFromKnown(r: Runner, at: number): void {
    const known = r.stored?.status;
    if (known === undefined) return;
    try {
      this.#hold(r, abort(r.spec, known, at), undefined);
    } catch (err) {
      if (!(err instanceof RolloutError)) throw err;
    }
  }

  /** Routes by the aborted status `result` from now on (kept until written or moot). */
  #hold(r: Runner, result: CommandResult, message: string | undefined): void {
    const prev = r.held;
    r.held = {
      status: result.status,
      message,
      since: prev?.since ?? result.status.abortedAt ?? this.#clock(),
      attempts: prev?.attempts ?? 0,
      error: prev?.error ?? '',
      nextAttemptAt: prev?.nextAttemptAt ?? null,
    };
    this.#publish();
  }

  /** The held abort is written or moot: routing follows the stored status again. */
  #release(r: Runner): void {
    if (r.abortTimer !== null) clearTimeout(r.abortTimer);
    r.abortTimer = null;
    if (r.held === null) return;
    r.held = null;
    this.#publish();
  }

  /**
   * Writes an abort with compare-and-swap on what is stored now, holding it (routing by it) from
   * before the write. Written: an ordinary aborted status (`durable: true`). Refused by the store:
   * still held, retried with backoff (`durable: false`). Refused by the rollout's state (it is
   * completed or already aborted): the RolloutError is thrown and nothing stays held.
   * `at` is when the abort was asked for: a write that succeeds late still dates it then.
   */
  async #writeAbort(r: Runner, at: number, message: string | undefined): Promise<CommandOutcome> {
    const name = r.spec.name;
    const store = this.#store;
    let lastError: unknown;
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      let stored: StoredStatus | null;
      try {
        stored = await store.getStatus(name);
        if (stored === null && r.held === null) {
          // Never ticked yet: let it start properly (RolloutStarted) before the abort applies.
          // (A held abort is written as it is: a tick would wait for that very write.)
          if (!this.#started) throw new RolloutError('NOT_STARTED', `rollout ${name} has not been started by the controller yet; try again in a moment`);
          await this.#tick(r);
          stored = await store.getStatus(name);
        }
      } catch (err) {
        if (err instanceof RolloutError || r.held === null) throw err; // nothing known to route by
        return this.#keepHeld(r, err);
      }
      let result: CommandResult;
      try {
        result = abort(r.spec, stored?.status ?? null, at, message);
      } catch (err) {
        // Refused by what is stored (a status this process had not seen yet): route by that.
        if (stored !== null) r.stored = stored;
        this.#release(r);
        this.#publish();
        this.#requestTick(r);
        throw err;
      }
      const held = r.held;
      if (held !== null && held.attempts > 0) {
        result.events.push({
          time: this.#clock(),
          type: 'Normal',
          reason: 'AbortWritten',
          message: `the abort of ${new Date(held.since).toISOString()} routed at once but is written only now: the store refused ${held.attempts} write(s) (${held.error})`,
        });
      }
      this.#hold(r, result, message);
      let revision: number | null;
      try {
        revision = await this.#commit(r, store, stored, result.status, result.events);
      } catch (err) {
        return this.#keepHeld(r, err);
      }
      if (revision === null) {
        lastError = new Error('the status kept changing under the write');
        continue;
      }
      this.#release(r);
      this.#requestTick(r);
      return { ...r.stored!, durable: true };
    }
    return this.#keepHeld(r, lastError);
  }

  /** The store refused the abort's write: keep routing by it, say so, and try again later. */
  #keepHeld(r: Runner, err: unknown): CommandOutcome {
    const held = r.held!;
    held.attempts++;
    held.error = err instanceof Error ? err.message : String(err);
    const delay = Math.min(this.#retryMs * 2 ** Math.min(held.attempts - 1, 20), Math.max(this.#retryMs, ABORT_RETRY_MAX_MS));
    held.nextAttemptAt = this.#clock() + delay;
    this.#logger?.error(
      { rollout: r.spec.name, attempts: held.attempts, retryInMs: delay, err: held.error },
      'ABORT NOT YET DURABLE: traffic is routed as aborted on this gateway, but the store refused to write the abort; retrying',
    );
    if (r.abortTimer !== null) clearTimeout(r.abortTimer);
    r.abortTimer = null;
    if (!this.#closed) {
      r.abortTimer = setTimeout(() => {
        r.abortTimer = null;
        void this.#enqueue(r, () => this.#writeHeldAbort(r));
      }, delay);
      r.abortTimer.unref();
    }
    return { ...heldAsStored(r), durable: false };
  }

  /** One more try to write the held abort, if any (on the runner's queue). Never throws. */
  async #writeHeldAbort(r: Runner): Promise<void> {
    const held = r.held;
    if (held === null || this.#closed || r.removed) return;
    try {
      const out = await this.#writeAbort(r, held.since, held.message);
      if (out.durable) this.#logger?.info({ rollout: r.spec.name, attempts: held.attempts, heldMs: this.#clock() - held.since }, 'abort written to the store: it is durable now');
    } catch (err) {
      const fields = { rollout: r.spec.name, err: (err as Error).message };
      if (err instanceof RolloutError && err.code === 'ROLLOUT_ABORTED') {
        // An earlier try landed after all (its answer was lost), or another gateway aborted it.
        this.#logger?.info(fields, 'the held abort is in the store already: routing follows the stored status');
      } else {
        // The rollout completed elsewhere before the abort could be written: the abort came too late.
        this.#logger?.error(fields, 'the held abort could not be written: the stored rollout refuses it; routing follows the stored status');
      }
    }
  }

  /** Stops acting: no more ticks or commands; effects still running are left to finish unobserved. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#runners.values()) {
      if (r.timer !== null) clearTimeout(r.timer);
      if (r.abortTimer !== null) clearTimeout(r.abortTimer);
      if (r.held !== null) this.#logger?.error({ rollout: r.spec.name, err: r.held.error }, 'stopping with an abort that was never written to the store: it is lost');
    }
    await Promise.all([...this.#runners.values()].map((r) => r.chain));
  }

  /** What the spec says now of the rollout's stable version (see SpecContext). */
  #contextOf(spec: RolloutSpec): SpecContext {
    if (spec.release !== undefined) {
      const releaseStables: Record<string, PreviousStable> = {};
      for (const svc of spec.release.services) {
        const version = this.#fallbackOf(svc) ?? 'stable';
        releaseStables[svc] = { version, endpoints: [...(this.#endpointsOf(svc, version) ?? [])] };
      }
      return { releaseStables };
    }
    const endpoints = this.#endpointsOf(spec.service, spec.stable);
    return endpoints === undefined ? {} : { stableEndpoints: endpoints };
  }

  #runner(name: string, kind: RunnerKind = 'rollout'): Runner {
    const r = this.#runners.get(name);
    if (r === undefined || kindOf(r) !== kind) {
      if (kind === 'release') throw new RolloutError('UNKNOWN_RELEASE', `no release named ${JSON.stringify(name.slice(RELEASE_PREFIX.length))} in the loaded config`);
      throw new RolloutError('UNKNOWN_ROLLOUT', `no rollout named ${JSON.stringify(name)} in the loaded config`);
    }
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
    if (r.held !== null) {
      // Nothing advances on a status the abort is about to replace; its own retry ticks again.
      await this.#writeHeldAbort(r);
      if (r.held !== null) return;
    }
    try {
      for (let i = 0; i < MAX_CONFLICTS; i++) {
        const stored = await store.getStatus(name);
        // Taken together with reconcile (no await in between): a result and its id leaving
        // inFlight are seen together or not at all.
        const results = r.pending.slice();
        const t = reconcile(r.spec, stored?.status ?? null, { results, running: r.inFlight }, this.#clock(), this.#templates, this.#contextOf(r.spec));
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
    // The one place where committed events are known: the notifier queues from here.
    if (events.length > 0 && this.#onEvents) {
      try {
        this.#onEvents(r.spec, status, events);
      } catch (err) {
        this.#logger?.error({ err, rollout: name }, 'handing events to the notifier failed');
      }
    }
    return revision;
  }

  #publish(): void {
    const overlays = this.overlays();
    const json = JSON.stringify([overlays, this.routeOverlays()]);
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

function applyCommand(cmd: RolloutCommand, spec: RolloutSpec, status: RolloutStatus | null, now: number, context: SpecContext): CommandResult {
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
    case 'undo':
      return undo(spec, status, now, context);
  }
}

type RunnerKind = 'rollout' | 'release';

function kindOf(r: Runner): RunnerKind {
  return r.spec.release === undefined ? 'rollout' : 'release';
}

function pendingOf(held: HeldAbort | null): AbortPending | null {
  return held === null ? null : { since: held.since, attempts: held.attempts, error: held.error, nextAttemptAt: held.nextAttemptAt };
}

/** A held abort as a stored status, at the revision it was taken from (0: none stored yet). */
function heldAsStored(r: Runner): StoredStatus {
  return { name: r.spec.name, revision: r.stored?.revision ?? 0, status: r.held!.status };
}

/** Runs that are new or different from the previous status: what the history table must upsert. */
function changedRuns(before: RolloutStatus | null, after: RolloutStatus): AnalysisRun[] {
  const old = new Map((before?.analysisRuns ?? []).map((run) => [run.id, JSON.stringify(run)]));
  return after.analysisRuns.filter((run) => old.get(run.id) !== JSON.stringify(run));
}
