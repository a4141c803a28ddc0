/**
 * What Kruise and Argo Rollouts share: finding (or making) the graylane service of a Kubernetes
 * Service and adding the new version to it, turning header matches into graylane header matches, and
 * the routes of a service.
 */
import type { Path } from '../spec/paths.js';
import { checkRegex } from '../spec/regex-safety.js';
import type { ImportContext, OutHeaderMatch, OutRoute } from './config.js';
import type { SourceDoc } from './documents.js';
import { valueProblem } from './values.js';

export interface RolloutTarget {
  /** The graylane service. */
  service: string;
  /** Its version serving the stable Service. */
  stable: string;
  /** The Service port an Ingress named, for the new version's endpoint. */
  port: number | string | undefined;
}

/**
 * The graylane service whose stable version is Kubernetes Service `namespace/name`: the one an
 * imported Ingress made, or a new one (whose port nobody named: a warning says so).
 */
export function serviceForK8s(ctx: ImportContext, doc: SourceDoc, at: Path, namespace: string, name: string): RolloutTarget {
  const known = ctx.k8sServices.get(`${namespace}/${name}`);
  if (known) return { service: known.service, stable: known.version, port: known.port };
  const { name: service, service: svc, created } = ctx.claimService(`k8s:${namespace}/${name}:`, name);
  if (created) {
    svc.versions.stable = ctx.k8sEndpoints(doc, at, namespace, name, undefined);
    ctx.k8sServices.set(`${namespace}/${name}`, { service, version: 'stable', port: undefined });
    if (!ctx.hasEndpointOverride(namespace, name)) {
      ctx.warn(doc, at, `no imported Ingress names the port of Service ${name}: its endpoint uses port 80; pass endpoints ${name}=URL to set it`);
    }
  }
  return { service, stable: 'stable', port: undefined };
}

/** Adds version `version` (endpoints of Service `namespace/name`, or given ones) to `service`. */
export function addVersion(
  ctx: ImportContext,
  target: RolloutTarget,
  version: string,
  endpoints: string[],
): void {
  const svc = ctx.services.get(target.service)!;
  if (!Object.hasOwn(svc.versions, version)) svc.versions[version] = endpoints;
}

/** Endpoints of Kubernetes Service `namespace/name` (named at `at` of `doc`) at the port of `target`'s stable Service. */
export function siblingEndpoints(ctx: ImportContext, doc: SourceDoc, at: Path, target: RolloutTarget, namespace: string, name: string): string[] {
  return ctx.k8sEndpoints(doc, at, namespace, name, typeof target.port === 'number' ? target.port : undefined);
}

/** Routes whose service is `service`. */
export function routesOf(ctx: ImportContext, service: string): OutRoute[] {
  return ctx.routes.filter((r) => r.service === service);
}

/**
 * A header test from an exact value or a regular expression; undefined (with a warning) when the
 * regex is one graylane refuses (see docs/config.md, regular expressions).
 */
export function headerMatch(
  ctx: ImportContext,
  doc: SourceDoc,
  at: Path,
  name: string,
  test: { exact?: string; prefix?: string; regex?: string },
): OutHeaderMatch | undefined {
  const header = name.toLowerCase();
  const nameProblem = valueProblem('headerName', name);
  if (nameProblem) {
    ctx.error(doc, at, nameProblem);
    return undefined;
  }
  if (test.exact !== undefined) return { name: header, equals: test.exact };
  const pattern = test.regex ?? (test.prefix !== undefined ? `^${escapeRegex(test.prefix)}` : undefined);
  if (pattern === undefined) {
    ctx.warn(doc, at, 'a header match needs a value: not imported');
    return undefined;
  }
  const problem = checkRegex(pattern);
  if (problem) {
    ctx.warn(doc, at, `regular expression ${JSON.stringify(pattern)} cannot be used by graylane (${problem.message}): not imported`);
    return undefined;
  }
  return { name: header, pattern };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** `5%` / `5` / 5 -> 5 (a whole percent 0..100); undefined when malformed. */
export function percentValue(raw: unknown): number | undefined {
  const s = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim().replace(/%$/, '') : undefined;
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 100 ? n : undefined;
}

/**
 * A pause length of Kubernetes rollout controllers (a number of seconds, or a Go duration such as
 * `1h30m`) as a graylane duration; undefined when malformed.
 */
export function durationValue(raw: unknown): string | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? `${raw}s` : undefined;
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (/^\d+$/.test(s)) return `${s}s`;
  const parts = [...s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== s) return undefined;
  if (parts.length === 1) return s;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
  for (const [suffix, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${suffix}`;
  }
  return `${Math.round(ms)}ms`;
}
