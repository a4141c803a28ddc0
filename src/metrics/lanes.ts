/**
 * The lanes a loaded config can put a request into: the only lane values allowed as metric labels.
 */
import type { Snapshot } from '../routing/types.js';

const cache = new WeakMap<Snapshot, ReadonlySet<string>>();

/**
 * Every lane the snapshot names: its versions, fallbacks and fail-closed lanes, pinned route lanes,
 * rule, canary, split and mirror lanes, and the same from the rollout overlays. Computed once per
 * snapshot.
 */
export function knownLanes(snapshot: Snapshot): ReadonlySet<string> {
  let lanes = cache.get(snapshot);
  if (lanes !== undefined) return lanes;
  const set = new Set<string>();
  const { spec, status } = snapshot;
  for (const svc of Object.values(spec.services)) {
    set.add(svc.fallback);
    for (const lane of svc.failClosed) set.add(lane);
    for (const version of Object.keys(svc.versions)) set.add(version);
  }
  for (const route of spec.routes) {
    if (route.lane !== undefined) set.add(route.lane);
    for (const rule of route.rules) set.add(rule.lane);
    for (const canary of route.canary) set.add(canary.lane);
    for (const lane of Object.keys(route.split ?? {})) set.add(lane);
    if (route.mirror !== undefined) set.add(route.mirror.lane);
  }
  for (const overlay of Object.values(status.services ?? {})) {
    for (const lane of Object.keys(overlay.split ?? {})) set.add(lane);
    for (const rule of overlay.rules ?? []) set.add(rule.lane);
    if (overlay.stableVersion !== undefined) set.add(overlay.stableVersion);
  }
  for (const byVersion of Object.values(status.registered ?? {})) {
    for (const version of Object.keys(byVersion)) set.add(version);
  }
  lanes = set;
  cache.set(snapshot, lanes);
  return lanes;
}
