/**
 * What a person (CLI, dashboard) sees of a rollout: its spec and status folded into one plain JSON
 * object, with the plan spelled out step by step and the traffic it currently sends each version.
 * The admin API serves it; `graylane rollout get` renders it. Pure: no store, no clock.
 */
import type { RolloutSpec } from '../spec/rollout-model.js';
import { describeStep, planOf } from './plan.js';
import type { RolloutStatus } from '../status/rollout-status.js';
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
