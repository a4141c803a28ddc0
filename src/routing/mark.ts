/**
 * Marking: which lane a request of one route goes into. compileMark() turns a route (plus the
 * controller's overlay for its service) into a `mark(req, ctx)` function. The first step that
 * decides wins:
 *
 * 1. `trusted`: the route trusts incoming lanes and the request carries one: the lane header, then
 *    each alias header, then the W3C `baggage` member `graylane-lane`.
 * 2. `pinned`: the route pins a lane (one host per environment).
 * 3. rules: the overlay's rules (`rollout.rules[i]`), then the route's (`rules[i]`), first match wins;
 *    `by` is the rule's name.
 * 4. ingress-nginx canaries in order (`canary[i].header|cookie|weight`), each with ingress-nginx's
 *    precedence: header, then cookie, then weight.
 * 4b. releases entering at this route (`release NAME`): the release's share of users, by a bucket of
 *    the release's own salt (so its population is independent of the route's percent rules; sticky
 *    and monotonic as they are). Only while a release runs; no cost otherwise.
 * 5. `split`: the overlay's split replacing the route's; smooth weighted round robin per request,
 *    or by bucket ranges when `stickySplit` and an identity exists.
 * 6. `default`: the service's fallback lane.
 *
 * Every percent, canary weight and sticky split of a route compares the same per-user bucket with a
 * threshold, so their populations nest like rings: `alpha: 1%` then `beta: 10%` gives alpha the
 * buckets below 100 and beta the 9% from 100 to 999 (beta's 10% counts alpha's users). A later step
 * only gains users above the thresholds before it; salts differ per route, not per step.
 *
 * A lane need not be a version of this route's service: it still marks, the lane header carries it
 * downstream (full-link gray), and dispatch falls back for this service. Every MarkResult is built
 * here once and shared; per request, mark allocates one Subject and, only for `trusted` or a minted
 * visitor id, one result object.
 */
import { LANE_BAGGAGE_KEY, joinHeader } from '@graylane/lanes';
import type { NginxCanary, RouteSpec } from '../spec/types.js';
import type { ConditionCheck, MarkContext, MarkResult, MarkTrace, ReleaseShare, RequestView, ServiceOverlay } from './types.js';
import { CompileError } from './errors.js';
import { BUCKETS, saltSeed } from './hash.js';
import { Subject, type IdentityPlan } from './identity.js';
import { baggageValue, cookieValue, headerValue } from './request-values.js';
import { bucketDetail, compileRegex } from './conditions.js';
import { compileRule, type CompiledRule } from './rules.js';
import { SmoothWrr } from './wrr.js';

/** The W3C baggage member a trusted lane may arrive in (the SDK's). */
export const BAGGAGE_LANE_KEY = LANE_BAGGAGE_KEY;

/** The longest lane value accepted from a trusted request; anything longer is ignored. */
const MAX_LANE_LENGTH = 128;
/**
 * A byte a trusted lane may not hold: anything but visible ASCII and space. The lane is written as
 * a header value upstream (and to the client with exposeLane) unchecked, and its baggage form is
 * percent-decoded, so `%0D%0A` (or `%C4%8A`, U+010A, whose latin1 byte is LF) would split the head.
 */
const NOT_LANE_TEXT = /[^\x20-\x7e]/;

export type MarkFn = (req: RequestView, ctx: MarkContext, trace?: MarkTrace) => MarkResult;

export interface MarkOptions {
  /** Where the route sits in the spec, for errors: `routes[2]`. */
  keyPath: string;
  /** The service's fallback lane (step 6). */
  fallback: string;
  /** The controller's overlay for the route's service. */
  overlay?: ServiceOverlay;
  /** Running releases whose entry is this route (Status.routes[name].releases). */
  releases?: readonly ReleaseShare[] | undefined;
  /** Lower-cased lane header first, then its aliases. */
  laneHeaders: readonly string[];
}

/** Builds the mark function of one route. Throws CompileError on a bad regex, range or weight. */
export function compileMark(route: RouteSpec, opts: MarkOptions): MarkFn {
  const { keyPath, overlay } = opts;
  const plan: IdentityPlan = {
    sources: route.identity,
    visitorCookie: route.visitorCookie?.name ?? null,
    seed: saltSeed(route.salt),
  };

  const trusted = route.trustLane ? trustedLaneReader(opts.laneHeaders) : null;
  const pinned: MarkResult | null =
    route.lane !== undefined ? freeze({ lane: route.lane, assignment: 'targeted', by: 'pinned', reason: `route pins lane ${route.lane}` }) : null;

  const rules: CompiledRule[] = [
    ...(overlay?.rules ?? []).map((r, i) =>
      compileRule(r, `status.services.${route.service}.rules[${i}]`, `rollout.rules[${i}]`),
    ),
    ...route.rules.map((r, i) => compileRule(r, `${keyPath}.rules[${i}]`, `rules[${i}]`)),
  ];
  const canaries = route.canary.map((c, i) => compileCanary(c, i, `${keyPath}.canary[${i}]`));
  const running = (opts.releases ?? []).filter((r) => r.percent > 0);
  const releases = running.map(compileReleaseShare);
  // A rollout's split replaces the route's (setWeight), also on routes that declare none.
  const split =
    overlay?.split !== undefined
      ? compileSplit(overlay.split, opts.fallback, 'rollout split', `status.services.${route.service}.split`)
      : route.split !== undefined
        ? compileSplit(route.split, opts.fallback, 'split', `${keyPath}.split`)
        : null;
  const fallback = freeze({
    lane: opts.fallback,
    assignment: 'chance',
    by: 'default',
    reason: `no rule, canary or split marked the request: service fallback lane ${opts.fallback}`,
  });
  const sticky = route.stickySplit;

  function decide(s: Subject, trace: MarkTrace | undefined): MarkResult {
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (trace !== undefined) {
        const step = rule.check(s);
        trace.steps.push(step);
        if (step.matched) return rule.result;
      } else if (rule.test(s)) {
        return rule.result;
      }
    }
    for (let i = 0; i < canaries.length; i++) {
      const checks: ConditionCheck[] | undefined = trace === undefined ? undefined : [];
      const r = canaries[i]!(s, checks);
      if (trace !== undefined) trace.steps.push({ step: `canary[${i}]`, lane: route.canary[i]!.lane, matched: r !== null, checks: checks! });
      if (r !== null) return r;
    }
    for (let i = 0; i < releases.length; i++) {
      const checks: ConditionCheck[] | undefined = trace === undefined ? undefined : [];
      const r = releases[i]!(s, checks);
      if (trace !== undefined) trace.steps.push({ step: `release ${running[i]!.name}`, lane: running[i]!.lane, matched: r !== null, checks: checks! });
      if (r !== null) return r;
    }
    if (split !== null) {
      if (sticky && s.stickyId() !== undefined) {
        const r = split.byBucket(s.bucket());
        if (trace !== undefined) {
          trace.steps.push({ step: 'split', lane: r.lane, matched: true, checks: [{ condition: r.reason, holds: true, bucket: s.bucket(), detail: `bucket ${s.bucket()}` }] });
        }
        return r;
      }
      const r = split.wrr.next()!;
      if (trace !== undefined) trace.steps.push({ step: 'split', lane: r.lane, matched: true, checks: [{ condition: r.reason, holds: true }] });
      return r;
    }
    return fallback;
  }

  return function mark(req: RequestView, ctx: MarkContext, trace?: MarkTrace): MarkResult {
    if (trusted !== null) {
      const r = trusted(req);
      if (r !== null) return r;
    }
    if (pinned !== null) return pinned;
    const s = new Subject(plan, req, ctx);
    const r = decide(s, trace);
    if (trace !== undefined) {
      const bucket = s.bucketCheck();
      if (bucket !== undefined) trace.bucket = bucket;
    }
    return s.minted === undefined ? r : { ...r, setVisitorId: s.minted };
  };
}

/**
 * A release's share: bucket (release salt, sticky id) < threshold. Without an identity (and no
 * visitor cookie) the draw is per request, as for percent rules.
 */
function compileReleaseShare(share: ReleaseShare): (s: Subject, checks?: ConditionCheck[]) => MarkResult | null {
  const seed = saltSeed(share.salt);
  const t = Math.round((share.percent / 100) * BUCKETS);
  const result = freeze({
    lane: share.lane,
    assignment: 'chance',
    by: `release ${share.name}`,
    reason: `release ${share.name}: ${share.percent}% of users (bucket < ${t}, salt ${JSON.stringify(share.salt)}) -> lane ${share.lane}`,
  });
  const text = `release ${share.name} share ${share.percent}% (salt ${JSON.stringify(share.salt)})`;
  return (s, checks) => {
    const bucket = s.bucketWith(seed);
    if (checks !== undefined) checks.push({ condition: text, holds: bucket < t, bucket, threshold: t, detail: bucketDetail(bucket, t) });
    return bucket < t ? result : null;
  };
}

function freeze(r: MarkResult): MarkResult {
  return Object.freeze(r);
}

/**
 * A lane value from a trusted request: the first of a comma-joined list (node joins repeated
 * headers with ', '), trimmed; '' or over-long values are ignored.
 */
function laneFrom(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const comma = v.indexOf(',');
  const lane = (comma === -1 ? v : v.slice(0, comma)).trim();
  return lane !== '' && lane.length <= MAX_LANE_LENGTH && !NOT_LANE_TEXT.test(lane) ? lane : undefined;
}

function trustedLaneReader(laneHeaders: readonly string[]): (req: RequestView) => MarkResult | null {
  const reasons = laneHeaders.map((h, i) => `trusted lane from ${i === 0 ? 'lane header' : 'alias header'} ${h}`);
  const baggageReason = `trusted lane from baggage member ${BAGGAGE_LANE_KEY}`;
  return (req) => {
    const headers = req.headers;
    for (let i = 0; i < laneHeaders.length; i++) {
      const lane = laneFrom(headerValue(headers, laneHeaders[i]!));
      if (lane !== undefined) return { lane, assignment: 'targeted', by: 'trusted', reason: reasons[i]! };
    }
    const b = headers.get('baggage');
    if (b !== undefined) {
      const v = baggageValue(joinHeader(b), BAGGAGE_LANE_KEY);
      const lane = v === undefined ? undefined : laneFrom(v);
      if (lane !== undefined) return { lane, assignment: 'targeted', by: 'trusted', reason: baggageReason };
    }
    return null;
  };
}

/**
 * One ingress-nginx canary, with the precedence of ingress-nginx's balancer
 * (`route_to_alternative_balancer`): the header first, then the cookie, then the weight.
 * - header: with byHeaderValue set, that exact value -> canary; with byHeaderPattern set, a match ->
 *   canary; with neither, `always` -> canary and `never` -> not this canary. Any other value (and, as
 *   in ingress-nginx, `always`/`never` when a value or pattern is set) goes on to the cookie.
 * - cookie: `always` -> canary, `never` -> not this canary, anything else -> the weight.
 * - weight: out of weightTotal, by the request's bucket (sticky for an identity, else random).
 * "Not this canary" moves on to the next canary (rings), then the split.
 */
export function compileCanary(
  c: NginxCanary,
  index: number,
  keyPath: string,
): (s: Subject, checks?: ConditionCheck[]) => MarkResult | null {
  if (typeof c.lane !== 'string' || c.lane === '') throw new CompileError(`${keyPath}.lane`, 'a canary needs a lane');
  const lane = c.lane;
  const name = `canary[${index}]`;
  const header = c.byHeader ? c.byHeader.toLowerCase() : undefined;
  const value = c.byHeaderValue ? c.byHeaderValue : undefined;
  const pattern =
    value === undefined && c.byHeaderPattern ? compileRegex(c.byHeaderPattern, `${keyPath}.byHeaderPattern`) : undefined;
  const cookie = c.byCookie ? c.byCookie : undefined;
  const weight = c.weight ?? 0;
  const total = c.weightTotal ?? 100;
  if (!(weight >= 0) || !(total > 0) || weight > total) {
    throw new CompileError(`${keyPath}.weight`, `weight must be within 0..weightTotal (${total}), got ${weight}`);
  }
  const t = Math.round((weight / total) * BUCKETS);

  const headerTest =
    value !== undefined ? `equals ${JSON.stringify(value)}` : pattern !== undefined ? `matches /${c.byHeaderPattern}/` : 'is "always"';
  const byHeader = freeze({ lane, assignment: 'targeted', by: `${name}.header`, reason: `${name}: header ${header} ${headerTest} -> lane ${lane}` });
  const byCookie = freeze({ lane, assignment: 'targeted', by: `${name}.cookie`, reason: `${name}: cookie ${cookie} is "always" -> lane ${lane}` });
  const byWeight = freeze({
    lane,
    assignment: 'chance',
    by: `${name}.weight`,
    reason: `${name}: weight ${weight}/${total} (bucket < ${t}) -> lane ${lane}`,
  });

  const headerText = `header ${header} ${headerTest}`;
  const cookieText = `cookie ${cookie} is "always" ("never": not this canary)`;
  const weightText = `weight ${weight}/${total} (bucket < ${t})`;
  // `checks` is given by explain only: each test that ran is recorded, with what it read.
  return (s, checks) => {
    if (header !== undefined) {
      const v = headerValue(s.req.headers, header);
      if (checks !== undefined) checks.push({ condition: headerText, holds: isCanaryHeader(v), detail: read(v) });
      if (v !== undefined) {
        if (value !== undefined) {
          if (v === value) return byHeader;
        } else if (pattern !== undefined) {
          if (pattern.test(v)) return byHeader;
        } else if (v === 'always') {
          return byHeader;
        } else if (v === 'never') {
          return null;
        }
      }
    }
    if (cookie !== undefined) {
      const v = cookieValue(headerValue(s.req.headers, 'cookie'), cookie);
      if (checks !== undefined) checks.push({ condition: cookieText, holds: v === 'always', detail: read(v) });
      if (v === 'always') return byCookie;
      if (v === 'never') return null;
    }
    if (t <= 0) return null;
    if (t >= BUCKETS) {
      if (checks !== undefined) checks.push({ condition: weightText, holds: true, detail: 'everyone' });
      return byWeight;
    }
    const bucket = s.bucket();
    if (checks !== undefined) checks.push({ condition: weightText, holds: bucket < t, bucket, threshold: t, detail: bucketDetail(bucket, t) });
    return bucket < t ? byWeight : null;
  };

  function isCanaryHeader(v: string | undefined): boolean {
    if (v === undefined) return false;
    return value !== undefined ? v === value : pattern !== undefined ? pattern.test(v) : v === 'always';
  }
}

/** What a canary read, for explain. */
function read(v: string | undefined): string {
  return v === undefined ? 'absent' : `read ${JSON.stringify(v)}`;
}

interface CompiledSplit {
  /** Per-request choice. */
  readonly wrr: SmoothWrr<MarkResult>;
  /** Sticky choice: the lane whose bucket range holds `bucket` (0..9999). */
  byBucket(bucket: number): MarkResult;
}

/**
 * A split as smooth WRR plus sticky bucket ranges; null when no weight is positive (the split then
 * marks nothing). The ranges put the non-fallback lanes first in declared order, starting at bucket
 * 0, and the fallback last, so raising a canary's weight widens its range and keeps the users it had.
 */
function compileSplit(
  weights: Record<string, number>,
  fallbackLane: string,
  label: string,
  keyPath: string,
): CompiledSplit | null {
  for (const [lane, w] of Object.entries(weights)) {
    if (!(w >= 0) || !Number.isFinite(w)) throw new CompileError(`${keyPath}.${lane}`, `weight must be >= 0, got ${w}`);
  }
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  if (entries.length === 0) return null;
  const desc = Object.entries(weights)
    .map(([lane, w]) => `${lane}:${w}`)
    .join(' ');

  const wrr = new SmoothWrr(
    entries.map(
      ([lane, w]) =>
        [freeze({ lane, assignment: 'chance', by: 'split', reason: `${label} ${desc} (smooth weighted round robin) -> lane ${lane}` }), w] as const,
    ),
  );

  const ordered = [...entries.filter(([l]) => l !== fallbackLane), ...entries.filter(([l]) => l === fallbackLane)];
  const total = ordered.reduce((sum, [, w]) => sum + w, 0);
  const bounds: number[] = [];
  const results: MarkResult[] = [];
  let cum = 0;
  let lo = 0;
  for (let i = 0; i < ordered.length; i++) {
    const [lane, w] = ordered[i]!;
    cum += w;
    const hi = i === ordered.length - 1 ? BUCKETS : Math.round((cum / total) * BUCKETS);
    bounds.push(hi);
    results.push(freeze({ lane, assignment: 'chance', by: 'split', reason: `sticky ${label} ${desc} (buckets ${lo}..${hi - 1}) -> lane ${lane}` }));
    lo = hi;
  }
  const last = results[results.length - 1]!;
  return {
    wrr,
    byBucket(bucket) {
      for (let i = 0; i < bounds.length; i++) if (bucket < bounds[i]!) return results[i]!;
      return last;
    },
  };
}
