/**
 * Admin API routes for releases (docs/rollouts.md#releases): a release is one row with its services
 * inside, and the rollout verbs apply to all of it at once (the controller runs it as one status).
 *
 * ```
 * GET  /api/v1/releases                        { releases: ReleaseView[] }
 * GET  /api/v1/releases/:name?events=20        ReleaseView + { events }
 * GET  /api/v1/releases/:name/events?after=SEQ&limit=N   { events }
 * POST /api/v1/releases/:name/promote          { full?: boolean }
 * POST /api/v1/releases/:name/abort | retry | pause | resume | undo    {}
 * ```
 * Answers and refusals are those of the rollout routes (the same code: src/admin/steered-routes.ts),
 * with 404 `unknown_release` for a name the config does not declare.
 */
import type { AbortPending, RolloutController } from '../rollout/controller.js';
import { releaseView, type ReleaseView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';
import type { ApiRoute } from './server.js';
import { bare, PROMOTE, steeredRoutes } from './steered-routes.js';

/** The ReleaseView with its recent events, as `GET /api/v1/releases/:name` answers. */
export interface ReleaseDetail extends ReleaseView {
  events: StoredEvent[];
}

export function releaseRoutes(controller: RolloutController): ApiRoute[] {
  const releases = {
    prefix: '/api/v1/releases',
    listKey: 'releases',
    list: () => controller.listReleases(),
    get: (name: string) => controller.getRelease(name),
    events: controller.releaseEvents.bind(controller),
    command: controller.releaseCommand.bind(controller),
    view: releaseView,
    notDurable: (p: AbortPending) => `abort applied to routing on this gateway, but NOT yet durable: the state store refused to write it (${p.error}); it is retried`,
  };
  return steeredRoutes(releases, [PROMOTE, bare('abort'), bare('retry'), bare('pause'), bare('resume'), bare('undo')]);
}
