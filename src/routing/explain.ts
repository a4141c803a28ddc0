/**
 * explain(): what the gateway would do with a request, and why, for `graylane explain` and the admin
 * API. It is a dry run through the very same matchRoute, mark and dispatch the gateway calls, not a
 * re-implementation that could drift from them.
 *
 * It does advance the balancing counters (smooth-WRR state, round-robin cursors) exactly as one real
 * request would. Copying them out first would need the Snapshot to expose its internals, and the
 * effect is the one the Snapshot's contract already allows: which of several equally valid choices
 * the next request gets. The CLI compiles its own Snapshot, so there it touches nothing live; an
 * admin API that must not move the live counters can explain against `compile(spec, status)`.
 * It never advances the mirror accumulator: the mirror is reported as configured.
 */
import type { HeaderModifier, MirrorSpec } from '../spec/types.js';
import type { BucketCheck, HealthView, MarkContext, MarkTrace, RequestView, Snapshot, StepCheck } from './types.js';
import { dispatch } from './dispatch.js';
import { BAGGAGE_LANE_KEY } from './mark.js';
import { baggageValue, headerValue } from './request-values.js';

export interface Explanation {
  /** The matching route's name; null when none matches (the gateway answers 404). */
  route: string | null;
  service: string | null;
  lane: string | null;
  /** Which step of marking decided (see MarkResult.by). */
  by: string | null;
  /** Why the request got its lane (or why no route matched). */
  reason: string;
  /** The version chosen; '' when no endpoint can serve (503); null when no route matched. */
  version: string | null;
  /** The endpoint URL chosen, as configured. */
  endpoint: string | null;
  fellBack: boolean;
  dispatchReason: string | null;
  /** A visitor id the gateway would set as a cookie. */
  setVisitorId?: string;
  /** Header changes of the rule that marked. */
  headers?: HeaderModifier;
  /** The route's mirror, as configured (whether this very request would be copied is not decided). */
  mirror?: MirrorSpec;
  /** Lane headers the request carries that this route does not trust (the gateway strips them). */
  ignoredLaneHeaders?: string[];
  /**
   * Each rule, canary and split step marking checked, in order, up to the one that marked: what each
   * condition read and compared (an app version parsed, a bucket and its threshold). Absent when a
   * trusted or pinned lane decided before any rule ran.
   */
  checks?: StepCheck[];
  /** The request's percent bucket (0..9999) and where it came from, when some step compared it. */
  bucket?: BucketCheck;
}

/** Explains one request against a Snapshot (a dry run; see the module comment on counters). */
export function explain(snapshot: Snapshot, req: RequestView, health: HealthView, ctx: MarkContext): Explanation {
  const route = snapshot.matchRoute(req.host, req.path);
  if (route === undefined) {
    return {
      route: null,
      service: null,
      lane: null,
      by: null,
      reason: `no route matches host ${req.host} and path ${req.path} (404)`,
      version: null,
      endpoint: null,
      fellBack: false,
      dispatchReason: null,
    };
  }
  const trace: MarkTrace = { steps: [] };
  const mark = route.mark(req, ctx, trace);
  const target = dispatch(route.service, mark.lane, health, req.http2Only === true);
  const out: Explanation = {
    route: route.name,
    service: route.service.name,
    lane: mark.lane,
    by: mark.by,
    reason: mark.reason,
    version: target.version,
    endpoint: target.endpoint?.url ?? null,
    fellBack: target.fellBack,
    dispatchReason: target.reason,
  };
  if (trace.steps.length > 0) out.checks = trace.steps;
  if (trace.bucket !== undefined) out.bucket = trace.bucket;
  if (mark.setVisitorId !== undefined) out.setVisitorId = mark.setVisitorId;
  if (mark.headers !== undefined) out.headers = mark.headers;
  const mirror = snapshot.spec.routes[snapshot.routes.indexOf(route)]?.mirror;
  if (mirror !== undefined) out.mirror = mirror;
  if (!route.trustLane) {
    const ignored = snapshot.laneHeaders.filter((h) => headerValue(req.headers, h) !== undefined);
    const baggage = headerValue(req.headers, 'baggage');
    if (baggageValue(baggage, BAGGAGE_LANE_KEY) !== undefined) ignored.push(`baggage (${BAGGAGE_LANE_KEY})`);
    if (ignored.length > 0) out.ignoredLaneHeaders = ignored;
  }
  return out;
}
