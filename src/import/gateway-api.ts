/**
 * Gateway API (gateway.networking.k8s.io v1, and v1beta1 HTTPRoute) -> graylane: HTTPRoute and
 * GRPCRoute, the objects OpenKruise Rollout and Flagger drive for canaries.
 *
 * - The backendRefs of one route object are versions of one graylane service: the first backend of
 *   the route's catch-all rule (no header / query conditions; else its first rule) is `stable`, the
 *   others are named after their Service (`reviews-canary` next to `reviews` is `canary`).
 * - Each hostname and path match becomes a graylane route (`Exact` -> `path`, `PathPrefix` ->
 *   `pathPrefix`, `RegularExpression` -> a `path.regex` condition on its rules).
 * - Under one hostname and path, a rule whose match has header / query conditions becomes a rule
 *   marking into its backend's lane; rules with more conditions go first, as Gateway API's precedence
 *   puts the more specific match first. The catch-all's weighted backendRefs become the route's
 *   `split` (per request, as Gateway API weights are).
 * - A RequestHeaderModifier filter becomes the rule's `headers` (set / add / remove); a rule that
 *   must carry one, or whose matched requests are weighted over several backends, becomes one rule per
 *   backend with `percent` shares (sticky per user where Gateway API draws per request: a warning
 *   says so). RequestMirror becomes the route's `mirror`.
 * - GRPCRoute: a gRPC method is the HTTP/2 path `/<service>/<method>`, matched as such. graylane's
 *   gateway speaks HTTP/1.1, so gRPC traffic itself needs the decide listener (the edge proxy
 *   dispatches): every GRPCRoute says so in a warning.
 *
 * What graylane cannot test (a method match, several header or query conditions on one match),
 * and filters and fields without an equivalent, are named in warnings; a match that cannot be
 * expressed is left out rather than widened.
 */
import type { Path } from '../spec/paths.js';
import { checkRegex } from '../spec/regex-safety.js';
import {
  integerWeights,
  k8sMeta,
  list,
  rec,
  text,
  type ImportContext,
  type OutHeaderMatch,
  type OutMatch,
  type OutRoute,
  type OutRule,
  versionRegexNote,
} from './config.js';
import type { SourceDoc } from './documents.js';
import { valueProblem } from './values.js';

const GROUP = 'gateway.networking.k8s.io/';
const VERSIONS = new Set([`${GROUP}v1`, `${GROUP}v1beta1`]);

/** Whether `data` is an HTTPRoute or GRPCRoute this importer reads. */
export function isGatewayApi(data: Record<string, unknown>): boolean {
  return (data.kind === 'HTTPRoute' || data.kind === 'GRPCRoute') && typeof data.apiVersion === 'string' && VERSIONS.has(data.apiVersion);
}

/** A backendRef of a rule, resolved to a version of the route's service. */
interface Backend {
  version: string;
  weight: number;
  at: Path;
}

/** One match of one rule, in graylane's terms. */
interface Match {
  /** Route-level path: `path` or `pathPrefix` (undefined: `/` prefix). */
  match: OutMatch;
  /** Rule-level conditions. */
  pathRegex?: string;
  header?: OutHeaderMatch;
  query?: OutHeaderMatch;
  at: Path;
}

interface Rule {
  index: number;
  matches: Match[];
  backends: Backend[];
  headers?: OutRule['headers'];
  mirror?: { lane: string; percent: number };
  at: Path;
}

interface Ctx {
  ctx: ImportContext;
  doc: SourceDoc;
  kind: 'HTTPRoute' | 'GRPCRoute';
  name: string;
  namespace: string;
}

/** Imports every HTTPRoute and GRPCRoute of `docs` into `ctx`. */
export function importGatewayApi(docs: readonly SourceDoc[], ctx: ImportContext): void {
  for (const doc of docs) importRoute(doc, ctx);
}

function importRoute(doc: SourceDoc, ctx: ImportContext): void {
  const data = rec(doc.data);
  const { name, namespace } = k8sMeta(data);
  const kind = data.kind as 'HTTPRoute' | 'GRPCRoute';
  const c: Ctx = { ctx, doc, kind, name, namespace };
  ctx.noteSource(doc, 'gateway-api');
  const spec = rec(data.spec);
  if (kind === 'GRPCRoute') {
    ctx.warn(doc, [], 'gRPC runs over HTTP/2, which graylane\'s gateway does not proxy: serve these routes through the decide listener, where the edge proxy dispatches (docs/integrations.md)');
  }
  // parentRefs attach the route to a Gateway; graylane is the gateway, with its own listeners.
  for (const key of Object.keys(spec)) {
    if (key !== 'parentRefs' && key !== 'hostnames' && key !== 'rules') ctx.warn(doc, ['spec', key], `spec.${key} is not imported: graylane has no equivalent`);
  }

  const hosts = hostnames(c, spec);
  const rawRules = list(spec.rules);
  if (rawRules.length === 0) {
    ctx.warn(doc, ['spec', 'rules'], `${kind} ${namespace}/${name} has no rules: nothing to import`);
    return;
  }

  // The service: one per route object. `stable` is the heaviest backend of the first rule without
  // header or query conditions (a gRPC method is a path, not a condition), else of the first rule.
  const service = ctx.claimService(`gwapi:${namespace}/${name}`, name);
  const unconditional = (r: unknown): boolean =>
    list(rec(r).matches).every((m) => list(rec(m).headers).length === 0 && list(rec(m).queryParams).length === 0 && (kind === 'GRPCRoute' || rec(m).method === undefined));
  const catchAll = rawRules.findIndex(unconditional);
  const order = catchAll === -1 ? rawRules.map((_, i) => i) : [catchAll, ...rawRules.map((_, i) => i).filter((i) => i !== catchAll)];
  const versionOf = new Map<string, string>();
  let stableService: string | undefined;
  for (const i of order) {
    const refs = list(rec(rawRules[i]).backendRefs).map((raw, j) => ({ raw, j, weight: typeof rec(raw).weight === 'number' ? (rec(raw).weight as number) : 1 }));
    if (i === order[0]) refs.sort((a, b) => b.weight - a.weight || a.j - b.j);
    for (const { raw, j } of refs) {
      const at = ['spec', 'rules', i, 'backendRefs', j];
      const ref = backendRef(c, raw, at);
      if (ref === undefined || versionOf.has(ref.key)) continue;
      stableService ??= ref.name;
      const version = service.service.versions.stable === undefined ? 'stable' : ctx.uniqueName(versionName(stableService, ref.name), (n) => Object.hasOwn(service.service.versions, n));
      service.service.versions[version] = ctx.k8sEndpoints(doc, at, ref.namespace, ref.name, ref.port);
      versionOf.set(ref.key, version);
      if (!ctx.k8sServices.has(`${ref.namespace}/${ref.name}`)) ctx.k8sServices.set(`${ref.namespace}/${ref.name}`, { service: service.name, version, port: ref.port });
    }
  }
  if (service.service.versions.stable === undefined) {
    ctx.error(doc, ['spec', 'rules'], `${kind} ${namespace}/${name} has no Service backendRef graylane can send traffic to`);
    return;
  }

  const rules = rawRules.map((raw, i) => parseRule(c, raw, i, versionOf)).filter((r): r is Rule => r !== undefined);
  // One graylane route per hostname and route-level path; rules grouped under it.
  const groups = new Map<string, { match: OutMatch; entries: { rule: Rule; m: Match }[] }>();
  for (const rule of rules) {
    for (const m of rule.matches) {
      const key = JSON.stringify(m.match);
      const g = groups.get(key) ?? { match: m.match, entries: [] };
      g.entries.push({ rule, m });
      groups.set(key, g);
    }
  }
  // A request on a more specific path whose own rules do not match goes on to the rules of the
  // paths that also cover it (Gateway API weighs every rule of the route); graylane picks one route
  // per request, so each route carries those rules too, after its own.
  const all = [...groups.values()];
  for (const host of hosts) {
    let n = 0;
    for (const g of all) {
      n++;
      const match: OutMatch = { ...(host === undefined ? {} : { host }), ...g.match };
      const route: OutRoute = { name: groups.size > 1 || hosts.length > 1 ? `${name}-${n}${host === undefined || hosts.length === 1 ? '' : `-${host.replace(/^\*\./, 'wildcard.')}`}` : name, match, service: service.name };
      const covering = all.filter((o) => covers(o.match, g.match)).sort((a, b) => pathRank(b.match) - pathRank(a.match));
      fillRoute(c, route, covering.flatMap((o) => o.entries.map((e) => ({ ...e, pathRank: pathRank(o.match) }))));
      ctx.addRoute(route);
    }
  }
}

/** How specific a route-level path is (Gateway API: an exact path, then longer prefixes). */
function pathRank(m: OutMatch): number {
  return m.path !== undefined ? 1_000_000 : (m.pathPrefix ?? '/').length;
}

/** Whether every request `inner` matches (by path) is also matched by `outer`. */
function covers(outer: OutMatch, inner: OutMatch): boolean {
  if (outer.path !== undefined) return inner.path === outer.path;
  const prefix = outer.pathPrefix ?? '/';
  return (inner.path ?? inner.pathPrefix ?? '/').startsWith(prefix);
}

/** spec.hostnames, each checked; `[undefined]` (any host) when none. */
function hostnames(c: Ctx, spec: Record<string, unknown>): (string | undefined)[] {
  const out: string[] = [];
  list(spec.hostnames).forEach((raw, i) => {
    const host = text(raw)?.toLowerCase();
    const problem = host === undefined ? 'hostname must be text' : valueProblem('host', host);
    if (problem) c.ctx.error(c.doc, ['spec', 'hostnames', i], problem);
    else out.push(host!);
  });
  return out.length === 0 ? [undefined] : out;
}

/** A Service backendRef: its identity and port; undefined (with a finding) otherwise. */
function backendRef(c: Ctx, raw: unknown, at: Path): { key: string; name: string; namespace: string; port: number | undefined } | undefined {
  const b = rec(raw);
  const group = text(b.group) ?? '';
  const kind = text(b.kind) ?? 'Service';
  if (group !== '' || kind !== 'Service') {
    c.ctx.warn(c.doc, at, `backendRef ${group === '' ? '' : `${group}/`}${kind} is not a Service: not imported`);
    return undefined;
  }
  const name = text(b.name);
  if (name === undefined || name === '') {
    c.ctx.error(c.doc, at, 'backendRef needs a name');
    return undefined;
  }
  const namespace = text(b.namespace) ?? c.namespace;
  const port = typeof b.port === 'number' ? b.port : undefined;
  if (b.port === undefined) c.ctx.warn(c.doc, at, `backendRef ${name} names no port: the endpoint uses port 80; pass endpoints ${name}=URL to set it`);
  if (b.filters !== undefined) c.ctx.warn(c.doc, [...at, 'filters'], 'filters on a backendRef are not imported (graylane applies header changes per rule)');
  return { key: `${namespace}/${name}:${port ?? ''}`, name, namespace, port };
}

/**
 * The version name of Service `name` next to the stable one: what is left of it after the words
 * the two share (`reviews-canary` next to `reviews` -> `canary`; `app-v2` next to `app-v1` -> `v2`),
 * else the Service name.
 */
export function versionName(stable: string, name: string): string {
  const a = stable.split('-');
  const b = name.split('-');
  let i = 0;
  while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
  const rest = b.slice(i).join('-');
  return rest === '' || rest === 'stable' ? name : rest;
}

function parseRule(c: Ctx, raw: unknown, index: number, versionOf: Map<string, string>): Rule | undefined {
  const r = rec(raw);
  const at: Path = ['spec', 'rules', index];
  for (const key of Object.keys(r)) {
    if (!['matches', 'backendRefs', 'filters', 'name'].includes(key)) c.ctx.warn(c.doc, [...at, key], `rules[].${key} is not imported: graylane has no equivalent per rule`);
  }
  const backends: Backend[] = [];
  list(r.backendRefs).forEach((b, j) => {
    const ref = rec(b);
    const key = `${text(ref.namespace) ?? c.namespace}/${text(ref.name) ?? ''}:${typeof ref.port === 'number' ? ref.port : ''}`;
    const version = versionOf.get(key);
    const weight = ref.weight === undefined ? 1 : ref.weight;
    if (version === undefined) return;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0) {
      c.ctx.error(c.doc, [...at, 'backendRefs', j, 'weight'], `weight must be a whole number from 0, got ${JSON.stringify(weight)}`);
      return;
    }
    backends.push({ version, weight, at: [...at, 'backendRefs', j] });
  });
  if (backends.length === 0) {
    c.ctx.warn(c.doc, at, 'a rule without a Service backendRef answers 500 in Gateway API; graylane has no such rule: not imported');
    return undefined;
  }
  const rule: Rule = { index, matches: [], backends, at };
  filters(c, rule, r.filters, versionOf);
  const rawMatches = list(r.matches);
  if (rawMatches.length === 0) rule.matches.push({ match: {}, at });
  rawMatches.forEach((m, k) => {
    const parsed = c.kind === 'HTTPRoute' ? httpMatch(c, m, [...at, 'matches', k]) : grpcMatch(c, m, [...at, 'matches', k]);
    if (parsed) rule.matches.push(parsed);
  });
  return rule.matches.length === 0 ? undefined : rule;
}

function filters(c: Ctx, rule: Rule, raw: unknown, versionOf: Map<string, string>): void {
  list(raw).forEach((f, i) => {
    const filter = rec(f);
    const at: Path = [...rule.at, 'filters', i];
    const type = text(filter.type);
    if (type === 'RequestHeaderModifier') {
      const mod = rec(filter.requestHeaderModifier);
      const pairs = (key: string): Record<string, string> | undefined => {
        const out: Record<string, string> = {};
        list(mod[key]).forEach((h, j) => {
          const name = text(rec(h).name)?.toLowerCase();
          const value = text(rec(h).value) ?? '';
          const problem = name === undefined ? 'needs a name' : valueProblem('headerName', name) ?? valueProblem('headerValue', value);
          if (problem) c.ctx.error(c.doc, [...at, 'requestHeaderModifier', key, j], problem);
          else out[name!] = value;
        });
        return Object.keys(out).length > 0 ? out : undefined;
      };
      const set = pairs('set');
      const add = pairs('add');
      const remove = list(mod.remove).map((h) => text(h)?.toLowerCase()).filter((h): h is string => h !== undefined);
      rule.headers = { ...(set ? { set } : {}), ...(add ? { add } : {}), ...(remove.length > 0 ? { remove } : {}) };
    } else if (type === 'RequestMirror') {
      const m = rec(filter.requestMirror);
      const ref = rec(m.backendRef);
      const lane = versionOf.get(`${text(ref.namespace) ?? c.namespace}/${text(ref.name) ?? ''}:${typeof ref.port === 'number' ? ref.port : ''}`);
      const fraction = rec(m.fraction);
      const percent =
        typeof m.percent === 'number' ? m.percent : typeof fraction.numerator === 'number' ? (fraction.numerator / (typeof fraction.denominator === 'number' ? fraction.denominator : 100)) * 100 : 100;
      if (lane === undefined) c.ctx.warn(c.doc, at, `RequestMirror to ${text(ref.name) ?? '?'}: graylane mirrors to a version of the route's service, and this Service is no backend of the route: not imported`);
      else rule.mirror = { lane, percent: Math.round(percent * 100) / 100 };
    } else {
      c.ctx.warn(c.doc, at, `filter ${type ?? '(no type)'} is not imported: graylane has no equivalent`);
    }
  });
}

/** An HTTPRouteMatch; undefined (with a warning) when graylane cannot test it as written. */
function httpMatch(c: Ctx, raw: unknown, at: Path): Match | undefined {
  const m = rec(raw);
  if (m.method !== undefined) {
    c.ctx.warn(c.doc, [...at, 'method'], `graylane rules cannot test the method (${text(m.method) ?? '?'}): this match is not imported (importing it without the method would widen it)`);
    return undefined;
  }
  const out: Match = { match: {}, at };
  const path = rec(m.path);
  const type = text(path.type) ?? 'PathPrefix';
  const value = text(path.value) ?? '/';
  if (type === 'RegularExpression') {
    const problem = checkRegex(value);
    if (problem) {
      c.ctx.warn(c.doc, [...at, 'path'], `path regex cannot be used by graylane (${problem.message}): this match is not imported`);
      return undefined;
    }
    out.pathRegex = value;
  } else {
    const problem = valueProblem('path', value);
    if (problem) {
      c.ctx.error(c.doc, [...at, 'path', 'value'], problem);
      return undefined;
    }
    if (type === 'Exact') out.match.path = value;
    else if (value !== '/') {
      out.match.pathPrefix = value;
      c.ctx.warn(c.doc, [...at, 'path'], `PathPrefix ${value} matches whole path elements (not ${value.replace(/\/$/, '')}x); graylane's pathPrefix is a string prefix and also matches the latter`);
    }
  }
  const header = condition(c, m.headers, [...at, 'headers'], 'header');
  const query = condition(c, m.queryParams, [...at, 'queryParams'], 'query');
  if (header === null || query === null) return undefined;
  if (header) out.header = header;
  if (query) out.query = query;
  return out;
}

/** A GRPCRouteMatch: the method is the path `/<service>/<method>`. */
function grpcMatch(c: Ctx, raw: unknown, at: Path): Match | undefined {
  const m = rec(raw);
  const method = rec(m.method);
  const out: Match = { match: {}, at };
  const service = text(method.service);
  const name = text(method.method);
  if (text(method.type) === 'RegularExpression') {
    out.pathRegex = `^/${service ?? '[^/]+'}/${name ?? '[^/]+'}$`;
    const problem = checkRegex(out.pathRegex);
    if (problem) {
      c.ctx.warn(c.doc, [...at, 'method'], `method regex cannot be used by graylane (${problem.message}): this match is not imported`);
      return undefined;
    }
  } else if (service !== undefined && name !== undefined) out.match.path = `/${service}/${name}`;
  else if (service !== undefined) out.match.pathPrefix = `/${service}/`;
  else if (name !== undefined) out.pathRegex = `^/[^/]+/${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  const header = condition(c, m.headers, [...at, 'headers'], 'header');
  if (header === null) return undefined;
  if (header) out.header = header;
  return out;
}

/**
 * The header or query condition of a match: undefined when there is none, null (with a warning)
 * when graylane cannot test it (more than one: a graylane rule tests one header and one query).
 */
function condition(c: Ctx, raw: unknown, at: Path, what: 'header' | 'query'): OutHeaderMatch | undefined | null {
  const items = list(raw);
  if (items.length === 0) return undefined;
  if (items.length > 1) {
    c.ctx.warn(c.doc, at, `${items.length} ${what} conditions on one match: a graylane rule tests one ${what}; this match is not imported`);
    return null;
  }
  const h = rec(items[0]);
  const name = what === 'header' ? text(h.name)?.toLowerCase() : text(h.name);
  const value = text(h.value) ?? '';
  const problem = name === undefined ? 'needs a name' : valueProblem(what === 'header' ? 'headerName' : 'queryName', name);
  if (problem) {
    c.ctx.error(c.doc, [...at, 0, 'name'], problem);
    return null;
  }
  if (text(h.type) === 'RegularExpression') {
    const bad = checkRegex(value);
    if (bad) {
      c.ctx.warn(c.doc, [...at, 0, 'value'], `regex cannot be used by graylane (${bad.message}): this match is not imported`);
      return null;
    }
    const note = what === 'header' ? versionRegexNote(name!, value) : undefined;
    if (note) c.ctx.warn(c.doc, [...at, 0, 'value'], note);
    // Gateway API regexes match the whole value; graylane's `pattern` is unanchored.
    return { name: name!, pattern: `^(?:${value})$` };
  }
  return { name: name!, equals: value };
}

/**
 * Rules and split of one graylane route from the (rule, match) pairs that apply to its path: its own
 * path's first, then those of covering paths (longer first); within one path the most specific
 * first (more conditions), ties in rule order, as Gateway API's precedence says. The first
 * unconditional one ends the list: nothing after it is reached.
 */
function fillRoute(c: Ctx, route: OutRoute, entries: { rule: Rule; m: Match; pathRank: number }[]): void {
  const specificity = (m: Match): number => (m.header ? 1 : 0) + (m.query ? 1 : 0) + (m.pathRegex ? 1 : 0);
  const sorted = entries
    .map((e, i) => ({ ...e, i }))
    .sort((a, b) => b.pathRank - a.pathRank || specificity(b.m) - specificity(a.m) || a.rule.index - b.rule.index || a.i - b.i);
  const rules: OutRule[] = [];
  for (const { rule, m } of sorted) {
    const conditions: Partial<OutRule> = {
      ...(m.header ? { header: m.header } : {}),
      ...(m.query ? { query: m.query } : {}),
      ...(m.pathRegex ? { path: { regex: m.pathRegex } } : {}),
    };
    if (rule.mirror) {
      if (route.mirror && route.mirror.lane !== rule.mirror.lane) c.ctx.warn(c.doc, rule.at, 'graylane mirrors one lane per route: only the first RequestMirror is imported');
      else route.mirror = rule.mirror;
    }
    const live = rule.backends.filter((b) => b.weight > 0);
    const catchAll = specificity(m) === 0;
    if (catchAll && !rule.headers && live.length > 1) {
      // Weighted, per request: the route's split.
      const { weights } = integerWeights(new Map(live.map((b) => [b.version, [BigInt(b.weight), 1n] as const])));
      route.split = weights;
      break; // nothing after a catch-all is reached
    }
    if (live.length === 0) {
      c.ctx.warn(c.doc, rule.at, 'every backendRef has weight 0 (Gateway API answers 500): this rule is not imported');
      continue;
    }
    if (live.length === 1) {
      if (catchAll && !rule.headers && live[0]!.version === 'stable') break; // the fallback already
      rules.push({ lane: live[0]!.version, ...conditions, ...(rule.headers ? { headers: rule.headers } : {}) });
    } else {
      // Weighted behind conditions (or with header changes): one rule per backend with its share.
      c.ctx.warn(c.doc, rule.at, 'weights on a rule with conditions or header changes: imported as percent rules, which are sticky per user (Gateway API draws per request)');
      const total = live.reduce((s, b) => s + b.weight, 0);
      let upTo = 0;
      live.forEach((b, k) => {
        upTo += b.weight;
        // Percent rules nest by the user's bucket: each takes the buckets below its (cumulative)
        // percent that the rules before it left; the last takes the rest.
        const percent = Math.round((upTo / total) * 10_000) / 100;
        rules.push({ lane: b.version, ...conditions, ...(k === live.length - 1 ? {} : { percent }), ...(rule.headers ? { headers: rule.headers } : {}) });
      });
    }
    if (catchAll) break;
  }
  if (rules.length > 0) route.rules = rules;
}
