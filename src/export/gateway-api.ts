/**
 * graylane spec -> Gateway API HTTPRoutes (gateway.networking.k8s.io/v1): what graylane routes can
 * say in that form, and a warning for each rule, canary entry or setting they cannot, so a team can
 * see where graylane goes beyond it.
 *
 * - Each route is one HTTPRoute: `match.host` its hostname, `match.path` / `pathPrefix` the path of
 *   every match. Versions are backendRefs: a version whose endpoints are cluster DNS names
 *   (`NAME.NAMESPACE.svc[.cluster.local][:PORT]`) is that Service; any other is named
 *   `<service>-<version>` (warned: create that Service).
 * - A rule becomes an HTTPRoute rule, in order (an HTTPRoute rule with more conditions wins ties,
 *   so graylane's first-match order holds only where the conditions do not overlap: warned when a
 *   later rule has more conditions than an earlier one). `header` / `query` `equals` -> Exact,
 *   `pattern` -> RegularExpression, `in` -> one match per value, `present` -> RegularExpression
 *   `.*`; a cookie -> a RegularExpression on the Cookie header; `path.prefix` -> PathPrefix,
 *   `contains` / `regex` -> RegularExpression; `headers` -> a RequestHeaderModifier filter.
 * - What Gateway API cannot express is warned and the rule left out (exporting it without the
 *   condition would widen it): `users` (user lists), `appVersion` (version ranges), `percent`
 *   (a sticky percentage of users).
 * - ingress-nginx style `canary` entries: by header value / pattern / `always`, by cookie
 *   `always`, and the weight (per request, as in Gateway API); `never` values are warned.
 * - `split` -> the weights of the unconditional last rule (`stickySplit` warned: per request there);
 *   `lane` -> a single backend; `mirror` -> RequestMirror with its percent.
 */
import { stringify } from 'yaml';
import type { NamedMatch, RouteSpec, Rule, Spec } from '../spec/types.js';

export interface ExportWarning {
  /** Where in the graylane spec: `routes[1].rules[0]`. */
  path: string;
  message: string;
}

export interface ExportResult {
  /** The HTTPRoutes, one YAML document each, with the warnings in a header comment. */
  yaml: string;
  routes: HTTPRoute[];
  warnings: ExportWarning[];
}

export interface ExportOptions {
  /** metadata.namespace of every HTTPRoute (default: none written). */
  namespace?: string;
  /** parentRefs[0].name: the Gateway the routes attach to (default `graylane`... your Gateway). */
  gateway?: string;
}

type HeaderMatch = { type: 'Exact' | 'RegularExpression'; name: string; value: string };
type HTTPRouteMatch = { path?: { type: 'Exact' | 'PathPrefix' | 'RegularExpression'; value: string }; headers?: HeaderMatch[]; queryParams?: HeaderMatch[] };
type BackendRef = { name: string; namespace?: string; port?: number; weight?: number };
type Filter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] } }
  | { type: 'RequestMirror'; requestMirror: { backendRef: BackendRef; percent: number } };
interface HTTPRouteRule {
  matches?: HTTPRouteMatch[];
  filters?: Filter[];
  backendRefs: BackendRef[];
}
export interface HTTPRoute {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'HTTPRoute';
  metadata: { name: string; namespace?: string };
  spec: { parentRefs: { name: string }[]; hostnames?: string[]; rules: HTTPRouteRule[] };
}

const CLUSTER_DNS = /^https?:\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?(?::(\d+))?\/?$/;

/** Exports every route of `spec`; pure. */
export function exportGatewayApi(spec: Spec, opts: ExportOptions = {}): ExportResult {
  const warnings: ExportWarning[] = [];
  const routes = spec.routes.map((route, i) => exportRoute(spec, route, i, opts, warnings));
  const header = [
    '# Gateway API HTTPRoutes written by `graylane export gateway-api`.',
    ...(warnings.length === 0
      ? ['# Everything the graylane routes say is expressed here.']
      : [`# ${warnings.length} ${warnings.length === 1 ? 'warning' : 'warnings'}: what Gateway API cannot express (left out or approximated), and what to create:`, ...warnings.map((w) => `#   ${w.path}: ${w.message}`)]),
  ].join('\n');
  const yaml = `${header}\n${routes.map((r) => `---\n${stringify(r, { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' })}`).join('')}`;
  return { yaml, routes, warnings };
}

/** A backendRef for a version: its Service when the endpoint is a cluster DNS name. */
function backendFor(spec: Spec, route: RouteSpec, version: string, at: string, warnings: ExportWarning[]): BackendRef {
  const service = spec.services[route.service]!;
  const v = service.versions[version] ?? service.versions[service.fallback];
  const chosen = service.versions[version] ? version : service.fallback;
  const endpoint = v?.endpoints[0] ?? '';
  const m = CLUSTER_DNS.exec(endpoint);
  if (m && v!.endpoints.length === 1) return { name: m[1]!, namespace: m[3]!, ...(m[5] ? { port: Number(m[5]) } : {}) };
  const name = `${route.service}-${chosen}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const message = `version ${chosen} of ${route.service} has endpoints, not a Kubernetes Service: backendRef ${name} (create a Service of that name for ${v?.endpoints.join(', ') ?? 'them'})`;
  // Said once per version, where it is first used.
  if (!warnings.some((w) => w.message === message)) warn(warnings, at, message);
  return { name, port: 80 };
}

function warn(warnings: ExportWarning[], path: string, message: string): void {
  if (!warnings.some((w) => w.path === path && w.message === message)) warnings.push({ path, message });
}

function exportRoute(spec: Spec, route: RouteSpec, i: number, opts: ExportOptions, warnings: ExportWarning[]): HTTPRoute {
  const at = `routes[${i}]`;
  const backend = (lane: string, where: string): BackendRef => backendFor(spec, route, lane, where, warnings);
  const pathMatch = route.match.path !== undefined ? { type: 'Exact' as const, value: route.match.path } : { type: 'PathPrefix' as const, value: route.match.pathPrefix ?? '/' };
  const rules: HTTPRouteRule[] = [];
  const service = spec.services[route.service]!;

  if (route.lane !== undefined) {
    rules.push({ matches: [{ path: pathMatch }], backendRefs: [backend(route.lane, `${at}.lane`)] });
  } else {
    let conditions = 0;
    route.rules.forEach((rule, j) => {
      const r = exportRule(rule, pathMatch, `${at}.rules[${j}]`, warnings);
      if (r === undefined) return;
      const n = (r.matches[0]?.headers?.length ?? 0) + (r.matches[0]?.queryParams?.length ?? 0);
      if (n > conditions && rules.length > 0) warn(warnings, `${at}.rules[${j}]`, 'has more conditions than a rule before it: Gateway API tries the rule with more conditions first, graylane the earlier one (the same only when no request matches both)');
      conditions = Math.max(conditions, n);
      rules.push({ matches: r.matches, ...(r.filters ? { filters: r.filters } : {}), backendRefs: [backend(rule.lane, `${at}.rules[${j}]`)] });
    });
    route.canary.forEach((c, j) => {
      const where = `${at}.canary[${j}]`;
      if (c.byHeader !== undefined) {
        const value = c.byHeaderValue !== undefined ? { type: 'Exact' as const, value: c.byHeaderValue } : c.byHeaderPattern !== undefined ? { type: 'RegularExpression' as const, value: c.byHeaderPattern } : { type: 'Exact' as const, value: 'always' };
        if (c.byHeaderValue === undefined && c.byHeaderPattern === undefined) warn(warnings, where, `header ${c.byHeader}: never (keep a request off the canary whatever else says) cannot be expressed; only always is exported`);
        rules.push({ matches: [{ path: pathMatch, headers: [{ name: c.byHeader, ...value }] }], backendRefs: [backend(c.lane, where)] });
      }
      if (c.byCookie !== undefined) {
        warn(warnings, where, `cookie ${c.byCookie}: never cannot be expressed; always is exported as a regex on the Cookie header`);
        rules.push({ matches: [{ path: pathMatch, headers: [{ type: 'RegularExpression', name: 'cookie', value: cookieRegex(c.byCookie, 'always') }] }], backendRefs: [backend(c.lane, where)] });
      }
    });
  }

  // The unconditional last rule: split, a canary weight, or the fallback.
  const weighted = route.canary.find((c) => (c.weight ?? 0) > 0);
  const last: HTTPRouteRule = { matches: [{ path: pathMatch }], backendRefs: [] };
  if (route.lane === undefined) {
    if (route.split && Object.keys(route.split).length > 0) {
      if (route.stickySplit) warn(warnings, `${at}.stickySplit`, 'a split sticky per user cannot be expressed: the weights are exported, drawn per request');
      last.backendRefs = Object.entries(route.split).map(([lane, weight]) => ({ ...backend(lane, `${at}.split`), weight }));
    } else if (weighted) {
      const total = weighted.weightTotal ?? 100;
      last.backendRefs = [
        { ...backend(service.fallback, `${at}.canary`), weight: total - weighted.weight! },
        { ...backend(weighted.lane, `${at}.canary`), weight: weighted.weight! },
      ];
    } else {
      last.backendRefs = [backend(service.fallback, at)];
    }
    rules.push(last);
  }
  if (route.mirror) {
    const target = rules.at(-1)!;
    target.filters = [...(target.filters ?? []), { type: 'RequestMirror', requestMirror: { backendRef: backend(route.mirror.lane, `${at}.mirror`), percent: Math.round(route.mirror.percent) } }];
    if (!Number.isInteger(route.mirror.percent)) warn(warnings, `${at}.mirror`, `percent ${route.mirror.percent} rounded to ${Math.round(route.mirror.percent)} (RequestMirror percent is whole)`);
    if (rules.length > 1) warn(warnings, `${at}.mirror`, 'graylane mirrors every request of the route; the RequestMirror is on its last rule only');
  }
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: route.name.toLowerCase().replace(/[^a-z0-9.-]/g, '-'), ...(opts.namespace ? { namespace: opts.namespace } : {}) },
    spec: {
      parentRefs: [{ name: opts.gateway ?? 'gateway' }],
      ...(route.match.host !== undefined ? { hostnames: [route.match.host] } : {}),
      rules,
    },
  };
}

/** One graylane rule as HTTPRoute matches and filters; undefined (warned) when it cannot be expressed. */
function exportRule(rule: Rule, pathMatch: HTTPRouteMatch['path'], at: string, warnings: ExportWarning[]): { matches: HTTPRouteMatch[]; filters?: Filter[] } | undefined {
  const cannot: string[] = [];
  if (rule.users !== undefined) cannot.push(`a user list (${rule.users.length} users)`);
  if (rule.appVersion !== undefined) cannot.push('an app-version range');
  if (rule.percent !== undefined) cannot.push(`a sticky percentage of users (${rule.percent}%)`);
  if (cannot.length > 0) {
    warn(warnings, at, `${rule.name !== undefined && !/^rules\[\d+\]$/.test(rule.name) ? `rule ${rule.name}: ` : ''}${cannot.join(', ')} cannot be expressed in Gateway API: this rule (lane ${rule.lane}) is left out`);
    return undefined;
  }
  const headers: HeaderMatch[][] = [[]];
  const queries: HeaderMatch[][] = [[]];
  const add = (into: HeaderMatch[][], m: NamedMatch, name: string, cookie: boolean): void => {
    const values = (v: string): HeaderMatch => (cookie ? { type: 'RegularExpression', name: 'cookie', value: cookieRegex(m.name, v) } : { type: 'Exact', name, value: v });
    let alternatives: HeaderMatch[];
    if (m.equals !== undefined) alternatives = [values(m.equals)];
    else if (m.in !== undefined) alternatives = m.in.map(values);
    else if (m.pattern !== undefined) alternatives = [{ type: 'RegularExpression', name: cookie ? 'cookie' : name, value: cookie ? cookiePatternRegex(m.name, m.pattern) : m.pattern }];
    else alternatives = [{ type: 'RegularExpression', name: cookie ? 'cookie' : name, value: cookie ? cookieRegex(m.name, '[^;]*') : '.*' }];
    // Each alternative is its own match (matches are ORed); the conditions within one are ANDed.
    const next: HeaderMatch[][] = [];
    for (const base of into.splice(0)) for (const alt of alternatives) next.push([...base, alt]);
    into.push(...next);
  };
  if (rule.header) add(headers, rule.header, rule.header.name, false);
  if (rule.cookie) add(headers, rule.cookie, 'cookie', true);
  if (rule.query) add(queries, rule.query, rule.query.name, false);
  let path = pathMatch;
  if (rule.path?.prefix !== undefined) path = { type: 'PathPrefix', value: rule.path.prefix };
  else if (rule.path?.contains !== undefined) path = { type: 'RegularExpression', value: `.*${rule.path.contains.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*` };
  else if (rule.path?.regex !== undefined) path = { type: 'RegularExpression', value: rule.path.regex };
  const matches: HTTPRouteMatch[] = [];
  for (const h of headers) for (const q of queries) matches.push({ ...(path ? { path } : {}), ...(h.length ? { headers: h } : {}), ...(q.length ? { queryParams: q } : {}) });
  const mod = rule.headers;
  const filters: Filter[] | undefined = mod
    ? [
        {
          type: 'RequestHeaderModifier',
          requestHeaderModifier: {
            ...(mod.set ? { set: Object.entries(mod.set).map(([name, value]) => ({ name, value })) } : {}),
            ...(mod.add ? { add: Object.entries(mod.add).map(([name, value]) => ({ name, value })) } : {}),
            ...(mod.remove ? { remove: mod.remove } : {}),
          },
        },
      ]
    : undefined;
  return { matches, ...(filters ? { filters } : {}) };
}

/*
 * Gateway API header regexes are matched against the whole value by the common implementations
 * (Envoy's safe_regex), and graylane import reads them so: the cookie regexes below span the whole
 * Cookie header, the cookie anywhere in it.
 */
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A regex on the whole Cookie header for cookie `name` equal to `value` (a regex fragment). */
function cookieRegex(name: string, value: string): string {
  return `(?:.*;\\s*)?${escapeRegex(name)}=${value === '[^;]*' ? value : escapeRegex(value)}(?:;.*)?`;
}

/** The same for a cookie whose value contains a match of `pattern` (approximately: within the value). */
function cookiePatternRegex(name: string, pattern: string): string {
  return `(?:.*;\\s*)?${escapeRegex(name)}=[^;]*(?:${pattern})[^;]*(?:;.*)?`;
}
