/**
 * The two latency histograms graylane keeps, and how a percentile is read from one.
 *
 * - The fine histogram: exponential bounds (x1.15 from 0.1 ms up to ten minutes, 112 buckets), for
 *   percentiles that builtin analysis judges and the dashboard shows. A percentile is reported as
 *   the geometric middle of its bucket, within about 7% of the true value. Every window, every
 *   gateway's published totals and every sum of them use these same bounds, so they add up exactly.
 * - The Prometheus histogram: the usual few bounds in seconds, exported as
 *   `graylane_request_duration_seconds` (counts in a bucket must be exact for PromQL, so it is kept
 *   apart rather than derived from the fine one).
 */

/** The fine histogram's first bound (ms) and growth per bucket; nginx's Lua tier buckets by them too (src/export/nginx-lua.ts). */
export const MIN_MS = 0.1;
export const GROWTH = 1.15;
const LOG_GROWTH = Math.log(GROWTH);

/** Buckets of the fine histogram: enough to reach ten minutes; slower requests share the last one. */
export const LATENCY_BUCKETS = Math.ceil(Math.log(600_000 / MIN_MS) / LOG_GROWTH) + 1;

/** Index of the fine bucket of a duration: bucket i holds (0.1 x 1.15^(i-1), 0.1 x 1.15^i] ms. */
export function latencyBucket(ms: number): number {
  const b = ms <= MIN_MS ? 0 : Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH);
  return b >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : b;
}

/** Upper bound of fine bucket i, in ms. */
function upperBound(i: number): number {
  return MIN_MS * GROWTH ** i;
}

/** The q-quantile (0 < q <= 1) of a fine histogram holding `total` requests, in ms; NaN when empty. */
export function percentile(hist: ArrayLike<number>, total: number, q: number): number {
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < hist.length; b++) {
    seen += hist[b]!;
    if (seen >= rank) return b === 0 ? MIN_MS : Math.sqrt(upperBound(b - 1) * upperBound(b));
  }
  return upperBound(hist.length - 1);
}

/** Upper bounds of the Prometheus histogram, in seconds (a gateway's hop is mostly milliseconds). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

const BOUNDS_MS = Float64Array.from(LATENCY_BUCKETS_SECONDS, (s) => s * 1000);

/** Index of the Prometheus bucket of a duration; LATENCY_BUCKETS_SECONDS.length is +Inf. */
export function promBucket(ms: number): number {
  let b = 0;
  while (b < BOUNDS_MS.length && ms > BOUNDS_MS[b]!) b++;
  return b;
}
