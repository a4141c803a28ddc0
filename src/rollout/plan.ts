/**
 * A rollout's plan: the one list of steps the controller walks for both strategies. A canary plan is
 * its steps as written; a blue-green rollout is expanded into the same kinds of steps plus two it
 * alone uses (`hook`, `switch`), so one state machine, one status shape and one `get --watch`
 * display serve both:
 *
 * ```
 * blueGreen, promotion: switch               blueGreen, promotion: upgrade
 *   hook preRollout        (if set)             hook preRollout        (if set)
 *   setWeight previewWeight (if > 0)            setWeight previewWeight (if > 0)
 *   analysis prePromotion  (if set)             analysis prePromotion  (if set)
 *   pause                  (approval / delay)   pause                  (approval / delay)
 *   switch                                      hook postPromotion     (upgrades stable in place)
 *   hook postPromotion     (if set)
 * ```
 * The `cleanup` hook is not a step: it runs once when the attempt ends, however it ends. A canary
 * writes its own `hook` steps (their records are keyed by the step's name) and may have a cleanup
 * hook too.
 */
import type { CanaryStep, RolloutSpec } from '../spec/rollout-model.js';
import type { NamedMatch } from '../spec/types.js';

export type PlanStep =
  /** Includes `hook`: run a hook and wait for it; a failed hook aborts the rollout. */
  | CanaryStep
  /** Blue-green promotion: the new version takes over the fallback lane. */
  | { kind: 'switch' };

/** The steps of a rollout, in order. Deterministic: the same spec always gives the same plan. */
export function planOf(rollout: RolloutSpec): PlanStep[] {
  const s = rollout.strategy;
  if (s.kind === 'canary') return s.steps;
  const plan: PlanStep[] = [];
  if (s.hooks.preRollout) plan.push({ kind: 'hook', name: 'preRollout', hook: s.hooks.preRollout });
  if (s.previewWeight > 0) plan.push({ kind: 'setWeight', weight: s.previewWeight });
  if (s.prePromotionAnalysis) plan.push({ kind: 'analysis', templates: s.prePromotionAnalysis.templates });
  if (!s.autoPromotionEnabled) plan.push({ kind: 'pause', durationMs: null });
  else if (s.autoPromotionDelayMs !== null) plan.push({ kind: 'pause', durationMs: s.autoPromotionDelayMs });
  if (s.promotion === 'switch') plan.push({ kind: 'switch' });
  if (s.hooks.postPromotion) plan.push({ kind: 'hook', name: 'postPromotion', hook: s.hooks.postPromotion });
  return plan;
}

/** One line per step for the CLI and events: `setWeight 10`, `pause 2m`, `analysis error-rate, p99`. */
export function describeStep(step: PlanStep, rollout: RolloutSpec): string {
  switch (step.kind) {
    case 'setWeight':
      return `setWeight ${step.weight}`;
    case 'pause':
      return step.durationMs === null ? 'pause (until promoted)' : `pause ${formatDuration(step.durationMs)}`;
    case 'analysis':
      return `analysis ${step.templates.join(', ')}`;
    case 'setHeaderRoute':
      return step.header === null ? 'setHeaderRoute (remove)' : `setHeaderRoute ${describeMatch(step.header)}`;
    case 'hook':
      return `hook ${step.name}`;
    case 'switch':
      return `switch ${rollout.service} to ${rollout.canary}`;
  }
}

function describeMatch(m: NamedMatch): string {
  if (m.equals !== undefined) return `${m.name} = ${m.equals}`;
  if (m.in !== undefined) return `${m.name} in [${m.in.join(', ')}]`;
  if (m.pattern !== undefined) return `${m.name} ~ /${m.pattern}/`;
  return `${m.name} present`;
}

/** 90000 -> `1m30s`, 1500 -> `1.5s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${ms / 1000}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
