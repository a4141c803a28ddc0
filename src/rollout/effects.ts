/**
 * Performs one action returned by reconcile() and turns its result into the observation the next
 * reconcile reads. The controller's only I/O for rollouts besides the store.
 */
import type { RolloutSpec } from '../spec/rollout-model.js';
import { runHook } from './hooks.js';
import { providerFor, type ProviderDeps } from './providers/index.js';
import { errorMessage } from './providers/types.js';
import type { Observation, RolloutAction } from './transitions.js';

export interface EffectDeps extends ProviderDeps {
  clock?: () => number;
}

/**
 * Never rejects: a provider or hook failure is data in the observation.
 *
 * @example for (const a of t.actions) runAction(a, rollout, { metrics: window }).then(pushResultAndTick);
 */
export async function runAction(action: RolloutAction, rollout: RolloutSpec, deps: EffectDeps = {}): Promise<Observation> {
  const clock = deps.clock ?? Date.now;
  const names = { name: rollout.name, service: rollout.service, stable: rollout.stable, canary: rollout.canary };
  if (action.type === 'runHook') {
    const promotion = rollout.strategy.kind === 'blueGreen' ? { promotion: rollout.strategy.promotion } : {};
    const result = await runHook(action.spec, { id: action.id, hook: action.hook, rollout: names, attempt: action.attempt, phase: action.phase, ...promotion }, clock);
    return { type: 'hook', id: action.id, result };
  }
  try {
    const outcome = await providerFor(action.template.provider, deps).measure({ rollout: names, since: action.since });
    return { type: 'measurement', id: action.id, outcome, finishedAt: clock() };
  } catch (e) {
    // Providers return errors as outcomes; this only catches a bug in one, so the run still moves on.
    return { type: 'measurement', id: action.id, outcome: { kind: 'error', message: errorMessage(e) }, finishedAt: clock() };
  }
}
