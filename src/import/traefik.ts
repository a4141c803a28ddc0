/**
 * Traefik -> graylane: the dynamic configuration of the file provider (YAML or TOML: `http.routers`,
 * `http.services`) and the Kubernetes CRDs IngressRoute and TraefikService (traefik.io/v1alpha1 and
 * traefik.containo.us/v1alpha1), read into one model of routers and services, then converted.
 *
 * - A router becomes a route per alternative of its rule (traefik-rule.ts): Host -> match.host,
 *   Path / PathPrefix -> match.path / pathPrefix. A router whose rule adds Header/Query/PathRegexp
 *   conditions to the host and path of another router (the usual header canary) becomes a rule of
 *   that router's route, marking requests into the lane of its service.
 * - The service a route uses is flattened into versions: every loadBalancer reached is a version (its
 *   servers are the endpoints), and weighted services, nested or not, become the route's `split`, with
 *   each leaf's share the product of the weights on its way (Traefik's WRR per level gives the same
 *   long-run shares). The heaviest leaf is the service's fallback.
 * - A mirroring service becomes the route's `mirror` (graylane mirrors to one lane per route).
 */
import type { Path } from '../spec/paths.js';
import { checkRegex } from '../spec/regex-safety.js';
import {
  integerWeights,
  k8sMeta,
  list,
  rec,
  text,
  toName,
  type ImportContext,
  type OutHeaderMatch,
  type OutRoute,
  type OutRule,
  versionRegexNote,
} from './config.js';
import type { SourceDoc } from './documents.js';
import { parseRule, RuleSyntaxError, type RuleAlternative, type RuleCondition } from './traefik-rule.js';
import { valueProblem } from './values.js';

const CRD_GROUPS = new Set(['traefik.io/v1alpha1', 'traefik.containo.us/v1alpha1']);

interface Where {
  doc: SourceDoc;
  at: Path;
}

interface Child extends Where {
  ref: string;
  weight: number;
}

type TService = Where &
  (
    | { kind: 'lb'; name: string; urls: string[] }
    | { kind: 'weighted'; name: string; children: Child[]; stickyCookie: string | undefined }
    | { kind: 'mirroring'; name: string; main: Child; mirrors: (Child & { percent: number })[] }
    | { kind: 'failover'; name: string; main: Child }
  );

interface TRouter extends Where {
  name: string;
  rule: string;
  /** A key into the service table. */
  service: string;
  serviceAt: Path;
  /** Explicit priority, or Traefik's default: the length of the rule. */
  priority: number;
}

/** Whether `data` is Traefik: a CRD of its API groups, or a file-provider dynamic configuration. */
export function isTraefik(data: Record<string, unknown>): boolean {
  if (typeof data.apiVersion === 'string') return CRD_GROUPS.has(data.apiVersion);
  return typeof data.http === 'object' || typeof data.tcp === 'object' || typeof data.udp === 'object';
}

export function importTraefik(docs: readonly SourceDoc[], ctx: ImportContext): void {
  if (docs.length === 0) return;
  const model = new TraefikModel(ctx);
  for (const doc of docs) {
    ctx.noteSource(doc, 'traefik');
    const data = rec(doc.data);
    if (typeof data.apiVersion === 'string') model.readCrd(doc, data);
    else model.readFile(doc, data);
  }
  model.resolveRefs();
  if (ctx.issues.length === 0) convert(model, ctx);
}

class TraefikModel {
  readonly services = new Map<string, TService>();
  readonly routers: TRouter[] = [];
  /** `service\0leaf` -> the version of graylane service `service` that load balancer `leaf` became. */
  readonly leafVersions = new Map<string, string>();
  /** References to check once every document is read (a file may use a service of another file). */
  readonly #refs: (Where & { ref: string })[] = [];
  #warnedEntryPoints = false;

  constructor(readonly ctx: ImportContext) {}

  // --- file provider -------------------------------------------------------------------------

  readFile(doc: SourceDoc, data: Record<string, unknown>): void {
    for (const key of ['tcp', 'udp', 'tls']) {
      if (data[key] !== undefined) this.ctx.warn(doc, [key], `the ${key} section is not imported: graylane routes HTTP only`);
    }
    const http = rec(data.http);
    if (http.serversTransports !== undefined) this.ctx.warn(doc, ['http', 'serversTransports'], 'serversTransports are not imported');
    for (const [name, raw] of Object.entries(rec(http.services))) {
      this.addFileService(doc, ['http', 'services', name], name, rec(raw));
    }
    for (const [name, raw] of Object.entries(rec(http.routers))) {
      const at = ['http', 'routers', name];
      const r = rec(raw);
      const rule = text(r.rule);
      const service = text(r.service);
      if (rule === undefined || service === undefined) {
        this.ctx.error(doc, at, 'a router needs a rule and a service');
        continue;
      }
      this.routerExtras(doc, at, r);
      this.addRouter({ doc, at, name: stripProvider(name), rule, service: this.fileRef(doc, [...at, 'service'], service), serviceAt: [...at, 'service'], priority: priorityOf(r.priority, rule) });
    }
  }

  private addFileService(doc: SourceDoc, at: Path, name: string, raw: Record<string, unknown>): void {
    const key = `file:${name}`;
    const kinds = ['loadBalancer', 'weighted', 'mirroring', 'failover'].filter((k) => raw[k] !== undefined);
    if (kinds.length !== 1) {
      this.ctx.error(doc, at, 'a service needs exactly one of loadBalancer, weighted, mirroring or failover');
      return;
    }
    const kind = kinds[0]!;
    const body = rec(raw[kind]);
    const bodyAt = [...at, kind];
    if (kind === 'loadBalancer') {
      this.services.set(key, { doc, at, kind: 'lb', name, urls: this.servers(doc, bodyAt, body) });
    } else if (kind === 'weighted') {
      const children = list(body.services).map((c, i) => {
        const child = rec(c);
        const cAt = [...bodyAt, 'services', i];
        return { doc, at: cAt, ref: this.fileRef(doc, [...cAt, 'name'], text(child.name) ?? ''), weight: this.weight(doc, [...cAt, 'weight'], child.weight) };
      });
      this.weightedExtras(doc, bodyAt, body);
      this.services.set(key, { doc, at, kind: 'weighted', name, children, stickyCookie: stickyCookie(body) });
    } else if (kind === 'mirroring') {
      const main = { doc, at: [...bodyAt, 'service'], ref: this.fileRef(doc, [...bodyAt, 'service'], text(body.service) ?? ''), weight: 1 };
      const mirrors = list(body.mirrors).map((m, i) => {
        const mirror = rec(m);
        const mAt = [...bodyAt, 'mirrors', i];
        return { doc, at: mAt, ref: this.fileRef(doc, [...mAt, 'name'], text(mirror.name) ?? ''), weight: 1, percent: this.percent(doc, [...mAt, 'percent'], mirror.percent) };
      });
      this.mirroringExtras(doc, bodyAt, body);
      this.services.set(key, { doc, at, kind: 'mirroring', name, main, mirrors });
    } else {
      this.ctx.warn(doc, [...bodyAt, 'fallback'], 'failover is not imported: graylane sends to the main service (its passive health keeps failing endpoints out)');
      this.services.set(key, { doc, at, kind: 'failover', name, main: { doc, at: [...bodyAt, 'service'], ref: this.fileRef(doc, [...bodyAt, 'service'], text(body.service) ?? ''), weight: 1 } });
    }
  }

  /** `name` or `name@file` -> the file provider's key; other providers' services stay as written. */
  private fileRef(doc: SourceDoc, at: Path, name: string): string {
    const at_ = name.lastIndexOf('@');
    const ref = at_ < 0 || name.slice(at_ + 1) === 'file' ? `file:${stripProvider(name)}` : `other:${name}`;
    this.#refs.push({ doc, at, ref });
    return ref;
  }

  // --- Kubernetes CRDs -----------------------------------------------------------------------

  readCrd(doc: SourceDoc, data: Record<string, unknown>): void {
    const { name, namespace } = k8sMeta(data);
    const spec = rec(data.spec);
    if (data.kind === 'TraefikService') {
      this.readTraefikService(doc, namespace, name, spec);
    } else if (data.kind === 'IngressRoute') {
      if (spec.tls !== undefined) this.ctx.warn(doc, ['spec', 'tls'], 'TLS is not imported: graylane serves plain HTTP (terminate TLS in front of it)');
      this.entryPoints(doc, ['spec', 'entryPoints'], spec.entryPoints);
      list(spec.routes).forEach((raw, i) => {
        const at = ['spec', 'routes', i];
        const r = rec(raw);
        const rule = text(r.match);
        if (rule === undefined) {
          this.ctx.error(doc, [...at, 'match'], 'a route needs a match rule');
          return;
        }
        if (list(r.middlewares).length > 0) {
          const names = list(r.middlewares).map((m) => text(rec(m).name) ?? '?');
          this.ctx.warn(doc, [...at, 'middlewares'], `middlewares are not imported: ${names.join(', ')}`);
        }
        const services = list(r.services);
        if (services.length === 0) {
          this.ctx.error(doc, [...at, 'services'], 'a route needs at least one service');
          return;
        }
        let ref: string;
        if (services.length === 1 && rec(services[0]).weight === undefined) {
          ref = this.crdRef(doc, [...at, 'services', 0], namespace, rec(services[0]));
        } else {
          // Several services of one route are a weighted round robin between them.
          ref = `route:${namespace}/${name}/${i}`;
          const children = services.map((s, j) => ({
            doc,
            at: [...at, 'services', j],
            ref: this.crdRef(doc, [...at, 'services', j], namespace, rec(s)),
            weight: this.weight(doc, [...at, 'services', j, 'weight'], rec(s).weight),
          }));
          this.services.set(ref, { doc, at: [...at, 'services'], kind: 'weighted', name, children, stickyCookie: undefined });
        }
        const routerName = list(spec.routes).length > 1 ? `${name}-${i + 1}` : name;
        this.addRouter({ doc, at, name: routerName, rule, service: ref, serviceAt: [...at, 'services'], priority: priorityOf(r.priority, rule) });
      });
    } else {
      this.ctx.warn(doc, [], `${String(data.kind)} is not imported (graylane imports IngressRoute and TraefikService)`);
    }
  }

  private readTraefikService(doc: SourceDoc, namespace: string, name: string, spec: Record<string, unknown>): void {
    const key = `crd:${namespace}/${name}`;
    if (spec.weighted !== undefined) {
      const body = rec(spec.weighted);
      const children = list(body.services).map((c, i) => {
        const at = ['spec', 'weighted', 'services', i];
        return { doc, at, ref: this.crdRef(doc, at, namespace, rec(c)), weight: this.weight(doc, [...at, 'weight'], rec(c).weight) };
      });
      this.weightedExtras(doc, ['spec', 'weighted'], body);
      this.services.set(key, { doc, at: ['spec', 'weighted'], kind: 'weighted', name, children, stickyCookie: stickyCookie(body) });
    } else if (spec.mirroring !== undefined) {
      const body = rec(spec.mirroring);
      const at = ['spec', 'mirroring'];
      const main = { doc, at, ref: this.crdRef(doc, at, namespace, body), weight: 1 };
      const mirrors = list(body.mirrors).map((m, i) => {
        const mAt = [...at, 'mirrors', i];
        return { doc, at: mAt, ref: this.crdRef(doc, mAt, namespace, rec(m)), weight: 1, percent: this.percent(doc, [...mAt, 'percent'], rec(m).percent) };
      });
      this.mirroringExtras(doc, at, body);
      this.services.set(key, { doc, at, kind: 'mirroring', name, main, mirrors });
    } else {
      this.ctx.error(doc, ['spec'], 'a TraefikService needs weighted or mirroring');
    }
  }

  /** A CRD service reference: a TraefikService, or a Kubernetes Service (a load balancer of its own). */
  private crdRef(doc: SourceDoc, at: Path, namespace: string, raw: Record<string, unknown>): string {
    const name = text(raw.name) ?? '';
    const ns = text(raw.namespace) ?? namespace;
    if (raw.kind === 'TraefikService') {
      if (name.includes('@')) return this.fileRef(doc, [...at, 'name'], name);
      const ref = `crd:${ns}/${name}`;
      this.#refs.push({ doc, at: [...at, 'name'], ref });
      return ref;
    }
    const port = typeof raw.port === 'number' ? raw.port : text(raw.port);
    const key = `k8s:${ns}/${name}:${port ?? ''}`;
    if (!this.services.has(key)) {
      const scheme = text(raw.scheme) ?? (port === 443 ? 'https' : 'http');
      if (typeof port === 'string' && !this.ctx.hasEndpointOverride(ns, name)) {
        this.ctx.warn(doc, [...at, 'port'], `Service port "${port}" is a port name, which only the Service knows: the endpoint uses the scheme's default port; pass endpoints ${name}=URL to set it`);
      }
      this.services.set(key, { doc, at, kind: 'lb', name, urls: this.ctx.k8sEndpoints(doc, at, ns, name, port, scheme) });
    }
    for (const extra of ['sticky', 'healthCheck', 'passHostHeader', 'serversTransport', 'responseForwarding', 'strategy', 'nativeLB']) {
      if (raw[extra] !== undefined) this.ctx.warn(doc, [...at, extra], `${extra} is not imported`);
    }
    return key;
  }

  // --- shared --------------------------------------------------------------------------------

  private addRouter(router: TRouter): void {
    this.routers.push(router);
  }

  resolveRefs(): void {
    for (const r of this.#refs) {
      if (!this.services.has(r.ref)) {
        const written = r.ref.slice(r.ref.indexOf(':') + 1);
        const known = [...this.services.values()].map((s) => s.name);
        this.ctx.error(r.doc, r.at, `unknown service ${JSON.stringify(written)}${known.length ? `; services are: ${[...new Set(known)].join(', ')}` : ''}`);
      }
    }
  }

  private routerExtras(doc: SourceDoc, at: Path, r: Record<string, unknown>): void {
    this.entryPoints(doc, [...at, 'entryPoints'], r.entryPoints);
    if (list(r.middlewares).length > 0) this.ctx.warn(doc, [...at, 'middlewares'], `middlewares are not imported: ${list(r.middlewares).map(String).join(', ')}`);
    if (r.tls !== undefined) this.ctx.warn(doc, [...at, 'tls'], 'TLS is not imported: graylane serves plain HTTP (terminate TLS in front of it)');
    if (r.observability !== undefined) this.ctx.warn(doc, [...at, 'observability'], 'observability options are not imported');
  }

  private entryPoints(doc: SourceDoc, at: Path, raw: unknown): void {
    if (raw === undefined || this.#warnedEntryPoints) return;
    this.#warnedEntryPoints = true;
    this.ctx.warn(doc, at, 'entryPoints are not imported: graylane listens on one address (`listen`); this is said once for all routers');
  }

  private servers(doc: SourceDoc, at: Path, body: Record<string, unknown>): string[] {
    const servers = list(body.servers).map(rec);
    const urls: string[] = [];
    servers.forEach((s, i) => {
      const url = text(s.url);
      if (url === undefined || !/^https?:\/\//i.test(url)) {
        this.ctx.error(doc, [...at, 'servers', i, 'url'], `must be an http:// or https:// URL, got ${JSON.stringify(s.url)}`);
        return;
      }
      // `http://host/` would send `/x` to `//x`: graylane appends the request path to the endpoint's.
      const endpoint = url.replace(/\/+$/, '');
      const problem = valueProblem('endpoint', endpoint);
      if (problem) {
        this.ctx.error(doc, [...at, 'servers', i, 'url'], problem);
        return;
      }
      urls.push(endpoint);
    });
    const weights = new Set(servers.map((s) => (typeof s.weight === 'number' ? s.weight : 1)));
    if (weights.size > 1) this.ctx.warn(doc, [...at, 'servers'], 'server weights are not imported: graylane balances the endpoints of a version round robin, equally');
    if (servers.length === 0) this.ctx.warn(doc, [...at, 'servers'], 'no servers: the version has no endpoints');
    for (const extra of ['sticky', 'healthCheck', 'passHostHeader', 'serversTransport', 'responseForwarding', 'strategy']) {
      if (body[extra] !== undefined) this.ctx.warn(doc, [...at, extra], `${extra} is not imported`);
    }
    return urls;
  }

  private weightedExtras(doc: SourceDoc, at: Path, body: Record<string, unknown>): void {
    if (body.healthCheck !== undefined) this.ctx.warn(doc, [...at, 'healthCheck'], 'healthCheck is not imported');
    if (body.sticky !== undefined && stickyCookie(body) === undefined) this.ctx.warn(doc, [...at, 'sticky'], 'only sticky.cookie is imported');
    const cookie = stickyCookie(body);
    const problem = cookie === undefined ? undefined : valueProblem('cookieName', cookie);
    if (problem) this.ctx.error(doc, [...at, 'sticky', 'cookie', 'name'], problem);
  }

  private mirroringExtras(doc: SourceDoc, at: Path, body: Record<string, unknown>): void {
    if (body.mirrorBody === false) this.ctx.warn(doc, [...at, 'mirrorBody'], 'mirrorBody: false is not imported: graylane copies request bodies up to the global mirror.maxBodyBytes');
    if (typeof body.maxBodySize === 'number' && body.maxBodySize >= 0) {
      this.ctx.warn(doc, [...at, 'maxBodySize'], 'maxBodySize is not imported: set the global mirror.maxBodyBytes');
    }
    if (body.healthCheck !== undefined) this.ctx.warn(doc, [...at, 'healthCheck'], 'healthCheck is not imported');
  }

  /** Traefik's WRR weight: a whole number >= 0, default 1. */
  private weight(doc: SourceDoc, at: Path, raw: unknown): number {
    if (raw === undefined) return 1;
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) {
      this.ctx.error(doc, at, `must be a whole number >= 0, got ${JSON.stringify(raw)}`);
      return 0;
    }
    return raw;
  }

  private percent(doc: SourceDoc, at: Path, raw: unknown): number {
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > 100) {
      this.ctx.error(doc, at, `must be a whole number from 0 to 100, got ${JSON.stringify(raw)}`);
      return 0;
    }
    return raw;
  }
}

// --- conversion ------------------------------------------------------------------------------

/** A service reference flattened: the share of each load balancer reached, plus a mirror. */
interface Flat {
  shares: Map<string, [bigint, bigint]>;
  mirror: { leaf: string; percent: number } | undefined;
  stickyCookie: string | undefined;
}

function convert(model: TraefikModel, ctx: ImportContext): void {
  interface Entry {
    router: TRouter;
    alt: RuleAlternative;
    name: string;
  }
  const groups = new Map<string, { bases: Entry[]; conditional: Entry[] }>();
  for (const router of model.routers) {
    let alternatives: RuleAlternative[];
    try {
      alternatives = parseRule(router.rule);
    } catch (err) {
      if (!(err instanceof RuleSyntaxError)) throw err;
      ctx.error(router.doc, [...router.at, router.at[0] === 'spec' ? 'match' : 'rule'], `rule does not parse: ${err.message}`);
      continue;
    }
    alternatives.forEach((alt, i) => {
      const ruleAt = [...router.at, router.at[0] === 'spec' ? 'match' : 'rule'];
      if (alt.unsupported.length > 0) {
        ctx.warn(router.doc, ruleAt, `${alt.unsupported.join(' && ')} cannot be expressed by a graylane route or rule: ${alternatives.length > 1 ? 'this alternative of the router is' : 'the router is'} not imported`);
        return;
      }
      const problems = [
        alt.host === undefined ? undefined : valueProblem('host', alt.host),
        alt.path === undefined ? undefined : valueProblem('path', alt.path),
        alt.pathPrefix === undefined ? undefined : valueProblem('path', alt.pathPrefix),
        ...alt.conditions.map((c) => (c.kind === 'path' ? undefined : valueProblem(c.kind === 'header' ? 'headerName' : 'queryName', c.name))),
      ].filter((p): p is string => p !== undefined);
      if (problems.length > 0) {
        for (const problem of problems) ctx.error(router.doc, ruleAt, `router ${router.name}: ${problem}`);
        return;
      }
      const key = `${alt.host ?? '*'} ${alt.path !== undefined ? `=${alt.path}` : `^${alt.pathPrefix ?? '/'}`}`;
      const group = groups.get(key) ?? { bases: [], conditional: [] };
      const entry = { router, alt, name: alternatives.length > 1 ? `${router.name}-${i + 1}` : router.name };
      (alt.conditions.length === 0 ? group.bases : group.conditional).push(entry);
      groups.set(key, group);
    });
  }
  if (ctx.issues.length > 0) return;

  const byPriority = (a: Entry, b: Entry): number => b.router.priority - a.router.priority;
  for (const group of groups.values()) {
    const bases = [...group.bases].sort(byPriority);
    const base = bases[0];
    for (const shadowed of bases.slice(1)) {
      ctx.warn(shadowed.router.doc, shadowed.router.at, `router ${shadowed.router.name} has the same host and path as router ${base!.router.name}, which Traefik prefers (priority ${base!.router.priority}): not imported`);
    }
    if (!base) {
      for (const c of group.conditional) {
        ctx.warn(c.router.doc, c.router.at, `router ${c.router.name} only takes requests with ${describeConditions(c.alt.conditions)}, and no router takes the others on its host and path; graylane routes match host and path only: not imported`);
      }
      continue;
    }
    const flat = flatten(model, ctx, base.router.service, new Set());
    if (!flat) continue;
    const svcName = displayName(model, base.router.service);
    const { name: service, service: svc } = ctx.claimService(`traefik:${base.router.service}`, svcName);
    const lane = (leaf: string): string => versionFor(model, ctx, service, leaf);
    const route: OutRoute = { name: base.name, match: {}, service };
    if (base.alt.host !== undefined) route.match.host = base.alt.host;
    if (base.alt.path !== undefined) route.match.path = base.alt.path;
    else if (base.alt.pathPrefix !== undefined) route.match.pathPrefix = base.alt.pathPrefix;

    const shares = new Map<string, [bigint, bigint]>();
    for (const [leaf, share] of flat.shares) shares.set(lane(leaf), share);
    const positive = [...shares].filter(([, [p]]) => p > 0n);
    svc.fallback = heaviest(positive.length > 0 ? positive : [...shares]) ?? 'stable';
    if (positive.length > 1) {
      const { weights, exact } = integerWeights(new Map(positive));
      route.split = Object.fromEntries([...shares.keys()].map((l) => [l, weights[l] ?? 0]));
      if (!exact) ctx.warn(base.router.doc, base.router.serviceAt, 'the flattened weights are too fine to write exactly (at most 1,000,000): rounded');
      if (flat.stickyCookie !== undefined) {
        // Traefik pins a client to the child its cookie names; graylane pins by the visitor's bucket.
        route.stickySplit = true;
        route.identity = [];
        route.visitorCookie = { name: flat.stickyCookie };
        ctx.warn(base.router.doc, base.router.serviceAt, `sticky cookie ${flat.stickyCookie}: imported as stickySplit with a visitor cookie of that name (a visitor stays in one lane; the cookie's value differs from Traefik's)`);
      }
    }
    if (flat.mirror) route.mirror = { lane: lane(flat.mirror.leaf), percent: flat.mirror.percent };

    const rules: OutRule[] = [];
    for (const c of [...group.conditional].sort(byPriority)) {
      const rule = conditionalRule(model, ctx, c.router, c.alt.conditions, lane);
      if (rule) rules.push(rule);
    }
    if (rules.length > 0) route.rules = rules;
    ctx.addRoute(route);
  }
}

/** A router that adds conditions to another's host and path -> a rule marking into its service's lane. */
function conditionalRule(
  model: TraefikModel,
  ctx: ImportContext,
  router: TRouter,
  conditions: RuleCondition[],
  lane: (leaf: string) => string,
): OutRule | undefined {
  const ruleAt = [...router.at, router.at[0] === 'spec' ? 'match' : 'rule'];
  const kinds = conditions.map((c) => c.kind);
  if (new Set(kinds).size !== kinds.length) {
    ctx.warn(router.doc, ruleAt, `a graylane rule tests at most one header, one query parameter and one path: ${describeConditions(conditions)} cannot be imported, router ${router.name} is not imported`);
    return undefined;
  }
  const flat = flatten(model, ctx, router.service, new Set());
  if (!flat) return undefined;
  const leaves = [...flat.shares].filter(([, [p]]) => p > 0n);
  if (leaves.length !== 1) {
    ctx.warn(router.doc, router.serviceAt, `router ${router.name} marks requests by ${describeConditions(conditions)} into a weighted service; a graylane rule marks into one lane: not imported`);
    return undefined;
  }
  if (flat.mirror) ctx.warn(router.doc, router.serviceAt, `the mirror of router ${router.name}'s service is not imported (graylane mirrors per route)`);
  const rule: OutRule = { lane: lane(leaves[0]![0]) };
  for (const c of conditions) {
    if (c.pattern !== undefined) {
      const problem = checkRegex(c.pattern);
      if (problem) {
        ctx.warn(router.doc, ruleAt, `regular expression ${JSON.stringify(c.pattern)} cannot be used by graylane (${problem.message}): router ${router.name} is not imported`);
        return undefined;
      }
    }
    if (c.kind === 'path') {
      rule.path = { regex: c.pattern! };
      continue;
    }
    const m: OutHeaderMatch = { name: c.name };
    if (c.equals !== undefined) m.equals = c.equals;
    else if (c.pattern !== undefined) {
      m.pattern = c.pattern;
      const note = c.kind === 'header' ? versionRegexNote(c.name, c.pattern) : undefined;
      if (note !== undefined) ctx.warn(router.doc, ruleAt, note);
    }
    else m.present = true;
    rule[c.kind] = m;
  }
  return rule;
}

/** Shares of the load balancers under `ref`; undefined (with an error) on a cycle. */
function flatten(model: TraefikModel, ctx: ImportContext, ref: string, visiting: Set<string>): Flat | undefined {
  const svc = model.services.get(ref)!;
  if (visiting.has(ref)) {
    ctx.error(svc.doc, svc.at, `service ${svc.name} refers to itself through ${[...visiting].map((r) => model.services.get(r)!.name).join(' -> ')}`);
    return undefined;
  }
  visiting.add(ref);
  try {
    switch (svc.kind) {
      case 'lb':
        return { shares: new Map([[ref, [1n, 1n]]]), mirror: undefined, stickyCookie: undefined };
      case 'failover':
        return flatten(model, ctx, svc.main.ref, visiting);
      case 'mirroring': {
        const main = flatten(model, ctx, svc.main.ref, visiting);
        if (!main) return undefined;
        const [first, ...rest] = svc.mirrors;
        for (const m of rest) ctx.warn(m.doc, m.at, 'graylane mirrors a route to one lane: only the first mirror is imported');
        if (!first) return main;
        const target = flatten(model, ctx, first.ref, visiting);
        if (!target) return undefined;
        const leaves = [...target.shares].sort((a, b) => compare(b[1], a[1]));
        if (leaves.length > 1) ctx.warn(first.doc, first.at, 'the mirror is a weighted service: graylane mirrors to one lane, its heaviest service');
        if (main.mirror) ctx.warn(svc.doc, svc.at, 'a mirror of a mirror is not imported');
        return { ...main, mirror: { leaf: leaves[0]![0], percent: first.percent } };
      }
      case 'weighted': {
        const total = BigInt(svc.children.reduce((sum, c) => sum + c.weight, 0));
        const shares = new Map<string, [bigint, bigint]>();
        let sticky = svc.stickyCookie;
        for (const child of svc.children) {
          const sub = flatten(model, ctx, child.ref, visiting);
          if (!sub) return undefined;
          if (sub.mirror) ctx.warn(child.doc, child.at, 'a mirroring service inside a weighted one: its mirror is not imported');
          sticky ??= sub.stickyCookie;
          for (const [leaf, [p, q]] of sub.shares) {
            const share: [bigint, bigint] = total === 0n ? [0n, 1n] : reduce(p * BigInt(child.weight), q * total);
            const prev = shares.get(leaf);
            shares.set(leaf, prev ? reduce(prev[0] * share[1] + share[0] * prev[1], prev[1] * share[1]) : share);
          }
        }
        if (total === 0n) ctx.warn(svc.doc, svc.at, `every weight of ${svc.name} is 0: Traefik sends it nothing, graylane sends it to the fallback`);
        return { shares, mirror: undefined, stickyCookie: sticky };
      }
    }
  } finally {
    visiting.delete(ref);
  }
}

/** The version of `service` for load balancer `leaf`, added on first use (named after the leaf). */
function versionFor(model: TraefikModel, ctx: ImportContext, service: string, leaf: string): string {
  const key = `${service}\0${leaf}`;
  const known = model.leafVersions.get(key);
  if (known !== undefined) return known;
  const svc = ctx.services.get(service)!;
  const lb = model.services.get(leaf)!;
  const version = ctx.uniqueName(toName(lb.name), (n) => Object.hasOwn(svc.versions, n));
  svc.versions[version] = lb.kind === 'lb' ? lb.urls : [];
  model.leafVersions.set(key, version);
  return version;
}

function displayName(model: TraefikModel, ref: string): string {
  return model.services.get(ref)?.name ?? ref;
}

function heaviest(shares: [string, [bigint, bigint]][]): string | undefined {
  let best: [string, [bigint, bigint]] | undefined;
  for (const s of shares) if (!best || compare(s[1], best[1]) > 0) best = s;
  return best?.[0];
}

function compare(a: readonly [bigint, bigint], b: readonly [bigint, bigint]): number {
  const d = a[0] * b[1] - b[0] * a[1];
  return d > 0n ? 1 : d < 0n ? -1 : 0;
}

function reduce(p: bigint, q: bigint): [bigint, bigint] {
  let a = p;
  let b = q;
  while (b !== 0n) [a, b] = [b, a % b];
  return a === 0n ? [0n, 1n] : [p / a, q / a];
}

function describeConditions(conditions: RuleCondition[]): string {
  return conditions
    .map((c) => (c.kind === 'path' ? `path ~ /${c.pattern}/` : `${c.kind} ${c.name}${c.equals !== undefined ? ` = ${c.equals}` : c.pattern !== undefined ? ` ~ /${c.pattern}/` : ' present'}`))
    .join(' and ');
}

function stickyCookie(body: Record<string, unknown>): string | undefined {
  const cookie = rec(body.sticky).cookie;
  if (cookie === undefined) return undefined;
  return text(rec(cookie).name) ?? 'graylane_sticky';
}

function stripProvider(name: string): string {
  const at = name.lastIndexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

function priorityOf(raw: unknown, rule: string): number {
  return typeof raw === 'number' && raw > 0 ? raw : rule.length;
}
