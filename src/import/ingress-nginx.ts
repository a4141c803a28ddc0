/**
 * ingress-nginx Ingresses (networking.k8s.io/v1, and extensions/v1beta1 or networking.k8s.io/v1beta1
 * with serviceName/servicePort) -> graylane services and routes.
 *
 * A canary Ingress (`nginx.ingress.kubernetes.io/canary: "true"`) adds an alternative backend to the
 * main Ingress with the same host and path; here it becomes a `canary` entry of that route, whose lane
 * is a version (`canary`) of the main backend's service. The semantics follow ingress-nginx's
 * balancer (rootfs/etc/nginx/lua/balancer.lua, route_to_alternative_balancer):
 * - header first: with canary-by-header-value, that exact value; else with canary-by-header-pattern,
 *   a match; else `always` / `never`; any other value goes on to the cookie;
 * - then the cookie (`always` / `never`), then the weight, drawn per request (`math.random`), so the
 *   routes get no identity and no visitor cookie;
 * - canary-weight-total only counts above 100 (below, ingress-nginx uses 100);
 * - only the first canary of a host and path is used ("a maximum of one canary Ingress per rule").
 */
import type { Path } from '../spec/paths.js';
import { checkRegex } from '../spec/regex-safety.js';
import { k8sMeta, list, rec, text, versionRegexNote, type ImportContext, type OutCanary, type OutMatch, type OutRoute } from './config.js';
import type { SourceDoc } from './documents.js';
import { valueProblem } from './values.js';

const PREFIX = 'nginx.ingress.kubernetes.io/';
const CANARY_KEYS = [
  'canary',
  'canary-by-header',
  'canary-by-header-value',
  'canary-by-header-pattern',
  'canary-by-cookie',
  'canary-weight',
  'canary-weight-total',
] as const;
/** Bookkeeping of kubectl, with no meaning for routing: not worth a warning. */
const SILENT_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** One backend path of an Ingress. */
interface IngressPath {
  host: string | undefined;
  /** undefined: the Ingress's default backend. */
  path: string | undefined;
  pathType: string;
  service: string;
  port: number | string | undefined;
  at: Path;
}

interface ParsedIngress {
  doc: SourceDoc;
  name: string;
  namespace: string;
  paths: IngressPath[];
  canary: OutCanary | null;
}

/** Whether `data` is an Ingress of an API version this importer reads. */
export function isIngress(data: Record<string, unknown>): boolean {
  return (
    data.kind === 'Ingress' &&
    (data.apiVersion === 'networking.k8s.io/v1' || data.apiVersion === 'networking.k8s.io/v1beta1' || data.apiVersion === 'extensions/v1beta1')
  );
}

/** Imports every Ingress of `docs` into `ctx`: main Ingresses first, then their canaries. */
export function importIngresses(docs: readonly SourceDoc[], ctx: ImportContext): void {
  const parsed = docs.map((doc) => parseIngress(doc, ctx)).filter((p): p is ParsedIngress => p !== null);
  const mains = new Map<string, { route: OutRoute; owner: ParsedIngress; canaries: number }>();

  for (const ing of parsed.filter((p) => p.canary === null)) {
    ing.paths.forEach((p, i) => {
      const key = pathKey(p);
      const existing = mains.get(key);
      if (existing) {
        ctx.warn(ing.doc, p.at, `${describe(p)} is already served by Ingress ${existing.owner.namespace}/${existing.owner.name}; ingress-nginx uses one of them, graylane keeps the first`);
        return;
      }
      const svc = mainService(ctx, ing, p);
      const route = ctx.addRoute({ name: ing.paths.length > 1 ? `${ing.name}-${i + 1}` : ing.name, match: toMatch(ctx, ing.doc, p), service: svc });
      const routes = ctx.ingressRoutes.get(`${ing.namespace}/${ing.name}`) ?? [];
      routes.push(route.name);
      ctx.ingressRoutes.set(`${ing.namespace}/${ing.name}`, routes);
      mains.set(key, { route, owner: ing, canaries: 0 });
    });
  }

  for (const ing of parsed.filter((p) => p.canary !== null)) {
    for (const p of ing.paths) {
      const main = mains.get(pathKey(p));
      if (!main) {
        ctx.error(ing.doc, p.at, `canary Ingress ${ing.namespace}/${ing.name}: no main Ingress serves ${describe(p)} (a canary Ingress needs a main Ingress with the same host and path)`);
        continue;
      }
      if (main.canaries > 0) {
        ctx.warn(ing.doc, p.at, `${describe(p)} already has a canary; ingress-nginx applies only one canary Ingress per host and path, so this one is not imported`);
        continue;
      }
      main.canaries++;
      const lane = canaryVersion(ctx, main.route.service, ing, p);
      const canary: OutCanary = { ...ing.canary!, lane };
      main.route.canary = [canary];
      if ((canary.weight ?? 0) > 0) {
        // ingress-nginx draws the weight per request: no identity, no visitor cookie.
        main.route.identity = [];
        main.route.visitorCookie = false;
      }
    }
  }
}

function parseIngress(doc: SourceDoc, ctx: ImportContext): ParsedIngress | null {
  const data = rec(doc.data);
  const { name, namespace, annotations } = k8sMeta(data);
  const spec = rec(data.spec);
  const v1 = data.apiVersion === 'networking.k8s.io/v1';
  const paths: IngressPath[] = [];
  ctx.noteSource(doc, 'ingress-nginx');

  const backendOf = (raw: unknown, at: Path): { service: string; port: number | string | undefined } | null => {
    const b = rec(raw);
    if (b.resource !== undefined) {
      ctx.warn(doc, [...at, 'resource'], 'a resource backend is not a Service: not imported');
      return null;
    }
    const service = v1 ? text(rec(b.service).name) : text(b.serviceName);
    if (service === undefined || service === '') {
      ctx.error(doc, at, v1 ? 'backend needs service.name' : 'backend needs serviceName');
      return null;
    }
    const port = v1 ? (rec(rec(b.service).port).number ?? text(rec(rec(b.service).port).name)) : b.servicePort;
    return { service, port: typeof port === 'number' || typeof port === 'string' ? port : undefined };
  };

  const defaultKey = v1 ? 'defaultBackend' : 'backend';
  if (spec[defaultKey] !== undefined) {
    const b = backendOf(spec[defaultKey], ['spec', defaultKey]);
    if (b) paths.push({ host: undefined, path: undefined, pathType: 'Prefix', ...b, at: ['spec', defaultKey] });
  }
  list(spec.rules).forEach((rawRule, i) => {
    const rule = rec(rawRule);
    const host = text(rule.host)?.toLowerCase();
    const hostProblem = host === undefined ? undefined : valueProblem('host', host);
    if (hostProblem) ctx.error(doc, ['spec', 'rules', i, 'host'], hostProblem);
    list(rec(rule.http).paths).forEach((rawPath, j) => {
      const at = ['spec', 'rules', i, 'http', 'paths', j];
      const p = rec(rawPath);
      const path = text(p.path) ?? '/';
      const pathProblem = valueProblem('path', path);
      if (pathProblem) ctx.error(doc, [...at, 'path'], pathProblem);
      const b = backendOf(p.backend, [...at, 'backend']);
      if (b && !hostProblem && !pathProblem) paths.push({ host, path, pathType: text(p.pathType) ?? 'ImplementationSpecific', ...b, at });
    });
  });
  if (spec.tls !== undefined) ctx.warn(doc, ['spec', 'tls'], 'TLS is not imported: graylane serves plain HTTP (terminate TLS in front of it)');

  const isCanary = text(annotations[`${PREFIX}canary`]) === 'true';
  for (const key of Object.keys(annotations)) {
    if (SILENT_ANNOTATIONS.has(key)) continue;
    const short = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : undefined;
    if (short !== undefined && (CANARY_KEYS as readonly string[]).includes(short)) {
      if (!isCanary && short !== 'canary') {
        ctx.warn(doc, ['metadata', 'annotations', key], `${key} has no effect without nginx.ingress.kubernetes.io/canary: "true" (ingress-nginx ignores it): not imported`);
      }
      continue;
    }
    ctx.warn(
      doc,
      ['metadata', 'annotations', key],
      isCanary
        ? `annotation ${key} is not imported (and ingress-nginx ignores most annotations of a canary Ingress)`
        : `annotation ${key} is not imported: graylane has no equivalent`,
    );
  }
  const canary = isCanary ? parseCanary(doc, ctx, annotations) : null;
  if (isCanary && canary === undefined) return null;
  return { doc, name, namespace, paths, canary: canary ?? null };
}

/** The canary annotations -> a canary entry (lane filled in later); undefined when malformed. */
function parseCanary(doc: SourceDoc, ctx: ImportContext, annotations: Record<string, unknown>): OutCanary | undefined {
  const at = (key: string): Path => ['metadata', 'annotations', `${PREFIX}${key}`];
  const get = (key: string): string | undefined => {
    const v = text(annotations[`${PREFIX}${key}`]);
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const canary: OutCanary = { lane: '' };
  let ok = true;

  const header = get('canary-by-header');
  const value = get('canary-by-header-value');
  let pattern = get('canary-by-header-pattern');
  const headerProblem = header === undefined ? undefined : valueProblem('headerName', header);
  if (headerProblem) {
    ctx.error(doc, at('canary-by-header'), headerProblem);
    ok = false;
  } else if (header !== undefined) {
    canary.byHeader = header.toLowerCase();
    if (value !== undefined) canary.byHeaderValue = value;
    if (value !== undefined && pattern !== undefined) {
      ctx.warn(doc, at('canary-by-header-pattern'), 'ignored because canary-by-header-value is set (as ingress-nginx does)');
      pattern = undefined;
    }
    if (pattern !== undefined) {
      const problem = checkRegex(pattern);
      if (problem) {
        // Without its pattern the header would mean always/never: leave header routing out entirely.
        ctx.warn(doc, at('canary-by-header-pattern'), `cannot be used by graylane (${problem.message}): header routing of this canary is not imported`);
        delete canary.byHeader;
      } else {
        canary.byHeaderPattern = pattern;
        const note = versionRegexNote(canary.byHeader, pattern);
        if (note !== undefined) ctx.warn(doc, at('canary-by-header-pattern'), note);
      }
    }
  } else {
    for (const key of ['canary-by-header-value', 'canary-by-header-pattern']) {
      if (get(key) !== undefined) ctx.warn(doc, at(key), 'has no effect without canary-by-header (as in ingress-nginx): not imported');
    }
  }

  const cookie = get('canary-by-cookie');
  const cookieProblem = cookie === undefined ? undefined : valueProblem('cookieName', cookie);
  if (cookieProblem) {
    ctx.error(doc, at('canary-by-cookie'), cookieProblem);
    ok = false;
  } else if (cookie !== undefined) canary.byCookie = cookie;

  const weightText = get('canary-weight');
  const totalText = get('canary-weight-total');
  let total = 100;
  if (totalText !== undefined) {
    if (!/^\d+$/.test(totalText) || Number(totalText) === 0) {
      ctx.error(doc, at('canary-weight-total'), `must be a whole number above 0, got ${JSON.stringify(totalText)}`);
      ok = false;
    } else if (Number(totalText) < 100) {
      ctx.warn(doc, at('canary-weight-total'), `ingress-nginx only honours canary-weight-total above 100 and uses 100 here: imported as weightTotal 100`);
    } else {
      total = Number(totalText);
    }
  }
  if (weightText !== undefined) {
    if (!/^\d+$/.test(weightText)) {
      ctx.error(doc, at('canary-weight'), `must be a whole number from 0 to canary-weight-total (${total}), got ${JSON.stringify(weightText)}`);
      ok = false;
    } else if (Number(weightText) > total) {
      ctx.error(doc, at('canary-weight'), `must be at most canary-weight-total (${total}), got ${weightText}`);
      ok = false;
    } else {
      canary.weight = Number(weightText);
      if (total !== 100) canary.weightTotal = total;
    }
  }
  if (canary.byHeader === undefined && canary.byCookie === undefined && canary.weight === undefined) {
    ctx.warn(doc, at('canary'), 'a canary without canary-by-header, canary-by-cookie or canary-weight receives no traffic (weight 0)');
    canary.weight = 0;
  }
  return ok ? canary : undefined;
}

/** The graylane service of a main backend (stable version = the Service's cluster DNS name). */
function mainService(ctx: ImportContext, ing: ParsedIngress, p: IngressPath): string {
  const key = `k8s:${ing.namespace}/${p.service}:${p.port ?? ''}`;
  const { name, service, created } = ctx.claimService(key, p.service);
  if (created) {
    service.versions.stable = endpoints(ctx, ing, p);
    if (!ctx.k8sServices.has(`${ing.namespace}/${p.service}`)) {
      ctx.k8sServices.set(`${ing.namespace}/${p.service}`, { service: name, version: 'stable', port: p.port });
    }
  }
  return name;
}

/** The version of `service` serving the canary backend: `canary`, or `canary-2`... for a second one. */
function canaryVersion(ctx: ImportContext, service: string, ing: ParsedIngress, p: IngressPath): string {
  const svc = ctx.services.get(service)!;
  const urls = endpoints(ctx, ing, p);
  for (const [version, existing] of Object.entries(svc.versions)) {
    if (version !== 'stable' && existing.join(',') === urls.join(',')) return version;
  }
  const version = ctx.uniqueName('canary', (n) => Object.hasOwn(svc.versions, n));
  svc.versions[version] = urls;
  if (!ctx.k8sServices.has(`${ing.namespace}/${p.service}`)) {
    ctx.k8sServices.set(`${ing.namespace}/${p.service}`, { service, version, port: p.port });
  }
  return version;
}

function endpoints(ctx: ImportContext, ing: ParsedIngress, p: IngressPath): string[] {
  if (typeof p.port === 'string' && !ctx.hasEndpointOverride(ing.namespace, p.service)) {
    const port = Number(p.port);
    if (Number.isInteger(port) && port > 0) return ctx.k8sEndpoints(ing.doc, [...p.at, 'backend'], ing.namespace, p.service, port);
    ctx.warn(ing.doc, p.at, `Service port "${p.port}" is a port name, which only the Service knows: the endpoint uses port 80; pass endpoints ${p.service}=URL to set it`);
  }
  return ctx.k8sEndpoints(ing.doc, [...p.at, 'backend'], ing.namespace, p.service, p.port);
}

/**
 * The route match of a path. Exact -> `path`; ImplementationSpecific (ingress-nginx: an nginx prefix
 * location) -> `pathPrefix`; Prefix -> `pathPrefix`, which is a string prefix where Kubernetes
 * compares whole path elements (`/app` matches `/app/x` but not `/apps`).
 */
function toMatch(ctx: ImportContext, doc: SourceDoc, p: IngressPath): OutMatch {
  const match: OutMatch = {};
  if (p.host !== undefined) match.host = p.host;
  if (p.path === undefined) return match; // default backend: every host and path
  if (p.pathType === 'Exact') {
    match.path = p.path;
  } else {
    match.pathPrefix = p.path;
    if (p.pathType === 'Prefix' && p.path !== '/') {
      ctx.warn(doc, [...p.at, 'pathType'], `pathType Prefix matches whole path elements (${p.path} matches ${p.path.replace(/\/$/, '')}/x, not ${p.path.replace(/\/$/, '')}x); graylane's pathPrefix is a string prefix and also matches the latter`);
    }
  }
  return match;
}

function pathKey(p: IngressPath): string {
  return `${p.host ?? '*'} ${p.path ?? '(default backend)'}`;
}

function describe(p: IngressPath): string {
  return p.path === undefined ? 'the default backend' : `host ${p.host ?? '(any)'} path ${p.path}`;
}
