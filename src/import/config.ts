/**
 * The graylane config an import builds up, in its user-facing YAML shape (docs/config.md,
 * docs/rollouts.md), plus what the importers share while building it: findings, unique names, and the
 * Kubernetes Services already turned into graylane services (so a Kruise or Argo Rollout finds the
 * service an Ingress routes to).
 */
import type { Path } from '../spec/paths.js';
import type { SourceDoc } from './documents.js';
import type { ImportIssue, ImportWarning } from './errors.js';
import { k8sServiceProblem } from './values.js';
import { toName } from '../spec/names.js';

/** A graylane service: versions by name, each a list of endpoint URLs. */
export interface OutService {
  /** Emitted only when it is not `stable`. */
  fallback: string;
  versions: Record<string, string[]>;
}

export interface OutMatch {
  host?: string;
  pathPrefix?: string;
  path?: string;
}

/** A header / query condition (docs/config.md, rules): `name` and one test. */
export interface OutHeaderMatch {
  name: string;
  equals?: string;
  in?: string[];
  pattern?: string;
  present?: true;
}

export interface OutRule {
  lane: string;
  header?: OutHeaderMatch;
  query?: OutHeaderMatch;
  path?: { prefix?: string; regex?: string };
  percent?: number;
  headers?: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] };
}

export interface OutCanary {
  lane: string;
  byHeader?: string;
  byHeaderValue?: string;
  byHeaderPattern?: string;
  byCookie?: string;
  weight?: number;
  weightTotal?: number;
}

export interface OutRoute {
  name: string;
  match: OutMatch;
  service: string;
  /** `[]`: no identity, so weights are drawn per request (as ingress-nginx does). */
  identity?: string[];
  visitorCookie?: false | { name: string };
  rules?: OutRule[];
  canary?: OutCanary[];
  split?: Record<string, number>;
  stickySplit?: boolean;
  mirror?: { lane: string; percent: number };
}

/** A canary step in the YAML shape of docs/rollouts.md. */
export type OutStep =
  | { setWeight: number }
  | { pause: { duration?: string } }
  | { analysis: { templates: string[] } }
  | { setHeaderRoute: { header?: OutHeaderMatch } };

export interface OutRollout {
  name: string;
  service: string;
  stable: string;
  canary: string;
  /** Argo's spec.paused: every attempt starts paused until `graylane rollout resume`. */
  paused?: true;
  strategy:
    | { canary: { steps: OutStep[]; analysis?: { templates: string[]; startingStep?: number } } }
    | { blueGreen: Record<string, unknown> };
}

/** One analysis template (one metric) in the YAML shape of docs/rollouts.md. */
export type OutTemplate = Record<string, unknown>;

/** Which system a document came from. */
export type SourceKind = 'ingress-nginx' | 'traefik' | 'gateway-api' | 'flagger' | 'kruise' | 'argo';

/** A Kubernetes Service that became (a version of) a graylane service. */
export interface K8sServiceEntry {
  service: string;
  version: string;
  /** The Service port the endpoint uses, when an Ingress named it. */
  port: number | string | undefined;
}

/**
 * A regex on a header that carries an app version (its name says `version`) is imported as the
 * regex it is: it keeps matching the same text. What an importer says about it, since graylane can
 * compare such versions as numbers instead (a text pattern such as `^2\.[3-9]` misses `2.10`).
 */
export function versionRegexNote(header: string, pattern: string): string | undefined {
  if (!/version/i.test(header)) return undefined;
  return (
    `header ${header} is matched by the regular expression ${JSON.stringify(pattern)} on its text, imported as such; ` +
    'to compare app versions as numbers (2.10 > 2.9, 2.4 = 2.4.0), write an appVersion rule instead (docs/config.md#app-versions)'
  );
}

/** The largest split weight the loader accepts. */
export const MAX_WEIGHT = 1_000_000;

/** The config under construction and the findings about it. */
export class ImportContext {
  readonly issues: ImportIssue[] = [];
  readonly warnings: ImportWarning[] = [];
  readonly services = new Map<string, OutService>();
  readonly routes: OutRoute[] = [];
  readonly rollouts: OutRollout[] = [];
  readonly templates = new Map<string, OutTemplate>();
  /** `namespace/name` of a Kubernetes Service -> where it went. */
  readonly k8sServices = new Map<string, K8sServiceEntry>();
  /** `namespace/name` of an Ingress -> the routes made from it. */
  readonly ingressRoutes = new Map<string, string[]>();
  /** Documents per file and source kind, for the header comment. */
  readonly sources = new Map<string, Map<SourceKind, number>>();
  readonly #warned = new Set<string>();
  readonly #serviceKeys = new Map<string, string>();

  constructor(readonly endpoints: Readonly<Record<string, string>>) {}

  error(doc: SourceDoc, path: Path, message: string): void {
    this.issues.push({ ...doc.at(path), message });
  }

  /** A warning; the same message at the same place is reported once. */
  warn(doc: SourceDoc, path: Path, message: string): void {
    const w = { ...doc.at(path), message };
    const key = `${w.file}\0${w.document}\0${w.path}\0${message}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.warnings.push(w);
  }

  noteSource(doc: SourceDoc, kind: SourceKind): void {
    const kinds = this.sources.get(doc.file) ?? new Map<SourceKind, number>();
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    this.sources.set(doc.file, kinds);
  }

  /**
   * The graylane service name for `key` (an identity such as `k8s:ns/name:80`), created on first
   * use from `preferred`: made a valid name, and suffixed when another key already holds it.
   */
  claimService(key: string, preferred: string): { name: string; service: OutService; created: boolean } {
    const known = this.#serviceKeys.get(key);
    if (known !== undefined) return { name: known, service: this.services.get(known)!, created: false };
    const name = this.uniqueName(toName(preferred), (n) => this.services.has(n));
    const service: OutService = { fallback: 'stable', versions: {} };
    this.services.set(name, service);
    this.#serviceKeys.set(key, name);
    return { name, service, created: true };
  }

  /** Adds a route under a unique name (suffixed `-2`, `-3`... when taken). */
  addRoute(route: OutRoute): OutRoute {
    route.name = this.uniqueName(route.name.replace(/\s+/g, '-') || 'route', (n) => this.routes.some((r) => r.name === n));
    this.routes.push(route);
    return route;
  }

  uniqueName(base: string, taken: (name: string) => boolean): string {
    if (!taken(base)) return base;
    for (let i = 2; ; i++) {
      const suffix = `-${i}`;
      const name = `${base.slice(0, 63 - suffix.length)}${suffix}`;
      if (!taken(name)) return name;
    }
  }

  /**
   * Endpoints of a Kubernetes Service: the `endpoints` option's `namespace/name` or `name` entry
   * (a URL, or several separated by commas), else the cluster DNS name. A Service name, namespace or
   * port that makes no DNS endpoint is an error at `at` of `doc` (where the Service is named).
   */
  k8sEndpoints(doc: SourceDoc, at: Path, namespace: string, name: string, port: number | string | undefined, scheme = 'http'): string[] {
    const override = this.endpoints[`${namespace}/${name}`] ?? this.endpoints[name];
    if (override !== undefined) {
      return override
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
    }
    const problem = k8sServiceProblem(namespace, name, port);
    if (problem) {
      this.error(doc, at, problem);
      return [];
    }
    const portPart = typeof port === 'number' ? `:${port}` : '';
    return [`${scheme}://${name}.${namespace}.svc.cluster.local${portPart}`];
  }

  /** Whether the `endpoints` option names this Service (then its port does not matter). */
  hasEndpointOverride(namespace: string, name: string): boolean {
    return this.endpoints[`${namespace}/${name}`] !== undefined || this.endpoints[name] !== undefined;
  }
}

/** A valid graylane name from anything (the rule is src/spec/names.ts's). */
export { toName };

/** Integer weights with the same ratios as `shares` (positive rationals as [numerator, denominator]). */
export function integerWeights(shares: ReadonlyMap<string, readonly [bigint, bigint]>): { weights: Record<string, number>; exact: boolean } {
  let lcm = 1n;
  for (const [, q] of shares.values()) lcm = (lcm * q) / gcd(lcm, q);
  const scaled = new Map<string, bigint>();
  let common = 0n;
  for (const [lane, [p, q]] of shares) {
    const w = (p * lcm) / q;
    scaled.set(lane, w);
    common = gcd(common, w);
  }
  if (common === 0n) common = 1n;
  let max = 0n;
  for (const [lane, w] of scaled) {
    scaled.set(lane, w / common);
    if (w / common > max) max = w / common;
  }
  const weights: Record<string, number> = {};
  if (max <= BigInt(MAX_WEIGHT)) {
    for (const [lane, w] of scaled) weights[lane] = Number(w);
    return { weights, exact: true };
  }
  // Too fine to write exactly: the nearest weights out of MAX_WEIGHT (every positive share keeps at least 1).
  let exact = true;
  for (const [lane, w] of scaled) {
    const x = Number(w) * (MAX_WEIGHT / Number(max));
    const rounded = Math.max(w > 0n ? 1 : 0, Math.round(x));
    if (rounded !== x) exact = false;
    weights[lane] = rounded;
  }
  return { weights, exact };
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

/** Typed access to untyped document data. */
export function rec(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A string, or a number / boolean written where a string is meant (YAML `value: 10`), as text. */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** metadata.name and metadata.namespace (default `default`) of a Kubernetes object. */
export function k8sMeta(data: unknown): { name: string; namespace: string; annotations: Record<string, unknown> } {
  const meta = rec(rec(data).metadata);
  return {
    name: text(meta.name) ?? '',
    namespace: text(meta.namespace) ?? 'default',
    annotations: rec(meta.annotations),
  };
}
