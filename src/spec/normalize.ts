/**
 * Config data -> Spec: defaults filled, durations in milliseconds, names lower-cased where HTTP
 * says case does not matter, and every cross-reference checked. One normalizer per top-level
 * section; a new section (admin, rollouts, store...) is a block in schema/graylane.schema.json, a
 * field in types.ts and one more line here.
 */
import type { Spec } from './types.js';
import { rec, type NormalizeContext } from './context.js';
import { normalizeDecide } from './sections/decide.js';
import { normalizeGateway } from './sections/gateway.js';
import { normalizeMesh } from './sections/mesh.js';
import { normalizeNotifications } from './sections/notifications.js';
import { normalizeReleaseSection } from './sections/releases.js';
import { normalizeRolloutSection } from './sections/rollouts.js';
import { normalizeRoutes } from './sections/routes.js';
import { normalizeServices } from './sections/services.js';
import { normalizeTracing } from './sections/tracing.js';
import { normalizeWorkers } from './sections/workers.js';

/** Builds the Spec and reports into `ctx`; the result is only meaningful when ctx.issues is empty. */
export function normalizeSpec(data: unknown, ctx: NormalizeContext): Spec {
  const doc = rec(data);
  const services = normalizeServices(doc, ctx);
  const routes = normalizeRoutes(doc, ctx);
  const rolloutPart = normalizeRolloutSection(doc, services, ctx);
  return {
    ...normalizeGateway(doc, ctx),
    services,
    routes,
    ...rolloutPart,
    ...normalizeReleaseSection(doc, { services, routes, rollouts: rolloutPart.rollouts, templates: rolloutPart.analysisTemplates }, ctx),
    ...normalizeMesh(doc, ctx),
    ...normalizeDecide(doc, ctx),
    ...normalizeWorkers(doc, ctx),
    ...normalizeNotifications(doc, ctx),
    ...normalizeTracing(doc, ctx),
  };
}
