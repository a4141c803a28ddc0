/**
 * Request counters for /metrics and the live dashboard, fed by the gateway once per finished request.
 *
 * The hot path does no prom-client work at all: recordResponse() bumps plain numbers in objects that
 * are created on the first request of their label set and reused ever after (three Map lookups and
 * a few additions per request, no allocation). prom-client reads these objects when /metrics is
 * scraped (registry.ts), and the live feed samples them once a second (live.ts). prom-client's own
 * `labels(...).inc()` would hash and validate its label object on every call, which is what this
 * avoids.
 *
 * Label values are bounded by construction: route, service and version come from the config; the
 * lane comes from marking, where a route with `trustLane` accepts whatever a client sends, so a lane
 * the loaded config does not name is counted as {@link OTHER_LANE}. Nothing from the request itself
 * (path, user id, header values) ever becomes a label.
 */
import type { ResponseDetail, ResponseObserver } from '../gateway/observer.js';

/** Upper bounds of the latency histogram, in seconds (a gateway's hop is mostly milliseconds). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

/** Status classes, the `class` label: index 0 is 1xx ... index 4 is 5xx. */
export const STATUS_CLASSES: readonly string[] = Object.freeze(['1xx', '2xx', '3xx', '4xx', '5xx']);

/**
 * The lane label of requests whose lane the loaded config does not name (a trusted route passing on
 * a client's lane). Lane names cannot start with `_`, so it never collides with a real one.
 */
export const OTHER_LANE = '_other';

const BOUNDS_MS = Float64Array.from(LATENCY_BUCKETS_SECONDS, (s) => s * 1000);

/** Requests of one (route, service, version, lane), by status class. */
export class RequestSeries {
  /** Counts by status class (see {@link STATUS_CLASSES}). */
  readonly byClass = new Float64Array(STATUS_CLASSES.length);

  constructor(
    readonly route: string,
    readonly service: string,
    readonly version: string,
    readonly lane: string,
  ) {}
}

/** Everything counted for one (service, version). */
export class VersionSeries {
  requests = 0;
  /** Answers of 500 and above (the gateway's own 502/504 included): what "error rate" means here. */
  errors = 0;
  /** Upstream connections refused, reset or answering garbage (502 from the gateway, or a cut body). */
  upstreamErrors = 0;
  /** Upstream connect, response-header or body-idle timeouts. */
  upstreamTimeouts = 0;
  /** Non-cumulative counts per latency bucket; the last slot is +Inf. */
  readonly latency = new Float64Array(BOUNDS_MS.length + 1);
  latencySumSeconds = 0;

  constructor(
    readonly service: string,
    readonly version: string,
  ) {}
}

export interface TrafficCountersOptions {
  /**
   * Lanes that may become label values: every lane the loaded config names (see knownLanes() in
   * lanes.ts). Asked only when a (route, version) sees a lane for the first time, or one it keeps
   * refusing. Default: no lane is known, every lane is counted as {@link OTHER_LANE}.
   */
  knownLanes?: () => ReadonlySet<string>;
}

const NO_LANES: ReadonlySet<string> = new Set();

/** The gateway-facing counters: a ResponseObserver that only adds numbers. */
export class TrafficCounters implements ResponseObserver {
  readonly #knownLanes: () => ReadonlySet<string>;
  /** route -> version -> lane label -> series. */
  readonly #requests = new Map<string, Map<string, Map<string, RequestSeries>>>();
  /** service -> version -> series. */
  readonly #versions = new Map<string, Map<string, VersionSeries>>();

  constructor(opts: TrafficCountersOptions = {}) {
    this.#knownLanes = opts.knownLanes ?? (() => NO_LANES);
  }

  /** Hot path: called by the gateway once per finished proxied request. */
  recordResponse(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail): void {
    const v = this.versionSeries(service, version);
    v.requests++;
    if (status >= 500) v.errors++;
    const failure = detail.upstreamFailure;
    if (failure !== null) {
      if (failure === 'upstream_timeout') v.upstreamTimeouts++;
      else v.upstreamErrors++;
    }
    let b = 0;
    while (b < BOUNDS_MS.length && durationMs > BOUNDS_MS[b]!) b++;
    v.latency[b]!++;
    v.latencySumSeconds += durationMs / 1000;

    const series = this.#requestSeries(detail.route.name, service, version, detail.lane);
    const c = (status / 100) | 0;
    series.byClass[c < 1 ? 0 : c > 5 ? 4 : c - 1]!++;
  }

  /** The (service, version) series, created on first use. */
  versionSeries(service: string, version: string): VersionSeries {
    let byVersion = this.#versions.get(service);
    if (byVersion === undefined) {
      byVersion = new Map();
      this.#versions.set(service, byVersion);
    }
    let s = byVersion.get(version);
    if (s === undefined) {
      s = new VersionSeries(service, version);
      byVersion.set(version, s);
    }
    return s;
  }

  /** Requests served by a version so far (0 before its first). */
  requestsOf(service: string, version: string): number {
    return this.#versions.get(service)?.get(version)?.requests ?? 0;
  }

  #requestSeries(route: string, service: string, version: string, lane: string): RequestSeries {
    let byVersion = this.#requests.get(route);
    if (byVersion === undefined) {
      byVersion = new Map();
      this.#requests.set(route, byVersion);
    }
    let byLane = byVersion.get(version);
    if (byLane === undefined) {
      byLane = new Map();
      byVersion.set(version, byLane);
    }
    let s = byLane.get(lane);
    if (s !== undefined) return s;
    // A lane seen for the first time here, or one that is not a label value: only known lanes get a
    // key of their own, so a client sending random lanes cannot grow this map.
    const label = this.#knownLanes().has(lane) ? lane : OTHER_LANE;
    s = byLane.get(label);
    if (s === undefined) {
      s = new RequestSeries(route, service, version, label);
      byLane.set(label, s);
    }
    return s;
  }

  /** Every request series so far (for the scrape). */
  *requestSeries(): IterableIterator<RequestSeries> {
    for (const byVersion of this.#requests.values()) {
      for (const byLane of byVersion.values()) yield* byLane.values();
    }
  }

  /** Every (service, version) series so far (for the scrape and the live feed). */
  *versions(): IterableIterator<VersionSeries> {
    for (const byVersion of this.#versions.values()) yield* byVersion.values();
  }
}
