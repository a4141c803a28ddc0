/**
 * Services: versions with their endpoints, fallback, fail-closed lanes, passive health, retries.
 */
import type { RetrySpec, ServiceSpec, VersionSpec } from '../types.js';
import { entries, list, rec, str, type NormalizeContext } from '../context.js';
import { didYouMean } from '../suggest.js';
import { timer } from './gateway.js';

export const DEFAULT_FALLBACK = 'stable';

export function normalizeServices(data: Record<string, unknown>, ctx: NormalizeContext): Record<string, ServiceSpec> {
  return Object.fromEntries(
    entries(data.services).map(([name, service]) => [name, normalizeService(name, rec(service), ctx)]),
  );
}

function normalizeService(name: string, raw: Record<string, unknown>, ctx: NormalizeContext): ServiceSpec {
  const path = ['services', name];
  const versions = Object.fromEntries(
    entries(raw.versions).map(([version, v]) => [version, normalizeVersion([...path, 'versions', version], v, ctx)]),
  );

  const fallback = str(raw.fallback) ?? DEFAULT_FALLBACK;
  const names = Object.keys(versions);
  if (names.length > 0 && !Object.hasOwn(versions, fallback)) {
    const given = str(raw.fallback) !== undefined;
    const hint = didYouMean(fallback, names);
    ctx.report(
      [...path, 'fallback'],
      'unknown-version',
      given
        ? `fallback "${fallback}" is not a version of service ${name}${hint}; versions are: ${names.join(', ')}`
        : `service ${name} has no version "${DEFAULT_FALLBACK}" (the default fallback); add one or set fallback to one of: ${names.join(', ')}`,
    );
  }

  const failClosed = list(raw.failClosed).filter((lane): lane is string => typeof lane === 'string');
  failClosed.forEach((lane, i) => ctx.checkLane([...path, 'failClosed', i], lane));

  const health = rec(raw.passiveHealth);
  const retry = normalizeRetry(raw.retry);
  return {
    fallback,
    failClosed,
    versions,
    passiveHealth: {
      consecutiveFailures: typeof health.consecutiveFailures === 'number' ? health.consecutiveFailures : 5,
      ejectMs: timer(ctx, [...path, 'passiveHealth', 'eject'], health.eject, 10_000),
    },
    ...(retry === undefined ? {} : { retry }),
  };
}

/** `retry: { attempts, on }`; the schema checks the shape, this only fills the defaults. */
function normalizeRetry(raw: unknown): RetrySpec | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = rec(raw);
  const on = list(r.on).filter((k): k is 'connect-error' | 'reset' => k === 'connect-error' || k === 'reset');
  return { attempts: typeof r.attempts === 'number' ? r.attempts : 1, on: r.on === undefined ? ['connect-error', 'reset'] : on };
}

/** `{ endpoints: [...] }` or the bare list. */
function normalizeVersion(path: (string | number)[], raw: unknown, ctx: NormalizeContext): VersionSpec {
  const bare = Array.isArray(raw);
  const urls = bare ? raw : list(rec(raw).endpoints);
  const endpoints: string[] = [];
  urls.forEach((url, i) => {
    if (typeof url !== 'string') return;
    const problem = endpointProblem(url);
    if (problem) ctx.report(bare ? [...path, i] : [...path, 'endpoints', i], 'bad-url', problem);
    endpoints.push(url);
  });
  return { endpoints };
}

/** Endpoint schemes: HTTP/1.1 in clear text or TLS, HTTP/2 with prior knowledge (h2c) or over TLS (h2). */
const ENDPOINT_SCHEMES = new Set(['http:', 'https:', 'h2c:', 'h2:']);

/**
 * What the schema's pattern cannot see in an endpoint URL: the WHATWG parser must accept it (port
 * in range, valid IPv6 literal...). The pattern already requires scheme://host and forbids a query.
 * `h2c://` and `h2://` are schemes the URL standard does not know, so their host and port are
 * checked here: a port is required (there is no default port for gRPC), and a path prefix is refused
 * (a gRPC method is `/package.Service/Method`; a prefix would break it, and h2 upstreams are gRPC's).
 */
export function endpointProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `not a valid URL: "${url}"`;
  }
  if (!ENDPOINT_SCHEMES.has(parsed.protocol)) return `must be http://, https://, h2c:// or h2://, got "${url}"`;
  if (parsed.hostname === '') return `has no host: "${url}"`;
  if (parsed.protocol === 'h2c:' || parsed.protocol === 'h2:') {
    if (parsed.port === '') return `an ${parsed.protocol}// endpoint needs a port, e.g. ${parsed.protocol}//${parsed.host}:50051: "${url}"`;
    if (parsed.pathname !== '' && parsed.pathname !== '/') return `an ${parsed.protocol}// endpoint takes no path prefix: "${url}"`;
  }
  return undefined;
}
