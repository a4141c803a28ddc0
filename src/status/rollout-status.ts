/**
 * The rollout status: what the controller has done for one rollout, as plain JSON. It is the unit of
 * persistence (the store keeps it under the rollout's name with a revision for compare-and-swap)
 * and the only input of overlayFor(). Times are epoch milliseconds.
 *
 * Events are not kept here: transitions return them and the store appends them in the same
 * transaction as the status, so the log is complete and the status stays small.
 */
import { createHash } from 'node:crypto';
import type { NamedMatch } from '../spec/types.js';
import type { AnalysisRun } from './analysis-run.js';
import type { RolloutSpec } from '../spec/rollout-model.js';

export type RolloutPhase = 'Progressing' | 'Paused' | 'Degraded' | 'Healthy';

/**
 * Machine-readable reasons of the status (`reason`) and of events. Phase reasons:
 * Progressing: StepRunning · Paused: PausedByUser, PauseStep (timed), AwaitingPromotion,
 * InconclusiveAnalysis · Degraded: Aborted, AnalysisFailed, AnalysisError, HookFailed, SpecChanged,
 * Undone (a completed attempt put back on its previous stable) · Healthy: Completed.
 */
export type StatusReason =
  | 'StepRunning'
  | 'PausedByUser'
  | 'PauseStep'
  | 'AwaitingPromotion'
  | 'InconclusiveAnalysis'
  | 'Aborted'
  | 'AnalysisFailed'
  | 'AnalysisError'
  | 'HookFailed'
  | 'SpecChanged'
  | 'Undone'
  | 'Completed';

/** One entry of the rollout's event log. */
export interface RolloutEvent {
  time: number;
  type: 'Normal' | 'Warning';
  /** A StatusReason or a step reason: RolloutStarted, StepStarted, StepCompleted, StepSkipped, WeightSet,
   * HeaderRouteSet, Switched, AnalysisRunStarted, AnalysisRunFinished, HookStarted, HookFinished,
   * Promoted, Retried, Resumed, WeightSetManually, LateResultIgnored. */
  reason: string;
  message: string;
}

/** An event as the store returns it: with its place in the log. */
export interface StoredEvent extends RolloutEvent {
  /** Position in the store's log: grows with every event appended, across rollouts. */
  seq: number;
  rollout: string;
}

/** The "hook H started / finished" record that keeps hooks at most once across restarts. */
export interface HookRecord {
  /** Effect id: `<rollout>/a<attempt>/<hook>`; also sent as the webhook's Idempotency-Key. */
  id: string;
  state: 'started' | 'finished';
  startedAt: number;
  finishedAt: number | null;
  /** null while started. */
  ok: boolean | null;
  message: string;
  /** Tail of the command's output or of the webhook's answer. */
  output: string;
  exitCode: number | null;
  httpStatus: number | null;
  /** The controller stopped while the hook ran: it is not run again and counts as failed. */
  interrupted: boolean;
}

/** What running a hook produced (hooks.ts builds it; the controller hands it to reconcile). */
export interface HookResult {
  ok: boolean;
  startedAt: number;
  finishedAt: number;
  message: string;
  output: string;
  exitCode: number | null;
  httpStatus: number | null;
  timedOut: boolean;
}

export interface RolloutStatus {
  /** Format of this record, for parseStatus. */
  schema: 1;
  name: string;
  /** specHash() of the rollout spec this attempt runs; a different spec starts a new attempt. */
  specHash: string;
  /** 1 for the first run; retry and spec changes add one. Effect ids include it. */
  attempt: number;
  phase: RolloutPhase;
  reason: StatusReason;
  message: string;
  /** Index into planOf(rollout) of the step in progress; plan.length once every step is done. */
  currentStepIndex: number;
  /** When the current step was entered (its effects applied): the "step N started" record. */
  stepStartedAt: number | null;
  /** Share (0..100) of the service's unmarked traffic in the canary lane. */
  weight: number;
  /** Requests matching it go to the canary lane (setHeaderRoute). */
  headerRoute: NamedMatch | null;
  /** Blue-green after `switch`: the new version serves the fallback lane. */
  switched: boolean;
  pauseStartedAt: number | null;
  /** Absolute end of a timed pause: kept, not the time remaining, so restarts keep it. */
  pauseDeadline: number | null;
  /** pause / resume by a person (Argo's controllerPause). */
  userPaused: boolean;
  /** Pause and analysis steps with an index below this end at once (promote, promote --full, --to-step). */
  skipUntil: number;
  /** promote --full: background analysis is stopped and not restarted. */
  promotedFull: boolean;
  abort: boolean;
  startedAt: number;
  abortedAt: number | null;
  completedAt: number | null;
  updatedAt: number;
  /** Runs of the current attempt (older attempts' runs stay in the store's history). */
  analysisRuns: AnalysisRun[];
  /** By hook name: `preRollout`, `postPromotion`, `cleanup`, or a canary hook step's name. */
  hooks: Record<string, HookRecord>;
  /**
   * Recorded by completion: what served the fallback lane before the new version took it over, so
   * `undo` can put it back. null after a blue-green `upgrade` (stable's endpoints were replaced in
   * place: nothing left to go back to). Absent before completion (and in statuses written before
   * undo existed).
   */
  previousStable?: PreviousStable | null;
  /** A release's previousStable, by service (recorded by completion, in the same commit). */
  previousStables?: Record<string, PreviousStable>;
  /** When `undo` put the previous stable back (the attempt is then Degraded, reason Undone). */
  undoneAt?: number | null;
}

/** The stable version a completed attempt replaced: its name and its endpoints in the spec then. */
export interface PreviousStable {
  version: string;
  endpoints: string[];
}

/** Short sha256 of the rollout spec in canonical JSON (sorted keys). */
export function specHash(rollout: RolloutSpec): string {
  // `paused` only says how an attempt starts: changing it must not abort the running one.
  // Nor does the rollback window: it is read only by undo, after the attempt has ended.
  return createHash('sha256').update(canonicalJson({ ...rollout, paused: undefined, rollbackWindowMs: undefined })).digest('hex').slice(0, 16);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The status of an attempt that has not started a step yet. */
export function initialStatus(rollout: RolloutSpec, now: number, attempt = 1): RolloutStatus {
  return {
    schema: 1,
    name: rollout.name,
    specHash: specHash(rollout),
    attempt,
    phase: 'Progressing',
    reason: 'StepRunning',
    message: 'starting',
    currentStepIndex: 0,
    stepStartedAt: null,
    weight: 0,
    headerRoute: null,
    switched: false,
    pauseStartedAt: null,
    pauseDeadline: null,
    userPaused: rollout.paused === true,
    skipUntil: 0,
    promotedFull: false,
    abort: false,
    startedAt: now,
    abortedAt: null,
    completedAt: null,
    updatedAt: now,
    analysisRuns: [],
    hooks: {},
  };
}

export function serializeStatus(status: RolloutStatus): string {
  return JSON.stringify(status);
}

/** Reads a stored status back; throws on something that is not a status of this format. */
export function parseStatus(text: string): RolloutStatus {
  const v = JSON.parse(text) as Partial<RolloutStatus> | null;
  if (typeof v !== 'object' || v === null || v.schema !== 1 || typeof v.name !== 'string' || typeof v.currentStepIndex !== 'number') {
    throw new Error('not a graylane rollout status (schema 1)');
  }
  return v as RolloutStatus;
}

/** True once the attempt has ended: completed or aborted. */
export function isTerminal(status: RolloutStatus): boolean {
  return status.phase === 'Healthy' || status.phase === 'Degraded';
}
