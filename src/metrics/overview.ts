/**
 * The overview: one JSON picture of the running process for people (`GET /api/v1/overview`, the
 * server-sent events of `/api/v1/stream`, the dashboard, `graylane top`). Types are the wire format;
 * the functions here are the pure parts that build it from a Snapshot (routes in readable form,
 * services with their endpoints).
 */
import type { ConfigInfo } from './config-info.js';
import type { MirrorCounters } from '../gateway/mirror.js';
import type { OriginHealth } from '../gateway/health.js';
import type { RolloutView } from '../status/rollout-view.js';
import { compileRule, type CompiledRule } from '../routing/rules.js';
import type { HealthView, Snapshot } from '../routing/types.js';
import type { NginxCanary, RouteSpec } from '../spec/types.js';
import type { StoredEvent } from '../status/rollout-status.js';
import type { GatewaysOverview } from './gateways.js';

export type { GatewayOverview, GatewaysOverview, TotalsByVersion, VersionTotals } from './gateways.js';

export interface Overview {
  /** When this overview was built (epoch ms). */
  at: number;
  services: ServiceOverview[];
  routes: RouteOverview[];
  rollouts: RolloutOverview[];
  /** Set when the rollouts could not be read (the store did not answer); `rollouts` is then empty. */
  rolloutsError: string | null;
  config: ConfigOverview;
  mirror: MirrorCounters;
  /** Requests per second and version, oldest first; see Overview.history in docs/observability.md. */
  history: History;
  /** Every gateway (clustered mode) or this one alone, and the totals per version across them. */
  gateways: GatewaysOverview;
}

export interface ConfigOverview extends ConfigInfo {
  /** Rejected reloads since the start. */
  reloadsFailed: number;
}

export interface ServiceOverview {
  name: string;
  /** The version the fallback lane goes to (after a completed rollout, the new one). */
  fallback: string;
  /** Each version once, under its own name and with its own endpoints, in config order. */
  versions: VersionOverview[];
}

export interface VersionOverview {
  name: string;
  /** Requests per second over the last {@link RATE_SECONDS} seconds. */
  rps: number;
  /** Share of 5xx answers over the last {@link WINDOW_SECONDS} seconds, 0..1; null without requests. */
  errorRate: number | null;
  /** 99th percentile latency over the last {@link WINDOW_SECONDS} seconds, ms; null without requests. */
  p99Ms: number | null;
  /** This version's share of the service's requests over the last {@link WINDOW_SECONDS} seconds, 0..100; null when the service had none. */
  share: number | null;
  /** Requests since the process started. */
  requests: number;
  /** Taken out of service by an aborted rollout: it gets no traffic until the rollout is retried. */
  withdrawn: boolean;
  endpoints: EndpointOverview[];
}

export interface EndpointOverview {
  url: string;
  /** In rotation (not ejected by passive health). */
  up: boolean;
  /** Registered through the API (true) or static from the config (false). */
  registered: boolean;
  /** Failures in a row so far. */
  failures: number;
  /** Epoch ms until which it is ejected; null when in rotation. */
  ejectedUntil: number | null;
  ejections: number;
}

export interface RouteOverview {
  name: string;
  service: string;
  /** `host api.example.com, path prefix /v2` */
  match: string;
  /** The lane every request of this route is pinned to, or null. */
  pinnedLane: string | null;
  trustLane: boolean;
  /** Rules in evaluation order: a rollout's header route first, then the route's own. */
  rules: RuleOverview[];
  /** ingress-nginx style canaries, each as one sentence. */
  canary: string[];
  /** Weights of unmarked traffic by lane; the rollout's replace the route's. Null: all to the fallback. */
  split: { weights: Record<string, number>; source: 'route' | 'rollout'; sticky: boolean } | null;
  mirror: { lane: string; percent: number } | null;
}

export interface RuleOverview {
  name: string;
  lane: string;
  /** The conditions, e.g. `header x-beta equals "1" and percent 10 (bucket < 1000)`. */
  when: string;
  source: 'route' | 'rollout';
}

/** A rollout as the admin API shows it, with its newest events (oldest first). */
export interface RolloutOverview extends RolloutView {
  events: StoredEvent[];
}

export interface History {
  /** Width of one point. */
  stepMs: number;
  /** Oldest first. In the stream, each event after the first carries only the points added since. */
  points: HistoryPoint[];
}

export interface HistoryPoint {
  /** End of the second this point counts (epoch ms). */
  at: number;
  /** Requests that ended within that second: service -> version -> count. */
  requests: Record<string, Record<string, number>>;
}

/** Seconds the request rate is averaged over. */
export const RATE_SECONDS = 5;
/** Seconds error rate, p99 and share are computed over. */
export const WINDOW_SECONDS = 10;

/** What the services part needs per version: counts from the live history, p99 from the traffic window. */
export interface VersionStats {
  rps: number;
  errorRate: number | null;
  p99Ms: number | null;
  share: number | null;
  requests: number;
}

/**
 * Services with their versions, endpoints and health, in config order. Versions are listed by name
 * (CompiledService.byName), not by lane: after a completed rollout the fallback lane is served by
 * the new version, and listing by lane would show that version twice and the old stable not at all.
 */
export function servicesOf(
  snapshot: Snapshot,
  health: HealthView & { entries(): OriginHealth[] },
  stats: (service: string, version: string) => VersionStats,
): ServiceOverview[] {
  const byOrigin = new Map(health.entries().map((e) => [e.origin, e]));
  return [...snapshot.services.values()].map((svc) => ({
    name: svc.name,
    fallback: svc.versions.get(svc.fallback)?.name ?? svc.fallback,
    versions: [...svc.byName.values()].map((v) => ({
      name: v.name,
      ...stats(svc.name, v.name),
      withdrawn: v.withdrawn,
      endpoints: v.endpoints.map((ep) => {
        const h = byOrigin.get(ep.origin);
        const up = health.isUp(ep.origin);
        return {
          url: ep.url,
          up,
          registered: ep.registered,
          failures: h?.failures ?? 0,
          ejectedUntil: up || h === undefined ? null : h.ejectedUntil,
          ejections: h?.ejections ?? 0,
        };
      }),
    })),
  }));
}

const routesCache = new WeakMap<Snapshot, RouteOverview[]>();

/** The routes of a snapshot in readable form (computed once per snapshot). */
export function routesOf(snapshot: Snapshot): RouteOverview[] {
  let routes = routesCache.get(snapshot);
  if (routes === undefined) {
    routes = snapshot.spec.routes.map((r, i) => describeRoute(snapshot, r, i));
    routesCache.set(snapshot, routes);
  }
  return routes;
}

function describeRoute(snapshot: Snapshot, r: RouteSpec, index: number): RouteOverview {
  const overlay = snapshot.status.services?.[r.service];
  const rules: RuleOverview[] = [
    // Named as mark.ts names them, so the rule explain reports (`by`) is the one listed here.
    ...(overlay?.rules ?? []).map((rule, j) => describeRule(compileRule(rule, `status.services.${r.service}.rules[${j}]`, `rollout.rules[${j}]`), 'rollout')),
    ...r.rules.map((rule, j) => describeRule(compileRule(rule, `routes[${index}].rules[${j}]`, `rules[${j}]`), 'route')),
  ];
  const split = overlay?.split ?? r.split;
  return {
    name: r.name,
    service: r.service,
    match: matchText(r),
    pinnedLane: r.lane ?? null,
    trustLane: r.trustLane,
    rules,
    canary: r.canary.map(canaryText),
    split: split === undefined ? null : { weights: { ...split }, source: overlay?.split !== undefined ? 'rollout' : 'route', sticky: r.stickySplit },
    mirror: r.mirror === undefined ? null : { lane: r.mirror.lane, percent: r.mirror.percent },
  };
}

/**
 * A rule's conditions as the routing core words them for explain: compileRule() builds the sentence
 * `rule NAME matched: CONDITIONS -> lane LANE` once, and this takes the CONDITIONS part of it, so the
 * dashboard and explain never word a rule differently.
 */
function describeRule(compiled: CompiledRule, source: RuleOverview['source']): RuleOverview {
  const reason = compiled.result.reason;
  const head = `rule ${compiled.name} matched: `;
  const tail = ` -> lane ${compiled.lane}`;
  const when = reason.startsWith(head) && reason.endsWith(tail) ? reason.slice(head.length, reason.length - tail.length) : reason;
  return { name: compiled.name, lane: compiled.lane, when, source };
}

function matchText(r: RouteSpec): string {
  const parts = [r.match.host === undefined ? 'any host' : `host ${r.match.host}`];
  if (r.match.path !== undefined) parts.push(`path ${r.match.path}`);
  else if (r.match.pathPrefix !== undefined) parts.push(`path prefix ${r.match.pathPrefix}`);
  return parts.join(', ');
}

/** `header x-canary "always" (or "never" to skip), else cookie c "always", else 10 of 100 requests -> lane beta` */
function canaryText(c: NginxCanary): string {
  const parts: string[] = [];
  if (c.byHeader !== undefined) {
    if (c.byHeaderValue !== undefined) parts.push(`header ${c.byHeader} equals ${JSON.stringify(c.byHeaderValue)}`);
    else if (c.byHeaderPattern !== undefined) parts.push(`header ${c.byHeader} matches /${c.byHeaderPattern}/`);
    else parts.push(`header ${c.byHeader} "always" (or "never" to skip)`);
  }
  if (c.byCookie !== undefined) parts.push(`cookie ${c.byCookie} "always" (or "never" to skip)`);
  if (c.weight !== undefined) parts.push(`${c.weight} of ${c.weightTotal ?? 100} requests`);
  return `${parts.join(', else ') || 'no conditions'} -> lane ${c.lane}`;
}
