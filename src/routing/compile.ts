/**
 * compile(spec, status) -> Snapshot: all the work the hot path must not do, done once. Endpoint URLs
 * parsed, registered endpoints merged, regexes, semver ranges and user Sets built (rules.ts), split
 * weights turned into smooth-WRR state (mark.ts), routes indexed by host. Pure apart from the
 * balancing counters the Snapshot carries; the caller swaps the result in with one assignment.
 */
import { createHash } from 'node:crypto';
import type { RouteMatch, RouteSpec, ServiceSpec, Spec } from '../spec/types.js';
import type { CompiledRoute, CompiledService, CompiledVersion, Endpoint, Snapshot, Status } from './types.js';
import { CompileError } from './errors.js';
import { compileMark } from './mark.js';
import { buildMeshTable, meshRouteSpecs } from './mesh.js';
import { normalizedPattern } from './path.js';

/**
 * Parses an endpoint URL once: `origin` keys the connection pool and passive health, `basePath` (no
 * trailing slash, '' for none) is prepended to request paths. Query and fragment are not used.
 */
export function parseEndpoint(url: string, registered: boolean, keyPath: string): Endpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new CompileError(keyPath, `invalid endpoint URL ${JSON.stringify(url)}`, { cause: err });
  }
  const h2 = u.protocol === 'h2c:' || u.protocol === 'h2:';
  if (u.protocol !== 'http:' && u.protocol !== 'https:' && !h2) {
    throw new CompileError(keyPath, `endpoint URL must be http, https, h2c or h2, got ${JSON.stringify(url)}`);
  }
  const basePath = u.pathname === '/' || u.pathname === '' ? '' : u.pathname.replace(/\/+$/, '');
  // URL.origin is "null" for schemes the WHATWG standard does not know (h2c, h2): build it.
  return { url, origin: h2 ? `${u.protocol}//${u.host.toLowerCase()}` : u.origin, basePath, registered, http2: h2 };
}

/**
 * Static endpoints of a service's versions, then registered ones (Status.registered), deduplicated
 * by origin + basePath (a registration of a static endpoint keeps the static entry). A registered
 * version the spec does not declare becomes a version of its own: an instance that registers as
 * `feature-x` receives lane `feature-x` (full-link gray). Registrations with a malformed URL are
 * skipped: they come from outside at run time and must not stop the routing table from compiling.
 */
function compileVersions(
  name: string,
  svc: ServiceSpec,
  registered: Record<string, string[]> | undefined,
): Map<string, CompiledVersion> {
  const endpoints = new Map<string, Map<string, Endpoint>>();
  const add = (version: string, ep: Endpoint) => {
    let m = endpoints.get(version);
    if (m === undefined) endpoints.set(version, (m = new Map()));
    const key = ep.origin + ep.basePath;
    if (!m.has(key)) m.set(key, ep);
  };
  for (const [version, v] of Object.entries(svc.versions)) {
    if (!endpoints.has(version)) endpoints.set(version, new Map());
    v.endpoints.forEach((url, i) =>
      add(version, parseEndpoint(url, false, `services.${name}.versions.${version}.endpoints[${i}]`)),
    );
  }
  for (const [version, urls] of Object.entries(registered ?? {})) {
    urls.forEach((url, i) => {
      let ep: Endpoint;
      try {
        ep = parseEndpoint(url, true, `status.registered.${name}.${version}[${i}]`);
      } catch {
        return;
      }
      add(version, ep);
    });
  }
  const versions = new Map<string, CompiledVersion>();
  for (const [version, eps] of endpoints) {
    const all = Object.freeze([...eps.values()]);
    const http2Endpoints = all.every((ep) => ep.http2) ? all : Object.freeze(all.filter((ep) => ep.http2));
    versions.set(version, { name: version, endpoints: all, http2Endpoints, cursor: 0, withdrawn: false });
  }
  return versions;
}

function compileService(name: string, svc: ServiceSpec, status: Status): CompiledService {
  const byName = compileVersions(name, svc, status.registered?.[name]);
  const versions = new Map(byName);
  const overlay = status.services?.[name];
  const stableVersion = overlay?.stableVersion;
  // A completed rollout: the fallback lane is served by the new version's endpoints (and cursor).
  // An overlay naming a version that does not exist is ignored rather than leaving a hole.
  if (stableVersion !== undefined && stableVersion !== svc.fallback) {
    const v = versions.get(stableVersion);
    if (v !== undefined) versions.set(svc.fallback, v);
  }
  // An aborted rollout: its canary gets nothing. The fallback is never withdrawn (nothing would be
  // left to fall back to), nor the version now serving it.
  for (const version of overlay?.withdrawn ?? []) {
    const v = versions.get(version);
    if (v !== undefined && version !== svc.fallback && v !== versions.get(svc.fallback)) v.withdrawn = true;
  }
  return Object.freeze({
    name,
    fallback: svc.fallback,
    failClosed: new Set(svc.failClosed),
    versions,
    byName,
    passiveHealth: { ...svc.passiveHealth },
    retry: svc.retry,
  });
}

/** `*.example.com` matches any host ending in `.example.com` (one label or more), not `example.com`. */
function hostMatches(pattern: string | undefined, host: string): boolean {
  if (pattern === undefined) return true;
  if (pattern.startsWith('*.')) return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
  return host === pattern;
}

/**
 * `path` is exact; `pathPrefix` is a plain string prefix (`/api` also matches `/apis`, as
 * ingress-nginx's ImplementationSpecific does; write `/api/` to stop at the segment).
 */
function pathMatches(m: RouteMatch, path: string): boolean {
  if (m.path !== undefined && path !== m.path) return false;
  if (m.pathPrefix !== undefined && !path.startsWith(m.pathPrefix)) return false;
  return true;
}

/**
 * A route's match in the form requests are compared in: the host lower-cased without a trailing
 * dot (as request-view.ts reads `Host`), the paths with their percent-encoding normalised (as
 * routing/path.ts normalises request paths), so `/new%2dcheckout` in a config still matches.
 */
function normalizedMatch(m: RouteMatch, keyPath: string): RouteMatch {
  const out: RouteMatch = {};
  if (m.host !== undefined) out.host = m.host.toLowerCase().replace(/(?<=.)\.$/, '');
  if (m.path !== undefined) out.path = normalizedPattern(m.path, `${keyPath}.path`);
  if (m.pathPrefix !== undefined) out.pathPrefix = normalizedPattern(m.pathPrefix, `${keyPath}.pathPrefix`);
  return out;
}

interface Candidate {
  readonly route: CompiledRoute;
  readonly match: RouteMatch;
  /** Only wildcard hosts are checked per request; exact hosts are settled by the index. */
  readonly wildcard: string | undefined;
}

/**
 * Route lookup in declared order. Routes are indexed by exact host: each exact host gets the list
 * of every route that can match it (its own, wildcard and host-less ones, in declared order); any
 * other host walks the wildcard and host-less routes.
 */
function buildMatcher(routes: readonly CompiledRoute[], specs: readonly RouteSpec[]) {
  const all = routes.map((route, i): Candidate & { host: string | undefined } => {
    const match = normalizedMatch(specs[i]!.match, `routes[${i}].match`);
    const host = match.host;
    return { route, match, host, wildcard: host?.startsWith('*.') ? host : undefined };
  });
  const others = all.filter((c) => c.host === undefined || c.wildcard !== undefined);
  const byHost = new Map<string, Candidate[]>();
  for (const c of all) {
    if (c.host === undefined || c.wildcard !== undefined || byHost.has(c.host)) continue;
    const host = c.host;
    // Wildcards are checked here once, so the per-host list needs no host checks at all.
    byHost.set(
      host,
      all
        .filter((x) => x.host === host || x.host === undefined || (x.wildcard !== undefined && hostMatches(x.wildcard, host)))
        .map((x) => ({ route: x.route, match: x.match, wildcard: undefined })),
    );
  }
  return function matchRoute(host: string, path: string): CompiledRoute | undefined {
    const list = byHost.get(host) ?? others;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.wildcard !== undefined && !hostMatches(c.wildcard, host)) continue;
      if (pathMatches(c.match, path)) return c.route;
    }
    return undefined;
  };
}

/**
 * The mirror decision of a route: an accumulator of hundredths of a percent, so 5% mirrors exactly 5
 * of every 100 requests (the 20th, 40th...), evenly spaced rather than in bursts.
 */
function mirrorDecider(mirror: RouteSpec['mirror']): () => string | null {
  if (mirror === undefined || !(mirror.percent > 0)) return () => null;
  const step = Math.min(10_000, Math.round(mirror.percent * 100));
  const lane = mirror.lane;
  let acc = 0;
  return () => {
    acc += step;
    if (acc < 10_000) return null;
    acc -= 10_000;
    return lane;
  };
}

/** JSON with object keys sorted, so equal specs hash equal whatever order their keys were built in. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] !== undefined) parts.push(`${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Short sha256 hex (12 digits) of the canonical parsed spec alone: the config's content. Comments,
 * key order and spelled-out defaults do not change it, so a file and the same spec applied to etcd,
 * or two gateways on one config, report the same hash (`graylane validate` prints it too).
 */
export function configHash(spec: Spec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 12);
}

/** Short sha256 hex (12 digits) of the canonical spec + status: what a Snapshot was built from. */
export function snapshotId(spec: Spec, status: Status): string {
  return createHash('sha256').update(canonicalJson({ spec, status })).digest('hex').slice(0, 12);
}

/** One route: its service looked up, its mark function built with the service's overlay. */
function compileRoute(
  r: RouteSpec,
  keyPath: string,
  services: ReadonlyMap<string, CompiledService>,
  status: Status,
  laneHeaders: readonly string[],
): CompiledRoute {
  const service = services.get(r.service);
  if (service === undefined) throw new CompileError(`${keyPath}.service`, `unknown service ${JSON.stringify(r.service)}`);
  const overlay = status.services?.[r.service];
  return Object.freeze({
    name: r.name,
    service,
    trustLane: r.trustLane,
    mark: compileMark(r, { keyPath, fallback: service.fallback, overlay, releases: status.routes?.[r.name]?.releases, laneHeaders }),
    mirrorLane: mirrorDecider(r.mirror),
    visitorCookie: r.visitorCookie === null ? null : { name: r.visitorCookie.name, maxAgeMs: r.visitorCookie.maxAgeMs },
  });
}

/**
 * Compiles a validated Spec plus the controller's Status into an immutable Snapshot.
 * Throws CompileError (with the key path) for what validation should have caught: an unknown
 * service, a bad regex, semver range, weight or endpoint URL.
 *
 * @example
 * const snapshot = compile(spec, status);
 * const route = snapshot.matchRoute('prod.example.com', '/checkout');
 * const mark = route?.mark(req, ctx);
 * const target = route && dispatch(route.service, mark.lane, health);
 */
export function compile(spec: Spec, status: Status = {}): Snapshot {
  const services = new Map<string, CompiledService>();
  for (const [name, svc] of Object.entries(spec.services)) services.set(name, compileService(name, svc, status));

  const laneHeaders = Object.freeze([...new Set([spec.laneHeader, ...spec.laneAliases].map((h) => h.toLowerCase()))]);

  const routes = spec.routes.map((r, i) => compileRoute(r, `routes[${i}]`, services, status, laneHeaders));
  // Mesh mode: one implicit trusted route per service, compiled like any other (see mesh.ts).
  const mesh =
    spec.mesh === undefined
      ? null
      : buildMeshTable(meshRouteSpecs(spec).map((r) => compileRoute(r, `mesh.${r.service}`, services, status, laneHeaders)));

  return Object.freeze({
    id: snapshotId(spec, status),
    configHash: configHash(spec),
    spec,
    status,
    routes: Object.freeze(routes),
    services,
    laneHeaders,
    matchRoute: buildMatcher(routes, spec.routes),
    mesh,
  });
}
