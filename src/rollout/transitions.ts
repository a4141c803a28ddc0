/**
 * The rollout state machine, as pure functions in the style of Argo Rollouts' reconcile loop:
 * reconcile() takes the rollout spec, its last status, what effects reported since, and the time, and
 * returns the next status, the effects to perform, and the events to log. The intent commands
 * (promote, abort, retry, pause, resume, setWeight) are pure too: they change the status at once
 * (abort takes the traffic back in the same write) and leave the rest to the next reconcile.
 *
 * ## How the controller drives it (the loop lives with the admin API)
 * ```
 * tick: { revision, status } = store.get(name)
 *       t = reconcile(rollout, status, { results: pending, running: inFlight }, now, templates)
 *       if (t.changed) store.commit(name, t.status, revision, t.events)   // compare-and-swap
 *       on conflict: drop t (actions included) and tick again; keep `pending` until a commit succeeds
 *       after the commit: start each of t.actions (effects.ts runAction), adding its id to inFlight;
 *                         when one ends, move its id from inFlight to `pending` and tick
 *       tick again at t.requeueAt, on every store change, and on every effect result
 * ```
 *
 * ## Why a restart neither repeats nor skips a step (kill -9, or a new leader)
 * - A step's effects on traffic (weight, header route, switch, pause deadline, the analysis run it
 *   starts) are fields of the status written in the same compare-and-swap that records the step as
 *   started (`currentStepIndex` + `stepStartedAt`) or completed (`currentStepIndex` + 1). A restart
 *   reads back either the write before or the write after: never half a step.
 * - A pause stores its absolute `pauseDeadline`, so a restarted controller ends it on time.
 * - The only effects outside the status are hooks and measurements. Both are at most once: the
 *   status records them as started (`hooks[h].state = 'started'`, `metric.pending`) *before* the
 *   controller runs them, because actions are only performed after their status is committed.
 *   Each reconcile is told which effect ids are still running in this process (`running`); a started
 *   effect that is neither running nor reported was lost with the previous process, and is finished
 *   as *interrupted*: a hook counts as failed (the rollout aborts, cleanup runs), a measurement as an
 *   Error measurement (retried next interval within consecutiveErrorLimit). It is never run again
 *   in that attempt, so a deploy hook cannot run twice. Webhooks get the effect id as Idempotency-Key.
 * - The cleanup hook runs once per attempt, after the attempt ends (completed or aborted, however),
 *   and only when no other hook of the attempt is still running.
 * - A result that arrives for an effect the status no longer waits for (an aborted attempt's hook,
 *   a terminated run's measurement) changes nothing but is logged.
 *
 * A changed rollout spec never mixes with a running attempt: the attempt is aborted (SpecChanged,
 * cleanup runs), and once it has settled a new attempt starts at step 0 under the new spec. A
 * completed or aborted rollout whose spec changes starts a new attempt the same way.
 */
import { rollbackWindowOf, type RolloutSpec, type AnalysisTemplate, type HookSpec } from '../spec/rollout-model.js';
import {
  dueMeasurements,
  markPending,
  nextDueAt,
  recordMeasurement,
  startRun,
  terminateRun,
  type AnalysisRun,
  type ProviderOutcome,
} from './analysis.js';
import { describeStep, formatDuration, planOf, type PlanStep } from './plan.js';
import {
  initialStatus,
  isTerminal,
  specHash,
  type HookRecord,
  type HookResult,
  type PreviousStable,
  type RolloutEvent,
  type RolloutPhase,
  type RolloutStatus,
  type StatusReason,
} from '../status/rollout-status.js';
import { RolloutError } from './errors.js';

/** An effect for the controller to perform after committing the status that returned it. */
export type RolloutAction =
  | {
      type: 'measure';
      /** `<rollout>/<runId>/<template>/<index>`: report the outcome under this id. */
      id: string;
      rollout: string;
      runId: string;
      /** When the attempt started: the measurement reads no traffic from before (MeasureContext.since). */
      since: number;
      template: AnalysisTemplate;
    }
  | {
      type: 'runHook';
      /** `<rollout>/a<attempt>/<hook>`. */
      id: string;
      rollout: string;
      hook: string;
      spec: HookSpec;
      attempt: number;
      /** Where the attempt stands when the hook starts (cleanup: Healthy or Degraded). */
      phase: RolloutPhase;
    };

/** What an effect reported. */
export type Observation =
  | { type: 'measurement'; id: string; outcome: ProviderOutcome; finishedAt: number }
  | { type: 'hook'; id: string; result: HookResult };

export interface Observations {
  /** Results that arrived since the last committed reconcile. */
  results: readonly Observation[];
  /** Ids of effects this process is still performing. Anything started and not here was lost. */
  running: Iterable<string>;
}

export interface Transition {
  status: RolloutStatus;
  events: RolloutEvent[];
  actions: RolloutAction[];
  /** When to reconcile again at the latest (pause deadline, next measurement); null = on news only. */
  requeueAt: number | null;
  /** False when nothing changed: no need to write. */
  changed: boolean;
}

/** What a command returns: the status to write (compare-and-swap) and the events to log with it. */
export interface CommandResult {
  status: RolloutStatus;
  events: RolloutEvent[];
}

/**
 * What reconcile and undo read of the spec beyond the rollout: the endpoints the spec gives the
 * stable version now. Completion records them as the previous stable (what undo puts back); undo
 * refuses when they have changed since. Absent: recorded as none.
 */
export interface SpecContext {
  stableEndpoints?: readonly string[];
  /** A release: each service's fallback version and its endpoints now, by service. */
  releaseStables?: Readonly<Record<string, PreviousStable>>;
}

/** Nothing happened; convenient for a tick without news. */
export const NO_OBSERVATIONS: Observations = Object.freeze({ results: [], running: [] });

/**
 * One reconcile step. `status` null means the rollout has never run: attempt 1 starts.
 *
 * @example
 * const t = reconcile(rollout, stored?.status ?? null, { results, running: inFlight.keys() }, Date.now(), templates);
 */
export function reconcile(
  rollout: RolloutSpec,
  status: RolloutStatus | null,
  observations: Observations,
  now: number,
  templates: Readonly<Record<string, AnalysisTemplate>>,
  context: SpecContext = {},
): Transition {
  const w = new Work(rollout, status ?? initialStatus(rollout, now), now, templates, context);
  const before = status === null ? '' : comparable(status);
  if (status === null) w.event('Normal', 'RolloutStarted', `attempt 1: ${startedWhat(rollout)}`);
  w.fold(observations);
  w.followSpec();
  if (!isTerminal(w.s)) w.progress();
  if (isTerminal(w.s)) w.runCleanup();
  else w.measure();
  w.settlePhase();
  const changed = w.events.length > 0 || w.actions.length > 0 || comparable(w.s) !== before;
  if (changed) w.s.updatedAt = now;
  return { status: w.s, events: w.events, actions: w.actions, requeueAt: w.requeueAt(), changed };
}

/**
 * Ends the current wait and goes on: a pause or analysis step ends, a person's pause is lifted.
 * While an inconclusive analysis waits for a decision, promote only accepts it (and lifts a person's
 * pause): the step it waited at, or the next pause, still waits, and a second promote passes it.
 * `full` skips every remaining pause, analysis and the background analysis; `toStep` (canary only)
 * skips forward to that step index, applying the weights and header routes of the steps passed
 * over. Hooks are never skipped.
 */
export function promote(
  rollout: RolloutSpec,
  status: RolloutStatus | null,
  now: number,
  opts: { full?: boolean; toStep?: number } = {},
): CommandResult {
  const w = new Work(rollout, status ?? initialStatus(rollout, now), now, {});
  w.mustBeActive('promote');
  const s = w.s;
  const i = s.currentStepIndex;
  if (opts.toStep !== undefined) {
    const n = opts.toStep;
    if (rollout.strategy.kind !== 'canary') throw new RolloutError('NOT_SUPPORTED', 'promote to a step applies to canary rollouts only');
    if (!Number.isInteger(n) || n <= i || n > w.plan.length) {
      throw new RolloutError('UNKNOWN_STEP', `step ${n} is not ahead of the current step ${i} (steps are 0..${w.plan.length - 1}; ${w.plan.length} completes)`);
    }
    s.skipUntil = Math.max(s.skipUntil, n);
    w.event('Normal', 'Promoted', `promoted to step ${n}`);
  } else if (opts.full) {
    s.skipUntil = w.plan.length;
    s.promotedFull = true;
    w.event('Normal', 'Promoted', 'promoted fully: remaining pauses and analyses are skipped, hooks still run');
  } else if (w.inconclusiveWaiting() !== undefined) {
    // One decision per promote: accepting the result must not also pass the step the rollout is at.
    w.event('Normal', 'Promoted', `inconclusive analysis run ${w.inconclusiveWaiting()!.id} accepted`);
  } else {
    const step = w.plan[i];
    if (step?.kind === 'hook' && !s.userPaused) {
      throw new RolloutError('HOOK_RUNNING', `step ${i} runs hook ${step.name}: it cannot be skipped, wait for it or abort`);
    }
    if (step && step.kind !== 'hook') s.skipUntil = Math.max(s.skipUntil, i + 1);
    w.event('Normal', 'Promoted', step ? `promoted past step ${i + 1}/${w.plan.length} (${describeStep(step, rollout)})` : 'promoted');
  }
  s.userPaused = false;
  for (const run of s.analysisRuns) if (run.phase === 'Inconclusive') run.acknowledged = true;
  return w.commandResult();
}

/** Aborts the attempt: traffic back to stable in this very write, analyses stopped; cleanup follows. */
export function abort(rollout: RolloutSpec, status: RolloutStatus | null, now: number, message?: string): CommandResult {
  const w = new Work(rollout, status ?? initialStatus(rollout, now), now, {});
  w.mustBeActive('abort');
  w.abort('Aborted', message ?? 'aborted by request: all traffic back to stable');
  return w.commandResult();
}

/** Starts an aborted rollout again from step 0 as a new attempt (its hooks run again, once). */
export function retry(rollout: RolloutSpec, status: RolloutStatus | null, now: number): CommandResult {
  if (status === null || status.phase !== 'Degraded') {
    throw new RolloutError('NOT_ABORTED', `rollout ${rollout.name} is ${status?.phase ?? 'not started'}, not aborted: nothing to retry`);
  }
  const w = new Work(rollout, status, now, {});
  if (w.hookBusy()) {
    throw new RolloutError('HOOK_RUNNING', `a hook of attempt ${status.attempt} is running or its cleanup has not run yet: retry when it has finished`);
  }
  const attempt = status.attempt + 1;
  w.s = initialStatus(rollout, now, attempt);
  w.event('Normal', 'Retried', `attempt ${attempt} starts at step 0`);
  return w.commandResult();
}

/** A person's pause: steps stop advancing (analysis goes on) until resume or promote. */
export function pause(rollout: RolloutSpec, status: RolloutStatus | null, now: number): CommandResult {
  const w = new Work(rollout, status ?? initialStatus(rollout, now), now, {});
  w.mustBeActive('pause');
  if (w.s.userPaused) throw new RolloutError('ALREADY_PAUSED', `rollout ${rollout.name} is already paused`);
  w.s.userPaused = true;
  return w.commandResult();
}

/** Lifts a person's pause. A pause step still waits for its deadline or for promote. */
export function resume(rollout: RolloutSpec, status: RolloutStatus | null, now: number): CommandResult {
  const w = new Work(rollout, status ?? initialStatus(rollout, now), now, {});
  w.mustBeActive('resume');
  if (!w.s.userPaused) throw new RolloutError('NOT_PAUSED', `rollout ${rollout.name} is not paused by a person${w.s.phase === 'Paused' ? ` (${w.s.reason}: use promote)` : ''}`);
  w.s.userPaused = false;
  w.event('Normal', 'Resumed', 'resumed');
  return w.commandResult();
}

/**
 * Sets the canary's weight now (whole percent 0..100). It holds until the next setWeight step of
 * the plan sets another. Validation comes first: a bad weight is refused whatever the state.
 */
export function setWeight(rollout: RolloutSpec, status: RolloutStatus | null, now: number, weight: number): CommandResult {
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new RolloutError('INVALID_WEIGHT', `weight must be a whole number from 0 to 100, not ${String(weight)}`);
  }
  const w = new Work(rollout, status ?? initialStatus(rollout, now), now, {});
  w.mustBeActive('set the weight of');
  if (w.s.switched) throw new RolloutError('NOT_SUPPORTED', `rollout ${rollout.name} has switched ${rollout.service} to ${rollout.canary}: weights no longer apply`);
  w.s.weight = weight;
  w.event('Normal', 'WeightSetManually', `${weight}% of ${rollout.service}'s traffic to ${rollout.canary} (set by request)`);
  return w.commandResult();
}

/** What an attempt starts to move: one service's versions, or a release's lane across its services. */
function startedWhat(rollout: RolloutSpec): string {
  const r = rollout.release;
  return r !== undefined ? `release ${r.name}: lane ${rollout.canary} of ${r.services.join(', ')}` : `${rollout.service} from ${rollout.stable} to ${rollout.canary}`;
}

/**
 * Puts the previous stable back after completion: the attempt becomes Degraded (reason Undone), so
 * its overlay sends the fallback lane to the stable version again and withdraws the new version,
 * in this very write. Refused (UNDO_REFUSED, nothing written) when the attempt has not completed,
 * when the rollback window has ended, when a blue-green upgrade replaced stable in place, or when
 * the spec's stable endpoints are no longer the ones recorded at completion (the user redeployed or
 * re-pointed stable: "the previous stable" no longer exists as it was).
 */
export function undo(rollout: RolloutSpec, status: RolloutStatus | null, now: number, context: SpecContext = {}): CommandResult {
  const refuse = (why: string): never => {
    // A release runs as rollout `release:NAME`: name it as the user wrote it.
    const what = rollout.release !== undefined ? `release ${rollout.release.name}` : `rollout ${rollout.name}`;
    throw new RolloutError('UNDO_REFUSED', `cannot undo ${what}: ${why}`);
  };
  if (status === null || status.phase !== 'Healthy' || status.completedAt === null) {
    const where = status === null ? 'not started' : status.reason === 'Undone' ? 'already undone' : `${status.phase} (${status.reason})`;
    return refuse(`it has not completed (${where}); ${status !== null && !isTerminal(status) ? 'abort takes traffic back while it runs' : 'nothing to undo'}`);
  }
  if (rollout.release !== undefined) return undoRelease(rollout, status, now, context, refuse);
  const prev = status.previousStable;
  if (prev === undefined) return refuse('its completion recorded no previous stable (completed before undo existed)');
  if (prev === null) {
    return refuse(`the blue-green upgrade replaced ${rollout.service}'s ${rollout.stable} endpoints in place: there is no previous stable left to go back to`);
  }
  const windowMs = rollbackWindowOf(rollout);
  const endsAt = status.completedAt + windowMs;
  if (now > endsAt) {
    return refuse(`its rollback window (${formatDuration(windowMs)} after completion) ended at ${new Date(endsAt).toISOString()}`);
  }
  const current = [...(context.stableEndpoints ?? [])];
  if (!sameList(current, prev.endpoints)) {
    return refuse(
      `the spec's ${prev.version} endpoints changed since completion (then [${prev.endpoints.join(', ')}], now [${current.join(', ')}]): ` +
        'the previous stable was redeployed or replaced, so it cannot be put back',
    );
  }
  const w = new Work(rollout, status, now, {});
  const s = w.s;
  s.phase = 'Degraded';
  s.reason = 'Undone';
  s.message = `undone: ${prev.version} ([${prev.endpoints.join(', ')}]) serves ${rollout.service}'s ${rollout.stable} lane again; ${rollout.canary} gets nothing`;
  s.undoneAt = now;
  s.abortedAt = now;
  s.weight = 0;
  s.switched = false;
  s.headerRoute = null;
  return w.commandResult();
}

/** undo() of a release: every service's previous stable back, or none (one status write). */
function undoRelease(rollout: RolloutSpec, status: RolloutStatus, now: number, context: SpecContext, refuse: (why: string) => never): CommandResult {
  const prev = status.previousStables;
  if (prev === undefined) return refuse('its completion recorded no previous stables');
  const windowMs = rollbackWindowOf(rollout);
  const endsAt = status.completedAt! + windowMs;
  if (now > endsAt) return refuse(`its rollback window (${formatDuration(windowMs)} after completion) ended at ${new Date(endsAt).toISOString()}`);
  const changed = Object.entries(prev).filter(([svc, p]) => !sameList(context.releaseStables?.[svc]?.endpoints ?? [], p.endpoints));
  if (changed.length > 0) {
    const what = changed.map(([svc, p]) => `${svc} ${p.version}: then [${p.endpoints.join(', ')}], now [${(context.releaseStables?.[svc]?.endpoints ?? []).join(', ')}]`).join('; ');
    return refuse(`the spec's stable endpoints changed since completion (${what}): the previous stables were redeployed or replaced, so they cannot be put back`);
  }
  const w = new Work(rollout, status, now, {});
  const s = w.s;
  s.phase = 'Degraded';
  s.reason = 'Undone';
  s.message = `undone: ${Object.entries(prev).map(([svc, p]) => `${svc} ${p.version}`).join(', ')} serve their stable lanes again; lane ${rollout.canary} is withdrawn`;
  s.undoneAt = now;
  s.abortedAt = now;
  s.weight = 0;
  return w.commandResult();
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The status without the fields that change on every write, to tell a real change. */
function comparable(s: RolloutStatus): string {
  return JSON.stringify({ ...s, updatedAt: 0 });
}

/** A working copy of the status and everything one transition produces. */
class Work {
  s: RolloutStatus;
  readonly plan: PlanStep[];
  readonly events: RolloutEvent[] = [];
  readonly actions: RolloutAction[] = [];
  private readonly phaseBefore: string;

  constructor(
    readonly rollout: RolloutSpec,
    status: RolloutStatus,
    readonly now: number,
    readonly templates: Readonly<Record<string, AnalysisTemplate>>,
    readonly context: SpecContext = {},
  ) {
    this.s = structuredClone(status);
    this.plan = planOf(rollout);
    this.phaseBefore = `${status.phase}/${status.reason}`;
  }

  event(type: RolloutEvent['type'], reason: string, message: string): void {
    this.events.push({ time: this.now, type, reason, message });
  }

  commandResult(): CommandResult {
    this.settlePhase();
    this.s.updatedAt = this.now;
    return { status: this.s, events: this.events };
  }

  mustBeActive(what: string): void {
    const { phase, name } = this.s;
    if (phase === 'Healthy') throw new RolloutError('ROLLOUT_COMPLETED', `cannot ${what} rollout ${name}: it has completed`);
    if (phase === 'Degraded') throw new RolloutError('ROLLOUT_ABORTED', `cannot ${what} rollout ${name}: it is aborted (${this.s.reason}); retry starts it again`);
  }

  private get cleanupSpec(): HookSpec | undefined {
    const st = this.rollout.strategy;
    return st.kind === 'blueGreen' ? st.hooks.cleanup : st.cleanup;
  }

  /** A hook of this attempt is running, or the cleanup hook is still to run. */
  hookBusy(): boolean {
    const hooks = Object.values(this.s.hooks);
    if (hooks.some((h) => h.state === 'started')) return true;
    return this.cleanupSpec !== undefined && this.s.hooks.cleanup?.state !== 'finished';
  }

  // ---- observations ------------------------------------------------------------------------

  fold(obs: Observations): void {
    for (const r of obs.results) {
      if (r.type === 'hook') this.hookResult(r.id, r.result, false);
      else this.measurementResult(r.id, r.outcome, r.finishedAt);
    }
    const running = new Set(obs.running);
    for (const [name, rec] of Object.entries(this.s.hooks) as [string, HookRecord][]) {
      if (rec.state === 'started' && !running.has(rec.id)) {
        this.hookResult(
          rec.id,
          {
            ok: false,
            startedAt: rec.startedAt,
            finishedAt: this.now,
            message: `interrupted: the controller stopped while hook ${name} ran; it is not run again`,
            output: '',
            exitCode: null,
            httpStatus: null,
            timedOut: false,
          },
          true,
        );
      }
    }
    for (const run of this.s.analysisRuns) {
      for (const m of run.metrics) {
        if (m.pending !== null && !running.has(m.pending.id)) {
          this.measurementResult(m.pending.id, { kind: 'error', message: 'interrupted: the controller stopped while measuring' }, this.now);
        }
      }
    }
  }

  private hookResult(id: string, result: HookResult, interrupted: boolean): void {
    const entry = (Object.entries(this.s.hooks) as [string, HookRecord][]).find(([, h]) => h.id === id && h.state === 'started');
    if (!entry) {
      this.event('Normal', 'LateResultIgnored', `result of ${id} arrived after the rollout stopped waiting for it (${result.ok ? 'ok' : 'failed'}: ${result.message})`);
      return;
    }
    const [name, rec] = entry;
    Object.assign(rec, {
      state: 'finished',
      finishedAt: result.finishedAt,
      ok: result.ok,
      message: result.message,
      output: result.output,
      exitCode: result.exitCode,
      httpStatus: result.httpStatus,
      interrupted,
    } satisfies Partial<HookRecord>);
    this.event(result.ok ? 'Normal' : 'Warning', 'HookFinished', `hook ${name} ${result.ok ? 'succeeded' : 'failed'}: ${result.message}`);
  }

  private measurementResult(id: string, outcome: ProviderOutcome, finishedAt: number): void {
    for (const run of this.s.analysisRuns) {
      const metric = run.metrics.find((m) => m.pending?.id === id);
      if (!metric) continue;
      recordMeasurement(run, this.templates[metric.name], id, outcome, finishedAt);
      if (run.phase !== 'Running') this.runFinished(run);
      return;
    }
  }

  private runFinished(run: AnalysisRun): void {
    this.event(run.phase === 'Successful' ? 'Normal' : 'Warning', 'AnalysisRunFinished', `analysis run ${run.id} ${run.phase}: ${run.message}`);
  }

  // ---- spec changes ------------------------------------------------------------------------

  followSpec(): void {
    const hash = specHash(this.rollout);
    if (this.s.specHash === hash) return;
    if (!isTerminal(this.s)) {
      this.abort('SpecChanged', 'the rollout spec changed: this attempt is aborted; a new one starts after its cleanup');
      return;
    }
    if (this.hookBusy()) return;
    const attempt = this.s.attempt + 1;
    this.s = initialStatus(this.rollout, this.now, attempt);
    this.event('Normal', 'RolloutStarted', `the rollout spec changed: attempt ${attempt} starts at step 0`);
  }

  // ---- steps -------------------------------------------------------------------------------

  progress(): void {
    // Each pass either completes a step or returns; the bound only guards against a logic error.
    for (let guard = 0; guard <= this.plan.length + 1; guard++) {
      if (this.abortOnFailedRun()) return;
      this.backgroundAnalysis();
      if (this.abortOnFailedRun()) return;
      if (this.s.userPaused || this.inconclusiveWaiting()) return;
      const i = this.s.currentStepIndex;
      const step = this.plan[i];
      if (step === undefined) {
        this.complete();
        return;
      }
      if (this.s.stepStartedAt === null) this.enterStep(step, i);
      if (isTerminal(this.s) || !this.stepDone(step, i)) return;
      this.s.currentStepIndex = i + 1;
      this.s.stepStartedAt = null;
      this.s.pauseStartedAt = null;
      this.s.pauseDeadline = null;
    }
  }

  private stepLabel(i: number): string {
    return `step ${i + 1}/${this.plan.length} (${describeStep(this.plan[i]!, this.rollout)})`;
  }

  private skipping(i: number): boolean {
    return i < this.s.skipUntil;
  }

  private enterStep(step: PlanStep, i: number): void {
    const s = this.s;
    const { rollout } = this;
    s.stepStartedAt = this.now;
    switch (step.kind) {
      case 'setWeight':
        s.weight = step.weight;
        this.event(
          'Normal',
          'WeightSet',
          rollout.release
            ? `${this.stepLabel(i)}: ${step.weight}% of users at route ${rollout.release.route} enter lane ${rollout.canary} (${rollout.release.services.join(', ')})`
            : `${this.stepLabel(i)}: ${step.weight}% of ${rollout.service}'s traffic to ${rollout.canary}`,
        );
        return;
      case 'setHeaderRoute':
        s.headerRoute = step.header;
        this.event('Normal', 'HeaderRouteSet', `${this.stepLabel(i)}${step.header ? `: matching requests go to ${rollout.canary}` : ''}`);
        return;
      case 'switch':
        s.switched = true;
        s.weight = 100;
        this.event('Normal', 'Switched', `${this.stepLabel(i)}: ${rollout.canary} now serves ${rollout.service}'s ${rollout.stable} lane`);
        return;
      case 'pause':
        if (this.skipping(i)) return;
        s.pauseStartedAt = this.now;
        s.pauseDeadline = step.durationMs === null ? null : this.now + step.durationMs;
        this.event('Normal', 'StepStarted', this.stepLabel(i));
        return;
      case 'analysis': {
        if (this.skipping(i)) return;
        const run = startRun(`a${s.attempt}.step${i}`, 'step', i, step.templates, this.templates, this.now);
        s.analysisRuns.push(run);
        this.event('Normal', 'AnalysisRunStarted', `${this.stepLabel(i)}: analysis run ${run.id}`);
        if (run.phase !== 'Running') this.runFinished(run);
        return;
      }
      case 'hook':
        this.event('Normal', 'StepStarted', this.stepLabel(i));
        this.startHook(step.name, step.hook);
        return;
    }
  }

  /** Whether the entered step `i` has ended (it may abort the rollout instead). */
  private stepDone(step: PlanStep, i: number): boolean {
    const s = this.s;
    switch (step.kind) {
      case 'setWeight':
      case 'setHeaderRoute':
      case 'switch':
        return true;
      case 'pause':
        if (this.skipping(i)) {
          this.event('Normal', 'StepSkipped', `${this.stepLabel(i)} skipped by promote`);
          return true;
        }
        if (s.pauseDeadline !== null && this.now >= s.pauseDeadline) {
          this.event('Normal', 'StepCompleted', `${this.stepLabel(i)}: pause over`);
          return true;
        }
        return false;
      case 'analysis': {
        const run = s.analysisRuns.find((r) => r.kind === 'step' && r.stepIndex === i);
        if (this.skipping(i)) {
          if (run && run.phase === 'Running') terminateRun(run, this.templates, 'step skipped by promote', this.now);
          this.event('Normal', 'StepSkipped', `${this.stepLabel(i)} skipped by promote`);
          return true;
        }
        if (run?.phase === 'Successful' || (run?.phase === 'Inconclusive' && run.acknowledged)) {
          this.event('Normal', 'StepCompleted', `${this.stepLabel(i)}: analysis run ${run.id} ${run.phase}`);
          return true;
        }
        return false;
      }
      case 'hook': {
        const rec = s.hooks[step.name];
        if (rec?.state !== 'finished') return false;
        if (rec.ok) {
          this.event('Normal', 'StepCompleted', this.stepLabel(i));
          return true;
        }
        this.abort('HookFailed', `hook ${step.name} failed: ${rec.message}`);
        return false;
      }
    }
  }

  private startHook(hook: string, spec: HookSpec | undefined): void {
    if (!spec || this.s.hooks[hook]) return;
    const id = `${this.rollout.name}/a${this.s.attempt}/${hook}`;
    this.s.hooks[hook] = {
      id,
      state: 'started',
      startedAt: this.now,
      finishedAt: null,
      ok: null,
      message: '',
      output: '',
      exitCode: null,
      httpStatus: null,
      interrupted: false,
    };
    // The phase is settled only after progress(): a hook step entered as a timed pause ends would
    // otherwise tell its hook `Paused`. Every hook but cleanup starts while the attempt progresses.
    const phase = hook === 'cleanup' ? this.s.phase : 'Progressing';
    this.actions.push({ type: 'runHook', id, rollout: this.rollout.name, hook, spec, attempt: this.s.attempt, phase });
    this.event('Normal', 'HookStarted', `hook ${hook} started (${spec.kind === 'command' ? spec.command.join(' ') : `POST ${spec.url}`})`);
  }

  // ---- analysis ----------------------------------------------------------------------------

  private backgroundAnalysis(): void {
    const st = this.rollout.strategy;
    const bg = st.kind === 'canary' ? st.analysis : null;
    const s = this.s;
    if (bg === null) return;
    if (s.promotedFull) {
      for (const run of s.analysisRuns) {
        if (run.kind === 'background' && run.phase === 'Running') {
          terminateRun(run, this.templates, 'promoted fully', this.now);
          this.runFinished(run);
        }
      }
      return;
    }
    if (s.currentStepIndex < bg.startingStep) return;
    const runs = s.analysisRuns.filter((r) => r.kind === 'background');
    const latest = runs.at(-1);
    // A new background run only replaces one a person accepted as inconclusive.
    if (latest && !(latest.phase === 'Inconclusive' && latest.acknowledged)) return;
    const run = startRun(`a${s.attempt}.bg${runs.length + 1}`, 'background', null, bg.templates, this.templates, this.now);
    s.analysisRuns.push(run);
    this.event('Normal', 'AnalysisRunStarted', `background analysis run ${run.id} (${bg.templates.join(', ')})`);
    if (run.phase !== 'Running') this.runFinished(run);
  }

  private abortOnFailedRun(): boolean {
    const run = this.s.analysisRuns.find((r) => r.phase === 'Failed' || r.phase === 'Error');
    if (!run) return false;
    this.abort(run.phase === 'Failed' ? 'AnalysisFailed' : 'AnalysisError', `analysis run ${run.id} ${run.phase}: ${run.message}`);
    return true;
  }

  inconclusiveWaiting(): AnalysisRun | undefined {
    return this.s.analysisRuns.find((r) => r.phase === 'Inconclusive' && !r.acknowledged);
  }

  measure(): void {
    for (const run of this.s.analysisRuns) {
      for (const due of dueMeasurements(run, this.now)) {
        const template = this.templates[due.metric];
        if (!template) continue;
        const id = `${this.rollout.name}/${run.id}/${due.metric}/${due.index}`;
        markPending(run, due.metric, id, due.index, this.now);
        this.actions.push({ type: 'measure', id, rollout: this.rollout.name, runId: run.id, since: this.s.startedAt, template });
      }
    }
  }

  // ---- ends --------------------------------------------------------------------------------

  private complete(): void {
    const s = this.s;
    for (const run of s.analysisRuns) {
      if (run.phase === 'Running') {
        terminateRun(run, this.templates, 'rollout completed', this.now);
        this.runFinished(run);
      }
    }
    const st = this.rollout.strategy;
    const upgrade = st.kind === 'blueGreen' && st.promotion === 'upgrade';
    s.phase = 'Healthy';
    s.reason = 'Completed';
    const release = this.rollout.release;
    s.message = release
      ? `completed: ${this.rollout.canary} is now the stable of ${release.services.join(', ')} (one commit)`
      : upgrade
        ? `completed: ${this.rollout.stable} (upgraded in place) serves all of ${this.rollout.service}'s traffic`
        : `completed: ${this.rollout.canary} serves ${this.rollout.service}'s ${this.rollout.stable} lane`;
    s.completedAt = this.now;
    // What undo puts back: the stable version as the spec has it now (an upgrade has just replaced it).
    if (release) {
      s.previousStables = {};
      for (const svc of release.services) {
        const p = this.context.releaseStables?.[svc];
        s.previousStables[svc] = { version: p?.version ?? '', endpoints: [...(p?.endpoints ?? [])] };
      }
    } else s.previousStable = upgrade ? null : { version: this.rollout.stable, endpoints: [...(this.context.stableEndpoints ?? [])] };
    s.weight = upgrade ? 0 : 100;
    s.switched = !upgrade;
    s.headerRoute = null;
    s.pauseStartedAt = null;
    s.pauseDeadline = null;
    s.userPaused = false;
  }

  /** Degraded: weight 0, header route gone, analysis stopped. The caller's write takes traffic back. */
  abort(reason: StatusReason, message: string): void {
    const s = this.s;
    s.abort = true;
    s.abortedAt = this.now;
    s.phase = 'Degraded';
    s.reason = reason;
    s.message = message;
    s.weight = 0;
    s.headerRoute = null;
    s.switched = false;
    s.pauseStartedAt = null;
    s.pauseDeadline = null;
    s.userPaused = false;
    for (const run of s.analysisRuns) {
      if (run.phase === 'Running') terminateRun(run, this.templates, 'rollout aborted', this.now);
    }
  }

  runCleanup(): void {
    if (this.cleanupSpec === undefined || this.s.hooks.cleanup !== undefined) return;
    if (Object.values(this.s.hooks).some((h) => h.state === 'started')) return;
    this.startHook('cleanup', this.cleanupSpec);
  }

  // ---- phase -------------------------------------------------------------------------------

  /** Derives phase and reason of an active attempt; logs an event when either changed. */
  settlePhase(): void {
    const s = this.s;
    if (!isTerminal(s)) {
      const i = s.currentStepIndex;
      const step = this.plan[i];
      const inconclusive = this.inconclusiveWaiting();
      const notStarted = this.rollout.paused === true && i === 0 && s.stepStartedAt === null;
      if (s.userPaused) this.setPhase('Paused', 'PausedByUser', notStarted ? 'created paused (paused: true): resume to start' : 'paused by request: resume or promote to go on');
      else if (inconclusive) this.setPhase('Paused', 'InconclusiveAnalysis', `analysis run ${inconclusive.id} is inconclusive (${inconclusive.message}): promote to go on or abort`);
      else if (step?.kind === 'pause' && s.stepStartedAt !== null && !this.skipping(i)) {
        if (s.pauseDeadline !== null) this.setPhase('Paused', 'PauseStep', `${this.stepLabel(i)} until ${new Date(s.pauseDeadline).toISOString()}`);
        else this.setPhase('Paused', 'AwaitingPromotion', `${this.stepLabel(i)}: waiting for promote`);
      } else {
        this.setPhase('Progressing', 'StepRunning', step ? this.stepLabel(i) : 'completing');
      }
    }
    const after = `${s.phase}/${s.reason}`;
    if (after !== this.phaseBefore) {
      const warn = s.phase === 'Degraded' || s.reason === 'InconclusiveAnalysis';
      this.event(warn ? 'Warning' : 'Normal', s.reason, `${s.phase}: ${s.message}`);
    }
  }

  private setPhase(phase: RolloutPhase, reason: StatusReason, message: string): void {
    this.s.phase = phase;
    this.s.reason = reason;
    this.s.message = message;
  }

  requeueAt(): number | null {
    let at: number | null = null;
    const consider = (t: number | null): void => {
      if (t !== null && (at === null || t < at)) at = t;
    };
    if (!isTerminal(this.s)) consider(this.s.pauseDeadline);
    for (const run of this.s.analysisRuns) consider(nextDueAt(run));
    return at;
  }
}

