/**
 * Traffic over a sliding window: what builtin canary analysis judges (request count, error count,
 * latency percentiles), so analysis needs no Prometheus.
 *
 * Time is cut into fixed buckets held in a ring (default 1 s x 300 = 5 minutes), each bucket with
 * its counters and a fine latency histogram (latency.ts). A window of `ms` sums the buckets that
 * started within the last `ms`, the current partial bucket included. A slot is reset when a later
 * lap reaches it, so nothing is ever swept and adding allocates nothing.
 */
import { LATENCY_BUCKETS, percentile } from './latency.js';

/** Counts of one version over a window; percentiles in milliseconds, NaN without requests. */
export interface WindowStats {
  requests: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Counts of one version over a window with the whole fine latency histogram (what `compare` tests). */
export interface WindowSample {
  requests: number;
  errors: number;
  /** Requests per fine latency bucket (latency.ts). */
  histogram: Uint32Array;
}

/**
 * Where builtin analysis reads traffic: this process's TrafficRecorder, or in clustered mode the
 * sum of every gateway's published totals (hence the Promise).
 */
export interface MetricsSource {
  /**
   * Traffic of one version over the last `ms`, reaching back no earlier than `since` (epoch ms):
   * builtin analysis passes its attempt's start, so a retry never judges the attempt before it.
   * This process's recorder leaves out a 1 s bucket that also counted a request before `since`;
   * published totals (workers, clustered) start at each source's last document before `since`,
   * so up to one publishing grain before it may count (see SampledTotals).
   */
  window(service: string, version: string, ms: number, since?: number): WindowStats | Promise<WindowStats>;
  /**
   * The requests marking sent to this version by chance (split, percent: see Assignment in
   * src/routing/types.ts) over the last `ms`, for builtin `compare`: this process's, or summed over
   * workers (src/workers/traffic.ts) or gateways (src/cluster/counters.ts). Absent in a source that
   * keeps no such counts: compare then measures an Error.
   */
  chanceSample?(service: string, version: string, ms: number, since?: number): WindowSample | Promise<WindowSample>;
}

/** The statistics of `requests` requests, `errors` of them errors, whose latencies are `hist`. */
export function windowStats(requests: number, errors: number, hist: ArrayLike<number>): WindowStats {
  return { requests, errors, p50: percentile(hist, requests, 0.5), p90: percentile(hist, requests, 0.9), p99: percentile(hist, requests, 0.99) };
}

/** No requests at all. */
export const EMPTY_WINDOW: Readonly<WindowStats> = Object.freeze(windowStats(0, 0, []));

/** One version's ring of time buckets. */
export class Ring {
  /** Absolute bucket number held by each slot; -1 = empty. */
  readonly #epochs: Float64Array;
  /** When the slot's first request was counted (epoch ms): whether all of it is after a `since`. */
  readonly #firstAt: Float64Array;
  readonly #requests: Uint32Array;
  readonly #errors: Uint32Array;
  readonly #latency: Uint32Array;

  constructor(readonly slots: number) {
    this.#epochs = new Float64Array(slots).fill(-1);
    this.#firstAt = new Float64Array(slots);
    this.#requests = new Uint32Array(slots);
    this.#errors = new Uint32Array(slots);
    this.#latency = new Uint32Array(slots * LATENCY_BUCKETS);
  }

  /** Counts `count` requests that ended at `at` (epoch ms), in time bucket `epoch` and fine latency bucket `bucket`. */
  add(epoch: number, at: number, error: boolean, bucket: number, count = 1): void {
    const slot = epoch % this.slots;
    if (this.#epochs[slot] !== epoch) {
      this.#epochs[slot] = epoch;
      this.#firstAt[slot] = at;
      this.#requests[slot] = 0;
      this.#errors[slot] = 0;
      this.#latency.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
    }
    this.#requests[slot]! += count;
    if (error) this.#errors[slot]! += count;
    this.#latency[slot * LATENCY_BUCKETS + bucket]! += count;
  }

  /**
   * The `span` buckets up to and including `current` (at most slots - 1 of them), summed, leaving
   * out a bucket that counted a request before `since` (epoch ms): the one `since` falls in may hold
   * traffic from before it (an earlier attempt's errors) and is then left out whole, at the price
   * of the new traffic that shares it.
   */
  sum(current: number, span: number, since = -Infinity): WindowStats {
    const s = this.sample(current, span, since);
    return windowStats(s.requests, s.errors, s.histogram);
  }

  /** As sum(), with the whole latency histogram. */
  sample(current: number, span: number, since = -Infinity): WindowSample {
    const hist = new Uint32Array(LATENCY_BUCKETS);
    let requests = 0;
    let errors = 0;
    const n = Math.min(this.slots - 1, span);
    for (let k = 0; k < n; k++) {
      const epoch = current - k;
      if (epoch < 0) break;
      const slot = epoch % this.slots;
      if (this.#epochs[slot] !== epoch || this.#firstAt[slot]! < since) continue;
      requests += this.#requests[slot]!;
      errors += this.#errors[slot]!;
      const base = slot * LATENCY_BUCKETS;
      for (let b = 0; b < LATENCY_BUCKETS; b++) hist[b]! += this.#latency[base + b]!;
    }
    return { requests, errors, histogram: hist };
  }
}
