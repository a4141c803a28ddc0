/**
 * Rollouts: the model (model.ts), the pure state machine (transitions.ts, analysis.ts, overlay.ts)
 * and the effects at its edge (effects.ts: providers and hooks). The controller loop that ties them
 * to the store is described in transitions.ts.
 */
export * from '../spec/rollout-model.js';
export * from './status.js';
export * from './transitions.js';
export * from './analysis.js';
export * from './errors.js';
export { overlayFor, overlaysFor } from './overlay.js';
export { planOf, describeStep, formatDuration, type PlanStep } from './plan.js';
export { compileExpr, evaluateCondition, ExprError, type CompiledExpr, type ExprErrorCode } from '../spec/expr.js';
export { runAction, type EffectDeps } from './effects.js';
export { runHook, type HookContext } from './hooks.js';
export { providerFor, type MetricProvider, type MeasureContext, type ProviderDeps } from './providers/index.js';
