/**
 * May an edge proxy cache a decision, and for how long. Caching is where the speed is (a cached
 * decision costs the proxy one lookup, no round trip), and where correctness is lost: a cached
 * answer is replayed for every request with the same key, so the key must determine the decision.
 *
 * The key `graylane export nginx` writes is (route, identity value). It determines the decision
 * only when nothing but the identity is read, so a route's decisions are cacheable only when:
 *
 * - it does not trust incoming lanes (the client's lane header would decide);
 * - every rule, the rollout's overlay rules included, reads only `users` and `percent` (no path,
 *   header, cookie, query or app-version condition);
 * - every canary is weight-only (no header or cookie);
 * - its split, the rollout's included, is sticky (by bucket, not per request);
 * - or a pinned lane decides everything (nothing is read at all).
 *
 * and one decision is cacheable only when, besides (checkCacheable):
 *
 * - the request has an identity from the route's `identity` sources (never anonymous: an anonymous
 *   bucket is random or a visitor id minted for this one request);
 * - it carries no `baggage` (the answer's baggage is the request's, with the lane member set);
 * - the proxy says which route and identity it keys the answer by, and graylane read the same
 *   (`X-Graylane-Route`, `X-Graylane-Identity`, written by the exported nginx config). An answer is
 *   stored under a key only when graylane confirmed that key, so whatever nginx and graylane read
 *   differently (repeated headers, encodings) costs a cache miss, never another user's decision.
 *
 * A rollout step or abort changes decisions in the snapshot at once; a cached decision lives on
 * until its TTL ends: DECISION_TTL_SECONDS is how late a weight change or an abort reaches a
 * cached user (docs/integrations.md).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { readSource } from '../routing/identity.js';
import type { CompiledRoute, RequestView, ServiceOverlay, Snapshot } from '../routing/types.js';
import type { RouteSpec, ValueSource } from '../spec/types.js';

/** How long a proxy may reuse a cacheable decision. */
export const DECISION_TTL_SECONDS = 5;

/** The check request headers the exported nginx config sets to say what it keys a decision by. */
export const CACHE_ROUTE_HEADER = 'x-graylane-route';
export const CACHE_IDENTITY_HEADER = 'x-graylane-identity';

/** Whether a route's decisions depend on the identity alone; when not, the first reason why. */
export type RouteCaching = { readonly cacheable: true } | { readonly cacheable: false; readonly reason: string };

const IDENTITY_ONLY: RouteCaching = Object.freeze({ cacheable: true });

/**
 * Whether every decision of `route` (with its service's rollout overlay) is a function of the
 * identity value alone. Pure; mirrors the marking order of src/routing/mark.ts.
 *
 * @example
 * routeCaching({ ...route, rules: [{ lane: 'beta', percent: 10 }] }, undefined)   // { cacheable: true }
 * routeCaching({ ...route, split: { stable: 3, beta: 1 } }, undefined)             // { cacheable: false, reason: 'split ...' }
 */
export function routeCaching(route: RouteSpec, overlay: ServiceOverlay | undefined): RouteCaching {
  if (route.trustLane) return no('trustLane: a lane the request carries decides');
  if (route.lane !== undefined) return IDENTITY_ONLY;
  if (route.identity.length === 0) return no('the route has no identity sources: every request is anonymous');
  const overlayRules = overlay?.rules ?? [];
  for (let i = 0; i < overlayRules.length; i++) {
    const reads = nonIdentityReads(overlayRules[i]!);
    if (reads !== null) return no(`the rollout's rule rollout.rules[${i}] reads ${reads}`);
  }
  for (let i = 0; i < route.rules.length; i++) {
    const reads = nonIdentityReads(route.rules[i]!);
    if (reads !== null) return no(`rule ${route.rules[i]!.name ?? `rules[${i}]`} reads ${reads}`);
  }
  for (let i = 0; i < route.canary.length; i++) {
    const c = route.canary[i]!;
    if (c.byHeader) return no(`canary[${i}] reads the header ${c.byHeader}`);
    if (c.byCookie) return no(`canary[${i}] reads the cookie ${c.byCookie}`);
  }
  const split = overlay?.split ?? route.split;
  if (split !== undefined && !route.stickySplit) {
    return no(`${overlay?.split !== undefined ? "the rollout's split" : 'split'} is chosen per request (stickySplit is off)`);
  }
  return IDENTITY_ONLY;
}

/** What a rule reads besides the identity (`users`, `percent`), in words; null when nothing. */
function nonIdentityReads(rule: RouteSpec['rules'][number]): string | null {
  if (rule.path !== undefined) return 'the path';
  if (rule.header !== undefined) return `the header ${rule.header.name}`;
  if (rule.cookie !== undefined) return `the cookie ${rule.cookie.name}`;
  if (rule.query !== undefined) return `the query parameter ${rule.query.name}`;
  if (rule.appVersion !== undefined) return 'the app version';
  return null;
}

function no(reason: string): RouteCaching {
  return { cacheable: false, reason };
}

/** A route's caching, with what checkCacheable needs of its spec. */
interface RouteCachePlan {
  readonly caching: RouteCaching;
  readonly identity: readonly ValueSource[];
}

/** Per snapshot, computed on its first check: routes are compiled once per snapshot, so is this. */
const plans = new WeakMap<Snapshot, Map<CompiledRoute, RouteCachePlan>>();

/** The plan of every route of `snapshot` (snapshot.routes[i] is compiled from spec.routes[i]). */
function plansOf(snapshot: Snapshot): Map<CompiledRoute, RouteCachePlan> {
  let byRoute = plans.get(snapshot);
  if (byRoute !== undefined) return byRoute;
  byRoute = new Map();
  snapshot.routes.forEach((route, i) => {
    const spec = snapshot.spec.routes[i]!;
    byRoute!.set(route, { caching: routeCaching(spec, snapshot.status.services?.[spec.service]), identity: spec.identity });
  });
  plans.set(snapshot, byRoute);
  return byRoute;
}

/** The route's caching in `snapshot` (a route of another snapshot, or a mesh route: not cacheable). */
export function cachingOf(snapshot: Snapshot, route: CompiledRoute): RouteCaching {
  return plansOf(snapshot).get(route)?.caching ?? no('the route is not one of the snapshot\'s routes');
}

/**
 * The one-decision check (see the module comment): the route's decisions depend on the identity
 * alone, the request has one and no baggage, and the proxy keys the answer by this very route and
 * identity. `claimed` reads a check request header that must appear once (undefined otherwise).
 */
export function checkCacheable(
  snapshot: Snapshot,
  route: CompiledRoute,
  view: RequestView,
  headers: IncomingHttpHeaders,
  claimed: (name: string) => string | undefined,
): boolean {
  const plan = plansOf(snapshot).get(route);
  if (plan === undefined || !plan.caching.cacheable) return false;
  if (headers.baggage !== undefined) return false;
  if (claimed(CACHE_ROUTE_HEADER) !== route.name) return false;
  const identity = identityOf(plan.identity, view);
  return identity !== undefined && identity === claimed(CACHE_IDENTITY_HEADER);
}

/** The first value among the route's identity sources; the visitor cookie does not count (anonymous). */
function identityOf(sources: readonly ValueSource[], view: RequestView): string | undefined {
  for (let i = 0; i < sources.length; i++) {
    const v = readSource(view, sources[i]!);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * The caching headers of an answer, `[name, value, ...]`. nginx's proxy_cache reads
 * X-Accel-Expires before Cache-Control; `no-store` keeps every cache (nginx's included) from
 * storing the answer.
 */
export function cachingHeaders(cacheable: boolean): readonly string[] {
  return cacheable ? CACHEABLE : NOT_CACHEABLE;
}

const CACHEABLE: readonly string[] = Object.freeze(['cache-control', `max-age=${DECISION_TTL_SECONDS}`, 'x-accel-expires', String(DECISION_TTL_SECONDS)]);
const NOT_CACHEABLE: readonly string[] = Object.freeze(['cache-control', 'no-store']);
