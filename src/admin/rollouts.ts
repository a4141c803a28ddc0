/**
 * Admin API routes for rollouts. Reads show the rollout as src/rollout/view.ts folds it; writes are
 * intents handed to the controller, which applies them on its own queue and commits them like its
 * own ticks. A refused intent (RolloutError) is answered with the status its code carries and a
 * reason, and nothing is written.
 *
 * ```
 * GET  /api/v1/rollouts                       { rollouts: RolloutView[] }
 * GET  /api/v1/rollouts/:name?events=20       RolloutView + { events } (the newest, oldest first)
 * GET  /api/v1/rollouts/:name/events?after=SEQ&limit=N   { events }
 * POST /api/v1/rollouts/:name/promote         { full?: boolean }
 * POST /api/v1/rollouts/:name/abort | retry | pause | resume     {}
 * POST /api/v1/rollouts/:name/set-weight      { weight: 0..100 }
 * POST /api/v1/rollouts/:name/undo            {}  (completed, within rollbackWindow: previous stable back)
 * ```
 * Every POST answers with the RolloutView as written, plus `durable: true`. An abort the state
 * store refused to write (full disk, etcd away) already routes on this gateway: it is answered
 * `202` with `durable: false`, `abortPending` and a `warning` saying so, and the controller retries
 * the write until it lands. The routes themselves are steered-routes.ts, shared with releases.
 */
import type { AbortPending, RolloutController } from '../rollout/controller.js';
import { rolloutView, type RolloutView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';
import { ApiError, type ApiRoute } from './server.js';
import { bare, PROMOTE, steeredRoutes } from './steered-routes.js';

/** The RolloutView with its recent events, as `GET /api/v1/rollouts/:name` answers. */
export interface RolloutDetail extends RolloutView {
  events: StoredEvent[];
}

export function rolloutRoutes(controller: RolloutController): ApiRoute[] {
  const rollouts = {
    prefix: '/api/v1/rollouts',
    listKey: 'rollouts',
    list: () => controller.list(),
    get: (name: string) => controller.get(name),
    events: controller.events.bind(controller),
    command: controller.command.bind(controller),
    view: rolloutView,
    notDurable,
  };
  return steeredRoutes(rollouts, [
    PROMOTE,
    bare('abort'),
    bare('retry'),
    bare('undo'),
    bare('pause'),
    bare('resume'),
    {
      path: 'set-weight',
      keys: ['weight'],
      toCommand(body) {
        if (body.weight === undefined) throw new ApiError(400, 'missing_field', 'weight is required (a whole number from 0 to 100)');
        // Any other bad value is refused by the command itself (INVALID_WEIGHT), before looking at the rollout.
        return { type: 'setWeight', weight: body.weight as number };
      },
    },
  ]);
}

/** What the answer to an abort the store has not taken says, for people and scripts alike. */
function notDurable(p: AbortPending): string {
  const next = p.nextAttemptAt === null ? '' : ` (next try ${new Date(p.nextAttemptAt).toISOString()})`;
  return (
    `abort applied to routing on this gateway, but NOT yet durable: the state store refused to write it (${p.error}). ` +
    `The write is retried until the store takes it${next}; other gateways and a restart of this one do not know of the abort until then.`
  );
}
