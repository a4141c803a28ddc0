/**
 * What a person (CLI, dashboard) sees of a rollout: its spec and status folded into one plain JSON
 * object, with the plan spelled out step by step and the traffic it currently sends each version.
 * The admin API serves it; `graylane rollout get` renders it. Pure: no store, no clock.
 */
import { rollbackWindowOf, type RolloutSpec } from '../spec/rollout-model.js';
import { describeStep, planOf } from './plan.js';
import type { PreviousStable, RolloutStatus } from '../status/rollout-status.js';
import type { AbortPending, RolloutView, StepView } from '../status/rollout-view.js';

export type { RolloutView, StepView };

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
