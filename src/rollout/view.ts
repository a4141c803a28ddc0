/**
 * What a person (CLI, dashboard) sees of a rollout: its spec and status folded into one plain JSON
 * object, with the plan spelled out step by step and the traffic it currently sends each version.
 * The admin API serves it; `graylane rollout get` renders it. Pure: no store, no clock.
 */
import type { NamedMatch } from '../spec/types.js';
import type { AnalysisRun } from './analysis.js';
import type { AbortPending } from './controller.js';
import { rollbackWindowOf, type RolloutSpec } from '../spec/rollout-model.js';
import { describeStep, planOf } from './plan.js';
import type { HookRecord, PreviousStable, RolloutPhase, RolloutStatus } from './status.js';

export interface StepView {
  index: number;
  /** `setWeight 20`, `pause 2m`, `analysis error-rate`... */
  description: string;
  /** `current` is the step in progress; `aborted` the one the attempt stopped at. */
  state: 'done' | 'current' | 'aborted' | 'pending';
}

export interface RolloutView {
  name: string;
  service: string;
  stable: string;
  canary: string;
  strategy: 'canary' | 'blueGreen';
  /** `Pending`: declared, not started by the controller yet. */
  phase: RolloutPhase | 'Pending';
  reason: string;
  message: string;
  attempt: number;
  /** Store revision of the status (0 before the first write). */
  revision: number;
  /** Index of the step in progress (or the one an abort stopped at); null before the start and once done. */
  currentStep: number | null;
  steps: StepView[];
  /** The canary's share of unmarked traffic (0..100). */
  weight: number;
  /**
   * Where the service's unmarked traffic goes now, by version, in percent. After a completed
   * canary (or a blue-green switch) the canary version has 100: it serves the stable lane.
   */
  traffic: Record<string, number>;
  headerRoute: NamedMatch | null;
  switched: boolean;
  userPaused: boolean;
  pauseDeadline: number | null;
  startedAt: number | null;
  updatedAt: number | null;
  completedAt: number | null;
  abortedAt: number | null;
  analysisRuns: AnalysisRun[];
  hooks: Record<string, HookRecord>;
  /**
   * Set while this gateway routes by an abort the state store has not taken yet ("abort pending
   * persistence"): the status shown is the held one; the write is retried until it lands.
   */
  abortPending: AbortPending | null;
  /** What completion recorded as the stable it replaced (what `undo` puts back); null when nothing can be. */
  previousStable: PreviousStable | null;
  /** Until when `undo` may put it back (completion + rollbackWindow); null when it cannot. */
  undoUntil: number | null;
  /** When `undo` put the previous stable back. */
  undoneAt: number | null;
}

/**
 * Folds a rollout's spec and its stored status (null: never run) into a RolloutView; `abortPending`
 * when the status is an abort held in memory (RolloutController.get).
 */
export function rolloutView(spec: RolloutSpec, status: RolloutStatus | null, revision = 0, abortPending: AbortPending | null = null): RolloutView {
  const plan = planOf(spec);
  const s = status;
  const index = s?.currentStepIndex ?? 0;
  const steps = plan.map((step, i): StepView => {
    let state: StepView['state'] = 'pending';
    if (s !== null && i < index) state = 'done';
    else if (s !== null && i === index) state = s.phase === 'Degraded' ? 'aborted' : 'current';
    return { index: i, description: describeStep(step, spec), state };
  });
  return {
    name: spec.name,
    service: spec.service,
    stable: spec.stable,
    canary: spec.canary,
    strategy: spec.strategy.kind,
    phase: s?.phase ?? 'Pending',
    reason: s?.reason ?? 'Pending',
    message: s?.message ?? 'not started yet',
    attempt: s?.attempt ?? 0,
    revision,
    currentStep: s !== null && index < plan.length && s.phase !== 'Healthy' ? index : null,
    steps,
    weight: s?.weight ?? 0,
    traffic: trafficOf(spec, s),
    headerRoute: s?.headerRoute ?? null,
    switched: s?.switched ?? false,
    userPaused: s?.userPaused ?? false,
    pauseDeadline: s?.pauseDeadline ?? null,
    startedAt: s?.startedAt ?? null,
    updatedAt: s?.updatedAt ?? null,
    completedAt: s?.completedAt ?? null,
    abortedAt: s?.abortedAt ?? null,
    analysisRuns: s?.analysisRuns ?? [],
    hooks: s?.hooks ?? {},
    abortPending,
    previousStable: s?.previousStable ?? null,
    undoUntil: s?.phase === 'Healthy' && s.completedAt !== null && (s.previousStable || s.previousStables) ? s.completedAt + rollbackWindowOf(spec) : null,
    undoneAt: s?.undoneAt ?? null,
  };
}

/** Mirrors overlay.ts: what the overlay of this status does to unmarked traffic, by version. */
function trafficOf(spec: RolloutSpec, s: RolloutStatus | null): Record<string, number> {
  const { stable, canary } = spec;
  if (s === null || s.phase === 'Degraded') return { [stable]: 100 };
  if (s.phase === 'Healthy') {
    const upgrade = spec.strategy.kind === 'blueGreen' && spec.strategy.promotion === 'upgrade';
    return upgrade ? { [stable]: 100 } : { [canary]: 100 };
  }
  if (s.switched) return { [canary]: 100 };
  const w = Math.min(100, Math.max(0, s.weight));
  return { [stable]: 100 - w, [canary]: w };
}

/** One service of a release, as the release's status routes it now. */
export interface ReleaseServiceView {
  name: string;
  /**
   * `follows` (running: the lane's users reach its `lane` version), `stable` (not started: nothing
   * changed yet), `withdrawn` (aborted or undone: the lane is served by its fallback),
   * `promoted` (completed: its lane version serves its stable lane).
   */
  state: 'pending' | 'follows' | 'withdrawn' | 'promoted';
  /** Completed: the version it served its stable lane with before (what undo puts back). */
  previousStable: PreviousStable | null;
}

/** A release as a person sees it: one row with its services inside (the admin API's answer). */
export interface ReleaseView extends Omit<RolloutView, 'name' | 'service' | 'stable' | 'canary' | 'strategy' | 'headerRoute' | 'switched' | 'traffic' | 'previousStable'> {
  name: string;
  lane: string;
  /** The entry route and the release's salt. */
  entry: { route: string };
  salt: string;
  /** The lane's share (0..100) of users at the entry route: `weight` under its name. */
  share: number;
  services: ReleaseServiceView[];
}

/** Folds the rollout that runs a release (src/rollout/release.ts) and its status into a ReleaseView. */
export function releaseView(spec: RolloutSpec, status: RolloutStatus | null, revision = 0, abortPending: AbortPending | null = null): ReleaseView {
  const target = spec.release!;
  const v = rolloutView(spec, status, revision, abortPending);
  const { name: _n, service: _s, stable: _st, canary: _c, strategy: _k, headerRoute: _h, switched: _w, traffic: _t, previousStable: _p, ...rest } = v;
  const state: ReleaseServiceView['state'] =
    status === null ? 'pending' : status.phase === 'Degraded' ? 'withdrawn' : status.phase === 'Healthy' ? 'promoted' : 'follows';
  return {
    ...rest,
    name: target.name,
    lane: spec.canary,
    entry: { route: target.route },
    salt: target.salt,
    share: status !== null && state === 'follows' ? status.weight : 0,
    services: target.services.map((name) => ({ name, state, previousStable: status?.previousStables?.[name] ?? null })),
  };
}
