/**
 * Builders for the routing tests: Spec objects as the loader would produce them (defaults filled in),
 * request views, and deterministic randomness. Test support only; nothing in the gateway imports it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteSpec, ServiceSpec, Spec } from '../../src/spec/types.js';
import type { HealthView, MarkContext, RequestView } from '../../src/routing/types.js';
import { ObjectHeaders } from '../../src/routing/request-values.js';

/** A service with these versions (name -> endpoint URLs), fallback `stable` unless overridden. */
export function service(versions: Record<string, string[]>, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    fallback: 'stable',
    failClosed: [],
    versions: Object.fromEntries(Object.entries(versions).map(([k, endpoints]) => [k, { endpoints }])),
    passiveHealth: { consecutiveFailures: 3, ejectMs: 10_000 },
    ...over,
  };
}

/** A route of service `svc` with the loader's defaults (any host and path, no rules). */
export function route(over: Partial<RouteSpec> = {}): RouteSpec {
  return {
    name: 'r',
    match: {},
    service: 'svc',
    trustLane: false,
    identity: [{ kind: 'header', name: 'x-user-id' }],
    visitorCookie: null,
    salt: 'salt-1',
    rules: [],
    canary: [],
    stickySplit: false,
    ...over,
  };
}

/** The standard three-version service `svc` used by most tests. */
export const SVC = (): ServiceSpec =>
  service({
    stable: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'],
    beta: ['http://127.0.0.1:9101'],
    alpha: ['http://127.0.0.1:9201'],
  });

export function spec(over: Partial<Spec> = {}): Spec {
  return {
    listen: '127.0.0.1:8080',
    laneHeader: 'x-gray-lane',
    laneAliases: [],
    exposeLane: false,
    timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
    mirror: { maxConcurrent: 16, maxBodyBytes: 1 << 20 },
    accessLog: false,
    drainMs: 5000,
    services: { svc: SVC() },
    routes: [route()],
    ...over,
  };
}

/** A request view; `query` is the raw query string. */
export function req(
  headers: IncomingHttpHeaders = {},
  path = '/',
  query = '',
  host = 'prod.example.com',
): RequestView {
  return { host, path, query, headers: new ObjectHeaders(headers) };
}

export const allUp: HealthView = { isUp: () => true };

/** Health with these origins down. */
export function down(...origins: string[]): HealthView {
  const set = new Set(origins);
  return { isUp: (o) => !set.has(o) };
}

/**
 * Deterministic MarkContext: `random` from a small LCG (or the given fixed values, cycled), visitor
 * ids `visitor-1`, `visitor-2`...; counts calls so tests can assert what was (not) used.
 */
export function ctx(fixed?: number[]): MarkContext & { randomCalls: number; minted: number } {
  let state = 12345;
  let i = 0;
  const c = {
    randomCalls: 0,
    minted: 0,
    random(): number {
      c.randomCalls++;
      if (fixed !== undefined) return fixed[i++ % fixed.length]!;
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    },
    newVisitorId(): string {
      c.minted++;
      return `visitor-${c.minted}`;
    },
  };
  return c;
}
