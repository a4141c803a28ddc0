/**
 * Gateway-wide settings: listeners (sections/listeners.ts), lane header, timeouts, mirroring limits, access log, drain.
 */
import type { LimitsSpec, Spec } from '../types.js';
import { bool, list, rec, str, type NormalizeContext } from '../context.js';
import { parseDuration, parseSize } from '../units.js';
import { normalizeListeners } from './listeners.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const DEFAULT_LANE_HEADER = 'x-gray-lane';

/** setTimeout silently turns longer delays into 1 ms, so timer durations are capped (24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

type GatewaySettings = Pick<
  Spec,
  'listen' | 'listeners' | 'laneHeader' | 'laneAliases' | 'exposeLane' | 'timeouts' | 'mirror' | 'accessLog' | 'drainMs'
> &
  Required<Pick<Spec, 'limits'>>;

/**
 * Defaults of `limits`: nginx's 8 KiB request line, Node's 16 KiB head, Envoy's 100 headers,
 * 10 s for the head (Node's own 60 s lets a slowloris hold a connection for a minute), and 100
 * HTTP/2 streams per connection (RFC 9113 §6.5.2 recommends at least 100; nginx allows 128).
 */
export const DEFAULT_LIMITS: Readonly<LimitsSpec> = Object.freeze({
  maxUrlBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  headersTimeoutMs: 10_000,
  maxConcurrentStreams: 100,
});

export function normalizeGateway(data: Record<string, unknown>, ctx: NormalizeContext): GatewaySettings {
  const listeners = normalizeListeners(data.listen, DEFAULT_LISTEN, ctx);

  const laneHeader = (str(data.laneHeader) ?? DEFAULT_LANE_HEADER).toLowerCase();
  const laneAliases = list(data.laneAliases).flatMap((a) => (typeof a === 'string' ? [a.toLowerCase()] : []));
  laneAliases.forEach((alias, i) => {
    if (alias === laneHeader) ctx.report(['laneAliases', i], 'invalid-value', `"${alias}" is the laneHeader itself`);
  });

  const timeouts = rec(data.timeouts);
  const mirror = rec(data.mirror);
  return {
    ...listeners,
    laneHeader,
    laneAliases,
    exposeLane: bool(data.exposeLane, false),
    timeouts: {
      connectMs: timer(ctx, ['timeouts', 'connect'], timeouts.connect, 5_000),
      headersMs: timer(ctx, ['timeouts', 'headers'], timeouts.headers, 30_000),
      idleMs: timer(ctx, ['timeouts', 'idle'], timeouts.idle, 60_000),
      // WebSockets are quiet for minutes between messages; an hour bounds a tunnel whose peers vanished.
      tunnelIdleMs: timer(ctx, ['timeouts', 'tunnelIdle'], timeouts.tunnelIdle, 3_600_000),
    },
    mirror: {
      maxConcurrent: typeof mirror.maxConcurrent === 'number' ? mirror.maxConcurrent : 64,
      maxBodyBytes: parseSize(mirror.maxBodyBytes) ?? 1024 * 1024,
    },
    accessLog: bool(data.accessLog, true),
    drainMs: timer(ctx, ['drain'], data.drain, 30_000, { allowZero: true }),
    limits: normalizeLimits(rec(data.limits), ctx),
  };
}

function normalizeLimits(limits: Record<string, unknown>, ctx: NormalizeContext): LimitsSpec {
  const size = (key: 'maxUrlBytes' | 'maxHeaderBytes'): number => {
    const bytes = parseSize(limits[key]);
    if (bytes === undefined) return DEFAULT_LIMITS[key];
    // Node's parser takes a 32-bit size; below 1 KiB no ordinary browser request would pass.
    if (bytes < 1024 || bytes > 2 ** 30) ctx.report(['limits', key], 'invalid-value', 'must be between 1kb and 1gb');
    return bytes;
  };
  return {
    maxUrlBytes: size('maxUrlBytes'),
    maxHeaderBytes: size('maxHeaderBytes'),
    maxHeaders: typeof limits.maxHeaders === 'number' ? limits.maxHeaders : DEFAULT_LIMITS.maxHeaders,
    headersTimeoutMs: timer(ctx, ['limits', 'headersTimeout'], limits.headersTimeout, DEFAULT_LIMITS.headersTimeoutMs),
    maxConcurrentStreams: typeof limits.maxConcurrentStreams === 'number' ? limits.maxConcurrentStreams : DEFAULT_LIMITS.maxConcurrentStreams,
  };
}

/**
 * A duration that will drive a timer: positive (0 would mean "fail at once", never what is meant)
 * unless `allowZero`, and within setTimeout's range.
 */
export function timer(
  ctx: NormalizeContext,
  path: (string | number)[],
  value: unknown,
  fallback: number,
  options: { allowZero?: boolean } = {},
): number {
  const ms = parseDuration(value);
  if (ms === undefined) return fallback;
  if (ms === 0 && !options.allowZero) ctx.report(path, 'bad-duration', 'must be longer than 0');
  else if (ms > MAX_TIMER_MS) ctx.report(path, 'bad-duration', 'must be at most 24d (a timer cannot wait longer)');
  return ms;
}
