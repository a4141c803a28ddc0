/**
 * Mesh mode: the gateway's second listener, which services call for each other by service name.
 * There is no second code path: compile() gives every service an implicit route, `mesh:<service>`,
 * that trusts incoming lanes and has no rules of its own, and the gateway serves mesh requests with
 * those routes exactly as it serves entry requests (same mark, dispatch, pools, health, access log).
 *
 * A mesh request names its service in one of two ways, checked in this order:
 * 1. `Host: <service>` (port ignored, case-insensitive): a DNS alias per service pointing at the
 *    gateway, so an application's `http://orders:8081/api` needs no change. The path is passed on.
 * 2. The first path segment, `/<service>/...`: one base URL for everything, handy where DNS aliases
 *    are not. The `/<service>` prefix is removed before proxying (`/orders/api?x=1` -> `/api?x=1`).
 *
 * Marking on a mesh route: the lane the request carries (lane header, alias, baggage) wins; a
 * request without one goes through the service's rollout overlay (rules, split), then to its
 * fallback, as on any route without rules.
 */
import type { RouteSpec, Spec } from '../spec/types.js';
import type { CompiledRoute, MeshMatch, MeshTable } from './types.js';

/** Route names of implicit mesh routes start with this (`mesh:orders`), in logs, metrics and explain. */
export const MESH_ROUTE_PREFIX = 'mesh:';

/** The implicit route of each service (in the spec's order), as the loader would have built it. */
export function meshRouteSpecs(spec: Spec): RouteSpec[] {
  return Object.keys(spec.services).map((service) => ({
    name: `${MESH_ROUTE_PREFIX}${service}`,
    match: {},
    service,
    // Mesh requests come from our own services, which pass on the lane they were given.
    trustLane: true,
    identity: [],
    visitorCookie: null,
    salt: `${MESH_ROUTE_PREFIX}${service}`,
    rules: [],
    canary: [],
    stickySplit: false,
  }));
}

/**
 * The lookup of the mesh listener over the compiled implicit routes. Every answer is built here
 * once; per request, a Host lookup allocates nothing and a path lookup one substring.
 */
export function buildMeshTable(routes: readonly CompiledRoute[]): MeshTable {
  const byHost = new Map<string, MeshMatch>();
  const byPath = new Map<string, MeshMatch>();
  for (const route of routes) {
    const name = route.service.name;
    // Hosts are compared lower-cased; if two services differ only in case, the first declared keeps the host.
    const host = name.toLowerCase();
    if (!byHost.has(host)) byHost.set(host, Object.freeze({ route, strip: 0 }));
    byPath.set(name, Object.freeze({ route, strip: name.length + 1 }));
  }
  return Object.freeze({
    match(host: string, path: string): MeshMatch | undefined {
      const named = byHost.get(host);
      if (named !== undefined) return named;
      const end = path.indexOf('/', 1);
      return byPath.get(end === -1 ? path.slice(1) : path.slice(1, end));
    },
  });
}

/**
 * The request target to send upstream once `strip` characters (`/<service>`) are cut from `url`
 * (path and query): always starting with `/`. The service was matched on the path without `;`
 * parameters, so parameters of that first segment (`/orders;v=1/7`) go with it.
 */
export function stripMeshPrefix(url: string, strip: number): string {
  if (strip === 0) return url;
  let cut = strip;
  if (url.charCodeAt(cut) === 59 /* ; */) {
    while (cut < url.length && url.charCodeAt(cut) !== 47 /* / */ && url.charCodeAt(cut) !== 63 /* ? */) cut++;
  }
  const rest = url.slice(cut);
  return rest.charCodeAt(0) === 47 /* / */ ? rest : `/${rest}`;
}
