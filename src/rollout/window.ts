/**
 * Per-version traffic counters over a sliding window: what the builtin analysis provider reads
 * (request count, error count, latency percentiles), so canary analysis needs no Prometheus.
 *
 * The gateway calls record() once per finished request; it is on the hot path, so it allocates
 * nothing after a (service, version) pair's first request: time is cut into fixed buckets in a ring
 * (default 1 s x 300 = 5 minutes), each bucket holding counters and a latency histogram with
 * exponential bounds (x1.15 from 0.1 ms; a percentile is reported as the geometric middle of its
 * bucket, within about 7%). A window of `ms` sums the buckets that started within the last `ms`,
 * the current partial bucket included.
 */

/** Counts of one version over a window; percentiles in milliseconds, NaN without requests. */
export interface WindowStats {
  requests: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * Where builtin analysis reads traffic. The gateway's SlidingWindow implements it in-process; in
 * clustered mode the controller sums the windows all gateways publish (hence the Promise).
 */
export interface MetricsSource {
  window(service: string, version: string, ms: number): WindowStats | Promise<WindowStats>;
}

const MIN_MS = 0.1;
const GROWTH = 1.15;
const LOG_GROWTH = Math.log(GROWTH);
/** Enough buckets to reach ten minutes; slower requests share the last one. */
const LATENCY_BUCKETS = Math.ceil(Math.log(600_000 / MIN_MS) / LOG_GROWTH) + 1;

/** Upper bound of latency bucket i. */
function upperBound(i: number): number {
  return MIN_MS * GROWTH ** i;
}

class Series {
  /** Absolute bucket number held by each ring slot; -1 = empty. */
  readonly epochs: Float64Array;
  readonly requests: Uint32Array;
  readonly errors: Uint32Array;
  readonly latency: Uint32Array;

  constructor(slots: number) {
    this.epochs = new Float64Array(slots).fill(-1);
    this.requests = new Uint32Array(slots);
    this.errors = new Uint32Array(slots);
    this.latency = new Uint32Array(slots * LATENCY_BUCKETS);
  }
}

export interface SlidingWindowOptions {
  /** Width of one time bucket (default 1000 ms). */
  bucketMs?: number;
  /** Longest window that can be asked for (default 5 minutes). */
  horizonMs?: number;
  /** Clock of window() (default Date.now); record() takes the time from its caller. */
  clock?: () => number;
}

/** In-memory counters per (service, version). */
export class SlidingWindow implements MetricsSource {
  private readonly bucketMs: number;
  private readonly slots: number;
  private readonly clock: () => number;
  private readonly series = new Map<string, Map<string, Series>>();

  constructor(opts: SlidingWindowOptions = {}) {
    this.bucketMs = opts.bucketMs ?? 1000;
    this.slots = Math.ceil((opts.horizonMs ?? 300_000) / this.bucketMs) + 1;
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * Counts one finished request. `status` 0 means no response (connect error, timeout); it and any
   * 5xx count as errors. Hot path: no allocation once the pair has been seen.
   */
  record(service: string, version: string, status: number, durationMs: number, now: number): void {
    let byVersion = this.series.get(service);
    if (byVersion === undefined) {
      byVersion = new Map();
      this.series.set(service, byVersion);
    }
    let s = byVersion.get(version);
    if (s === undefined) {
      s = new Series(this.slots);
      byVersion.set(version, s);
    }
    const epoch = Math.floor(now / this.bucketMs);
    const slot = epoch % this.slots;
    if (s.epochs[slot] !== epoch) {
      s.epochs[slot] = epoch;
      s.requests[slot] = 0;
      s.errors[slot] = 0;
      s.latency.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
    }
    s.requests[slot]!++;
    if (status === 0 || status >= 500) s.errors[slot]!++;
    let b = durationMs <= MIN_MS ? 0 : Math.ceil(Math.log(durationMs / MIN_MS) / LOG_GROWTH);
    if (b >= LATENCY_BUCKETS) b = LATENCY_BUCKETS - 1;
    s.latency[slot * LATENCY_BUCKETS + b]!++;
  }

  /**
   * record() at this window's clock: the shape of the gateway's ResponseObserver, so a SlidingWindow
   * can be handed to startGateway({ observer }) as it is.
   */
  recordResponse(service: string, version: string, status: number, durationMs: number): void {
    this.record(service, version, status, durationMs, this.clock());
  }

  window(service: string, version: string, ms: number): WindowStats {
    const s = this.series.get(service)?.get(version);
    if (s === undefined) return { requests: 0, errors: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN };
    const current = Math.floor(this.clock() / this.bucketMs);
    const span = Math.min(this.slots - 1, Math.max(1, Math.ceil(ms / this.bucketMs)));
    const hist = new Uint32Array(LATENCY_BUCKETS);
    let requests = 0;
    let errors = 0;
    for (let k = 0; k < span; k++) {
      const epoch = current - k;
      if (epoch < 0) break;
      const slot = epoch % this.slots;
      if (s.epochs[slot] !== epoch) continue;
      requests += s.requests[slot]!;
      errors += s.errors[slot]!;
      const base = slot * LATENCY_BUCKETS;
      for (let b = 0; b < LATENCY_BUCKETS; b++) hist[b]! += s.latency[base + b]!;
    }
    return { requests, errors, p50: percentile(hist, requests, 0.5), p90: percentile(hist, requests, 0.9), p99: percentile(hist, requests, 0.99) };
  }
}

function percentile(hist: Uint32Array, total: number, q: number): number {
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < hist.length; b++) {
    seen += hist[b]!;
    if (seen >= rank) return b === 0 ? MIN_MS : Math.sqrt(upperBound(b - 1) * upperBound(b));
  }
  return upperBound(hist.length - 1);
}
