/**
 * Dispatch: which endpoint serves a request already put into a lane.
 *
 * 1. The service has a version for the lane with an up endpoint: round robin over its up endpoints.
 *    A version withdrawn by an aborted rollout counts as absent.
 * 2. Otherwise (no such version, withdrawn, no endpoints, all down) a fail-closed lane gets no endpoint (the
 *    gateway answers 503): a lane that must never reach the wrong version. The fallback lane itself
 *    has nothing to fall back to, so failClosed does not apply to it: step 3's panic mode does.
 * 3. Otherwise the fallback lane's version serves: round robin over its up endpoints, or over all of
 *    them when every one is down ("panic mode", as Envoy calls it: passive health may be wrong, and
 *    trying a maybe-down endpoint beats a certain 503).
 *
 * `service.versions` is keyed by lane. compile() maps the fallback lane to the rollout's
 * `stableVersion` when an overlay sets one, so a completed rollout serves the fallback lane from the
 * new version without this code knowing about rollouts.
 *
 * The gateway's passive health never ejects the last endpoint in rotation of a version
 * (gateway/health.ts), so a failing version keeps its lane and its errors reach analysis; the
 * "all down" branches serve only a HealthView that says otherwise.
 */
import type { CompiledService, CompiledVersion, DispatchResult, Endpoint, HealthView } from './types.js';

/** Reasons are constants: the result's version, fellBack and the lane already say the rest. */
export const DISPATCH_REASON = Object.freeze({
  own: "the lane's version has an up endpoint",
  noVersion: 'the service has no version for this lane: fallback served',
  withdrawn: "the lane's version is withdrawn (its rollout was aborted): fallback served",
  noEndpoints: "the lane's version has no endpoints: fallback served",
  allDown: "every endpoint of the lane's version is down: fallback served",
  failClosedNoVersion: 'fail-closed lane and the service has no version for it: no endpoint (503)',
  failClosedWithdrawn: 'fail-closed lane and its version is withdrawn (its rollout was aborted): no endpoint (503)',
  failClosedDown: "fail-closed lane and its version has no up endpoint: no endpoint (503)",
  fallbackDown: 'the fallback version has no up endpoint (panic mode: used anyway)',
  ownPanic: 'every endpoint of the fallback version is down (panic mode: used anyway)',
  nothing: 'the fallback version has no endpoints: no endpoint (503)',
});

/**
 * The next up endpoint of a version by round robin, advancing its cursor; null when none is up.
 * With `ignoreHealth` every endpoint counts as up (panic mode).
 */
export function nextEndpoint(v: CompiledVersion, health: HealthView, ignoreHealth = false): Endpoint | null {
  const eps = v.endpoints;
  const n = eps.length;
  if (n === 0) return null;
  const start = v.cursor % n;
  for (let k = 0; k < n; k++) {
    const i = start + k < n ? start + k : start + k - n;
    const ep = eps[i]!;
    if (ignoreHealth || health.isUp(ep.origin)) {
      v.cursor = i + 1 === n ? 0 : i + 1;
      return ep;
    }
  }
  return null;
}

/** Chooses the version and endpoint for `lane`. Advances round-robin cursors; never throws. */
export function dispatch(service: CompiledService, lane: string, health: HealthView): DispatchResult {
  const found = service.versions.get(lane);
  const own = found === undefined || found.withdrawn ? undefined : found;
  if (own !== undefined) {
    const ep = nextEndpoint(own, health);
    if (ep !== null) return { version: own.name, endpoint: ep, fellBack: false, reason: DISPATCH_REASON.own };
  }
  const isFallbackLane = lane === service.fallback;
  if (service.failClosed.has(lane) && !isFallbackLane) {
    return {
      version: '',
      endpoint: null,
      fellBack: false,
      reason: found?.withdrawn ? DISPATCH_REASON.failClosedWithdrawn : own === undefined ? DISPATCH_REASON.failClosedNoVersion : DISPATCH_REASON.failClosedDown,
    };
  }
  const fb = service.versions.get(service.fallback);
  if (fb === undefined || fb.endpoints.length === 0) {
    return { version: '', endpoint: null, fellBack: !isFallbackLane, reason: DISPATCH_REASON.nothing };
  }
  if (isFallbackLane) {
    // The lane is the fallback itself and none of its endpoints is up: panic mode.
    return { version: fb.name, endpoint: nextEndpoint(fb, health, true), fellBack: false, reason: DISPATCH_REASON.ownPanic };
  }
  const why = found?.withdrawn
    ? DISPATCH_REASON.withdrawn
    : own === undefined
      ? DISPATCH_REASON.noVersion
      : own.endpoints.length === 0
        ? DISPATCH_REASON.noEndpoints
        : DISPATCH_REASON.allDown;
  const ep = nextEndpoint(fb, health);
  if (ep !== null) return { version: fb.name, endpoint: ep, fellBack: true, reason: why };
  return { version: fb.name, endpoint: nextEndpoint(fb, health, true), fellBack: true, reason: DISPATCH_REASON.fallbackDown };
}
