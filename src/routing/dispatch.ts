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
 * A request that only HTTP/2 can carry (a gRPC call: `http2Only`) sees only the versions' HTTP/2
 * endpoints (`h2c://`, `h2://`): a version without one counts as absent for it, so it falls back as
 * above, and a fallback without one leaves no endpoint (503; gRPC UNAVAILABLE). An HTTP/1.1
 * upstream cannot answer with trailers, so sending it a gRPC call would fail it anyway.
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
  noHttp2: "the lane's version has no HTTP/2 endpoint for this gRPC call: fallback served",
  failClosedNoHttp2: "fail-closed lane and its version has no HTTP/2 endpoint for this gRPC call: no endpoint (503)",
  nothingHttp2: 'the fallback version has no HTTP/2 endpoint for this gRPC call: no endpoint (503)',
});

/**
 * The next up endpoint of a version by round robin, advancing its cursor; null when none is up.
 * With `ignoreHealth` every endpoint counts as up (panic mode).
 *
 * With `retryOf` (the origin a request just failed on) the cursor does not move, and `retryOf` is
 * chosen only when no other endpoint qualifies. A retry that took the next endpoint's turn would
 * hand the failed one the next request's: with endpoints [dead, good], every request would try the
 * dead one first (and the good one on its retry) until passive health ejects it.
 */
export function nextEndpoint(v: CompiledVersion, health: HealthView, ignoreHealth = false, http2Only = false, retryOf: string | null = null): Endpoint | null {
  const eps = http2Only ? v.http2Endpoints : v.endpoints;
  const n = eps.length;
  if (n === 0) return null;
  const start = v.cursor % n;
  let failedAgain: Endpoint | null = null;
  for (let k = 0; k < n; k++) {
    const i = start + k < n ? start + k : start + k - n;
    const ep = eps[i]!;
    if (!ignoreHealth && !health.isUp(ep.origin)) continue;
    if (retryOf === null) {
      v.cursor = i + 1 === n ? 0 : i + 1;
      return ep;
    }
    if (ep.origin !== retryOf) return ep;
    failedAgain = ep;
  }
  return failedAgain;
}

/**
 * Chooses the version and endpoint for `lane`; with `http2Only` (a gRPC call) among HTTP/2
 * endpoints only. Advances round-robin cursors; never throws. With `retryOf`, the origin a request
 * just failed on, it chooses for that request's retry: the same way, but moving no cursor and
 * avoiding `retryOf` while another endpoint qualifies (nextEndpoint).
 */
export function dispatch(service: CompiledService, lane: string, health: HealthView, http2Only = false, retryOf: string | null = null): DispatchResult {
  const found = service.versions.get(lane);
  const own = found === undefined || found.withdrawn ? undefined : found;
  if (own !== undefined) {
    const ep = nextEndpoint(own, health, false, http2Only, retryOf);
    if (ep !== null) return { version: own.name, endpoint: ep, fellBack: false, reason: DISPATCH_REASON.own };
  }
  // For a gRPC call, a version with endpoints but no HTTP/2 one is as good as absent.
  const noHttp2 = http2Only && own !== undefined && own.endpoints.length > 0 && own.http2Endpoints.length === 0;
  const isFallbackLane = lane === service.fallback;
  if (service.failClosed.has(lane) && !isFallbackLane) {
    return {
      version: '',
      endpoint: null,
      fellBack: false,
      reason: found?.withdrawn
        ? DISPATCH_REASON.failClosedWithdrawn
        : own === undefined
          ? DISPATCH_REASON.failClosedNoVersion
          : noHttp2
            ? DISPATCH_REASON.failClosedNoHttp2
            : DISPATCH_REASON.failClosedDown,
    };
  }
  const fb = service.versions.get(service.fallback);
  const fbEndpoints = fb === undefined ? 0 : http2Only ? fb.http2Endpoints.length : fb.endpoints.length;
  if (fb === undefined || fbEndpoints === 0) {
    const none = http2Only && fb !== undefined && fb.endpoints.length > 0 ? DISPATCH_REASON.nothingHttp2 : DISPATCH_REASON.nothing;
    return { version: '', endpoint: null, fellBack: !isFallbackLane, reason: none };
  }
  if (isFallbackLane) {
    // The lane is the fallback itself and none of its endpoints is up: panic mode.
    return { version: fb.name, endpoint: nextEndpoint(fb, health, true, http2Only, retryOf), fellBack: false, reason: DISPATCH_REASON.ownPanic };
  }
  const why = found?.withdrawn
    ? DISPATCH_REASON.withdrawn
    : own === undefined
      ? DISPATCH_REASON.noVersion
      : own.endpoints.length === 0
        ? DISPATCH_REASON.noEndpoints
        : noHttp2
          ? DISPATCH_REASON.noHttp2
          : DISPATCH_REASON.allDown;
  const ep = nextEndpoint(fb, health, false, http2Only, retryOf);
  if (ep !== null) return { version: fb.name, endpoint: ep, fellBack: true, reason: why };
  return { version: fb.name, endpoint: nextEndpoint(fb, health, true, http2Only, retryOf), fellBack: true, reason: DISPATCH_REASON.fallbackDown };
}

/**
 * True for a gRPC call (`content-type: application/grpc`, `application/grpc+proto`...: gRPC over
 * HTTP/2, "Requests"), which only an HTTP/2 endpoint can serve. gRPC-Web (`application/grpc-web`)
 * works over HTTP/1.1 and is not one. Compares without allocating: it runs on every request.
 */
export function needsHttp2(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.length < GRPC.length) return false;
  for (let i = 0; i < GRPC.length; i++) {
    const c = contentType.charCodeAt(i);
    const want = GRPC.charCodeAt(i);
    // Media types are case-insensitive (RFC 9110 §8.3.1): an upper-case ASCII letter is +32 its lower.
    if (c !== want && !(c >= 65 && c <= 90 && c + 32 === want)) return false;
  }
  if (contentType.length === GRPC.length) return true;
  const next = contentType.charCodeAt(GRPC.length);
  return next === 43 /* + */ || next === 59 /* ; */ || next === 32 /* SP */;
}

const GRPC = 'application/grpc';
