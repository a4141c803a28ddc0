/**
 * `releases:` (docs/rollouts.md#releases), normalized by ../release-model.ts after services, routes
 * and rollouts, which its references point at.
 */
import type { AnalysisTemplate, RolloutSpec } from '../rollout-model.js';
import { checkReleaseRefs, normalizeReleases, type ReleaseSpec } from '../release-model.js';
import { isRecord, type NormalizeContext } from '../context.js';
import type { RouteSpec, ServiceSpec } from '../types.js';

export function normalizeReleaseSection(
  data: Record<string, unknown>,
  refs: { services: Record<string, ServiceSpec>; routes: readonly RouteSpec[]; rollouts: readonly RolloutSpec[]; templates: Record<string, AnalysisTemplate> },
  ctx: NormalizeContext,
): { releases?: ReleaseSpec[] } {
  const releases = normalizeReleases(data, refs.templates, ctx);
  // As for rollouts: references only against services that exist as a mapping.
  if (isRecord(data.services)) checkReleaseRefs(releases, refs.services, refs.routes, refs.rollouts, ctx);
  // Left out when there are none, so a config without releases keeps its config hash.
  return releases.length > 0 ? { releases } : {};
}
