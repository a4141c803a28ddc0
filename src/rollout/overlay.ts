/**
 * From rollout status to the routing overlay the gateway compiles (`Status.services[service]`).
 * This is the controller's only effect on traffic; the user's spec is never rewritten.
 *
 * | rollout                          | overlay                                                  |
 * |----------------------------------|----------------------------------------------------------|
 * | running, weight w                | split {stable: 100-w, canary: w} (zero shares left out),  |
 * |                                  | plus a rule header -> canary lane while a header route is set |
 * | blue-green after `switch`        | stableVersion: canary, split {stable: 100}               |
 * | aborted (Degraded)               | split {stable: 100}, withdrawn [canary]: the canary gets  |
 * |                                  | nothing, not even requests rules put into its lane        |
 * | completed, canary / switch       | stableVersion: canary (no split, no rules)               |
 * | completed, blue-green upgrade    | nothing                                                  |
 *
 * An abort is the emergency stop: the routes' own rules (a users list, a percent rule, a keyword)
 * that put requests into the canary's lane are served as if the service had no canary version (its
 * fallback, or 503 for a fail-closed lane), and mirrors to it stop, until a retry or a changed spec
 * starts a new attempt. Only this service withdraws it: in full-link gray the lane goes on to the
 * other services' versions of that name.
 *
 * While a rollout runs it owns the service's split (replacing any split of its routes); once it has
 * completed it hands the split and rules back to the spec.
 *
 * What "the canary becomes stable" means: the fallback lane (normally `stable`) is served by the
 * canary version's endpoints, by the overlay's `stableVersion`; the traffic stays *in the stable
 * lane*, so downstream services keep serving it from their own stable versions (putting it in the
 * canary lane would drag the whole call chain along). The stable version's own endpoints then get no
 * traffic. This lasts as long as the completed rollout stays in the spec unchanged: to finish, point
 * the spec's stable version at the new endpoints (or redeploy them with the new code) and remove the
 * rollout, which removes the overlay without moving traffic. Editing the rollout instead starts a new
 * attempt, whose overlay no longer carries `stableVersion`. The blue-green `cleanup` hook is the place
 * to tear down what is no longer served (the old stable after a switch, the preview after an upgrade).
 */
import type { ServiceOverlay } from '../routing/types.js';
import type { RolloutSpec } from '../spec/rollout-model.js';
import type { RolloutStatus } from '../status/rollout-status.js';

/** The overlay for the rollout's service. A rollout that has not run yet holds all traffic on stable. */
export function overlayFor(rollout: RolloutSpec, status: RolloutStatus | null): ServiceOverlay {
  const { stable, canary } = rollout;
  if (status === null) return { split: { [stable]: 100 } };
  if (status.phase === 'Degraded') return { split: { [stable]: 100 }, withdrawn: [canary] };
  if (status.phase === 'Healthy') {
    const st = rollout.strategy;
    if (st.kind === 'blueGreen' && st.promotion === 'upgrade') return {};
    return { stableVersion: canary };
  }
  if (status.switched) return { stableVersion: canary, split: { [stable]: 100 } };
  const overlay: ServiceOverlay = { split: splitOf(stable, canary, status.weight) };
  if (status.headerRoute !== null) {
    overlay.rules = [{ name: `rollout ${rollout.name} header route`, lane: canary, header: { ...status.headerRoute } }];
  }
  return overlay;
}

/**
 * Overlays of every rollout by service, ready for `Status.services`. Statuses are looked up by
 * rollout name; a missing one counts as not yet run.
 */
export function overlaysFor(
  rollouts: readonly RolloutSpec[],
  statuses: ReadonlyMap<string, RolloutStatus> | Readonly<Record<string, RolloutStatus>>,
): Record<string, ServiceOverlay> {
  const get = (name: string): RolloutStatus | null =>
    statuses instanceof Map ? (statuses.get(name) ?? null) : ((statuses as Record<string, RolloutStatus>)[name] ?? null);
  const out: Record<string, ServiceOverlay> = {};
  for (const r of rollouts) out[r.service] = overlayFor(r, get(r.name));
  return out;
}

function splitOf(stable: string, canary: string, weight: number): Record<string, number> {
  if (weight <= 0) return { [stable]: 100 };
  if (weight >= 100) return { [canary]: 100 };
  return { [stable]: 100 - weight, [canary]: weight };
}
