/**
 * The controller's rollouts as the overview, the dashboard and /metrics read them (src/metrics'
 * RolloutSource): views folded from spec and status, with their newest events. Here, not in
 * src/metrics, so that metrics needs only the view types (src/status) and no controller code.
 */
import type { RolloutSource } from '../metrics/observability.js';
import type { RolloutOverview } from '../metrics/overview.js';
import type { RolloutView } from '../status/rollout-view.js';
import type { RolloutController } from './controller.js';
import { rolloutView } from './view.js';

/** How many recent events each rollout of the overview carries. */
export const OVERVIEW_EVENTS = 10;

/** The rollouts of `controller` for metrics and the overview. */
export function rolloutSource(controller: Pick<RolloutController, 'list' | 'events' | 'abortsPending'>): RolloutSource {
  return {
    views: rolloutViewsOf(controller),
    overview: rolloutsOf(controller),
    abortsPending: () => controller.abortsPending(),
  };
}

/** The rollouts of a controller as the overview shows them: views with their newest events. */
function rolloutsOf(controller: Pick<RolloutController, 'list' | 'events'>): () => Promise<RolloutOverview[]> {
  return async () => {
    const states = await controller.list();
    return Promise.all(
      states.map(async (r) => ({
        ...rolloutView(r.spec, r.stored?.status ?? null, r.stored?.revision ?? 0, r.abortPending),
        events: await controller.events(r.spec.name, { last: OVERVIEW_EVENTS }),
      })),
    );
  };
}

/** The rollouts of a controller as views (what the metrics read). */
function rolloutViewsOf(controller: Pick<RolloutController, 'list'>): () => Promise<RolloutView[]> {
  return async () => (await controller.list()).map((r) => rolloutView(r.spec, r.stored?.status ?? null, r.stored?.revision ?? 0, r.abortPending));
}
