/**
 * Everything graylane counts about the requests it proxied, in one place, fed once per finished
 * request by the gateway (it is the gateway's ResponseObserver). Three readers:
 *
 * - /metrics and the live dashboard: cumulative counts per (route, service, version, lane) by status
 *   class, and per (service, version) with a Prometheus latency histogram (src/metrics reads them at
 *   scrape time; no prom-client work per request);
 * - builtin canary analysis: a sliding window per (service, version) (window.ts), so analysis needs
 *   no Prometheus;
 * - clustered mode: cumulative totals with the fine latency histogram, published as a document
 *   (document.ts) that the controller sums over gateways.
 *
 * Hot path: recordResponse() allocates nothing once its (service, version) and (route, version,
 * lane) have been seen: two Map lookups for the version, three for the route series, a few
 * additions. Label values are bounded by construction: route, service and version come from the
 * config; the lane comes from marking, where a route with `trustLane` accepts whatever a client
 * sends, so a lane the loaded config does not name is counted as {@link OTHER_LANE}. Nothing from
 * the request itself (path, user id, header values) becomes a key.
 */
import type { ResponseDetail, ResponseObserver } from '../gateway/observer.js';
import { totalsDocument, type CountersDocument, type VersionDocument } from './document.js';
import { LATENCY_BUCKETS, LATENCY_BUCKETS_SECONDS, latencyBucket, promBucket } from './latency.js';
import { EMPTY_WINDOW, Ring, type MetricsSource, type WindowSample, type WindowStats } from './window.js';

/** Status classes, the `class` label: index 0 is 1xx ... index 4 is 5xx. */
export const STATUS_CLASSES: readonly string[] = Object.freeze(['1xx', '2xx', '3xx', '4xx', '5xx']);

/**
 * The lane label of requests whose lane the loaded config does not name (a trusted route passing on
 * a client's lane). Lane names cannot start with `_`, so it never collides with a real one.
 */
export const OTHER_LANE = '_other';

/** An error, for every reader: any answer of 500 and above (the gateway's own 502/504 included), or none. */
function isError(status: number): boolean {
  return status >= 500 || status === 0;
}

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

/** Everything counted for one (service, version): totals since the start, and its window ring. */
export class VersionTraffic {
  requests = 0;
  /** See isError(). */
  errors = 0;
  /** Upstream connections refused, reset or answering garbage (502 from the gateway, or a cut body). */
  upstreamErrors = 0;
  /** Upstream connect, response-header or body-idle timeouts. */
  upstreamTimeouts = 0;
  /** Prometheus histogram: non-cumulative counts per bucket of LATENCY_BUCKETS_SECONDS; the last is +Inf. */
  readonly promBuckets = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1);
  latencySumSeconds = 0;
  /** Fine histogram since the start (latency.ts). Float64: exact up to 2^53 requests. */
  readonly histogram = new Float64Array(LATENCY_BUCKETS);
  readonly ring: Ring;
  /**
   * The window of only the requests marking drew at random (Assignment `chance`): what builtin
   * `compare` analysis judges, so that users a rule sends to the canary do not bias it.
   */
  readonly chanceRing: Ring;
  /** The chance requests since the start (published in clustered mode and by workers, for `compare` there). */
  chanceRequests = 0;
  chanceErrors = 0;
  readonly chanceHistogram = new Float64Array(LATENCY_BUCKETS);

  constructor(
    readonly service: string,
    readonly version: string,
    slots: number,
  ) {
    this.ring = new Ring(slots);
    this.chanceRing = new Ring(slots);
  }
}

/** What readers of cumulative counts (/metrics, the dashboard) see of one (service, version). */
export type VersionTotals = Omit<VersionTraffic, 'ring' | 'chanceRing' | 'chanceRequests' | 'chanceErrors' | 'chanceHistogram'>;

/**
 * The counts as everything but the gateway reads them: this process's TrafficRecorder, or in a
 * primary with workers the sum of what its workers publish (src/workers/traffic.ts).
 */
export interface TrafficCounts {
  /** When counting started (epoch ms). */
  readonly startedAt: number;
  /** Changes whenever anything was counted. */
  readonly recorded: number;
  versions(): Iterable<VersionTotals>;
  requestSeries(): Iterable<RequestSeries>;
  requestsOf(service: string, version: string): number;
  /** See MetricsSource.window. */
  window(service: string, version: string, ms: number, since?: number): WindowStats;
  /** Builtin compare's sample (see MetricsSource.chanceSample). */
  chanceSample(service: string, version: string, ms: number, since?: number): WindowSample;
  /** The totals as one gateway publishes them in clustered mode. */
  toDocument(gateway: string): CountersDocument;
}

export interface TrafficRecorderOptions {
  /**
   * Lanes that may become label values: every lane the loaded config names (see knownLanes() in
   * src/metrics/lanes.ts). Asked only when a (route, version) sees a lane for the first time, or one
   * it keeps refusing. Default: no lane is known, every lane is counted as {@link OTHER_LANE}.
   */
  knownLanes?: () => ReadonlySet<string>;
  /** Width of one window bucket (default 1000 ms). */
  bucketMs?: number;
  /** Longest window that can be asked for (default 5 minutes). */
  horizonMs?: number;
  /** Epoch ms (default Date.now): when a request is counted, and what windows end at. */
  clock?: () => number;
}

const NO_LANES: ReadonlySet<string> = new Set();

export class TrafficRecorder implements ResponseObserver, MetricsSource, TrafficCounts {
  /** When counting started (epoch ms): published totals count from zero there. */
  readonly startedAt: number;
  readonly #knownLanes: () => ReadonlySet<string>;
  readonly #bucketMs: number;
  readonly #slots: number;
  readonly #clock: () => number;
  /** service -> version -> traffic. */
  readonly #versions = new Map<string, Map<string, VersionTraffic>>();
  /** route -> version -> lane label -> series. */
  readonly #requests = new Map<string, Map<string, Map<string, RequestSeries>>>();
  #recorded = 0;

  constructor(opts: TrafficRecorderOptions = {}) {
    this.#knownLanes = opts.knownLanes ?? (() => NO_LANES);
    this.#bucketMs = opts.bucketMs ?? 1000;
    this.#slots = Math.ceil((opts.horizonMs ?? 300_000) / this.#bucketMs) + 1;
    this.#clock = opts.clock ?? Date.now;
    this.startedAt = this.#clock();
  }

  /** Hot path: called by the gateway once per finished proxied request. */
  recordResponse(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail): void {
    this.record(service, version, status, durationMs, this.#clock(), detail);
  }

  /**
   * `count` finished requests alike, as one outcome an edge proxy reported for several (a sampled
   * line, src/decide): counted in one step whatever the count, so a large weight costs no more.
   */
  recordResponses(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail, count: number): void {
    this.record(service, version, status, durationMs, this.#clock(), detail, count);
  }

  /**
   * Counts `count` (default one) requests that ended at `now` (epoch ms). Without `detail` they are
   * counted per version only (no route series): tests of windows and analysis use that.
   */
  record(service: string, version: string, status: number, durationMs: number, now: number, detail: ResponseDetail | null = null, count = 1): void {
    this.#recorded += count;
    const v = this.versionTraffic(service, version);
    const error = isError(status);
    v.requests += count;
    if (error) v.errors += count;
    const fine = latencyBucket(durationMs);
    v.histogram[fine]! += count;
    v.promBuckets[promBucket(durationMs)]! += count;
    v.latencySumSeconds += (count * durationMs) / 1000;
    const epoch = Math.floor(now / this.#bucketMs);
    v.ring.add(epoch, now, error, fine, count);
    if (detail === null) return;
    if (detail.assignment === 'chance') {
      v.chanceRing.add(epoch, now, error, fine, count);
      v.chanceRequests += count;
      if (error) v.chanceErrors += count;
      v.chanceHistogram[fine]! += count;
    }
    const failure = detail.upstreamFailure;
    if (failure !== null) {
      if (failure === 'upstream_timeout') v.upstreamTimeouts += count;
      else v.upstreamErrors += count;
    }
    const series = this.#requestSeries(detail.route.name, service, version, detail.lane);
    const c = (status / 100) | 0;
    series.byClass[c < 1 ? 0 : c > 5 ? 4 : c - 1]! += count;
  }

  /** Requests counted so far, all versions together: it changes whenever anything was counted. */
  get recorded(): number {
    return this.#recorded;
  }

  /** Traffic of one version over the last `ms` (cut to the horizon), none from before `since`. */
  window(service: string, version: string, ms: number, since?: number): WindowStats {
    const v = this.#versions.get(service)?.get(version);
    if (v === undefined) return { ...EMPTY_WINDOW };
    const current = Math.floor(this.#clock() / this.#bucketMs);
    return v.ring.sum(current, this.#span(current, ms, since), since);
  }

  /** The requests marking drew at random for one version over the last `ms`, none from before `since` (see VersionTraffic.chanceRing). */
  chanceSample(service: string, version: string, ms: number, since?: number): WindowSample {
    const v = this.#versions.get(service)?.get(version);
    if (v === undefined) return { requests: 0, errors: 0, histogram: new Uint32Array(LATENCY_BUCKETS) };
    const current = Math.floor(this.#clock() / this.#bucketMs);
    return v.chanceRing.sample(current, this.#span(current, ms, since), since);
  }

  /** How many buckets up to `current` a window of `ms` sums: with `since`, none before the one it falls in (see Ring.sum). */
  #span(current: number, ms: number, since: number | undefined): number {
    const span = Math.max(1, Math.ceil(ms / this.#bucketMs));
    if (since === undefined) return span;
    return Math.max(0, Math.min(span, current - Math.floor(since / this.#bucketMs) + 1));
  }

  /**
   * The last look-ups' answers: most requests in a row go to the same version and lane, and two
   * string compares cost less than the five map look-ups (a few percent of a proxied request).
   */
  #lastTraffic: VersionTraffic | null = null;
  #lastSeries: RequestSeries | null = null;

  /** The (service, version) traffic, created on first use. */
  versionTraffic(service: string, version: string): VersionTraffic {
    const last = this.#lastTraffic;
    if (last !== null && last.version === version && last.service === service) return last;
    const v = this.#versionTraffic(service, version);
    this.#lastTraffic = v;
    return v;
  }

  #versionTraffic(service: string, version: string): VersionTraffic {
    let byVersion = this.#versions.get(service);
    if (byVersion === undefined) {
      byVersion = new Map();
      this.#versions.set(service, byVersion);
    }
    let v = byVersion.get(version);
    if (v === undefined) {
      v = new VersionTraffic(service, version, this.#slots);
      byVersion.set(version, v);
    }
    return v;
  }

  /** Requests served by a version so far (0 before its first). */
  requestsOf(service: string, version: string): number {
    return this.#versions.get(service)?.get(version)?.requests ?? 0;
  }

  /** Every (service, version) so far. */
  *versions(): IterableIterator<VersionTraffic> {
    for (const byVersion of this.#versions.values()) yield* byVersion.values();
  }

  /** Every (route, service, version, lane) series so far. */
  *requestSeries(): IterableIterator<RequestSeries> {
    for (const byVersion of this.#requests.values()) {
      for (const byLane of byVersion.values()) yield* byLane.values();
    }
  }

  /** The totals as one gateway publishes them in clustered mode. */
  toDocument(gateway: string): CountersDocument {
    const versions: CountersDocument['versions'] = {};
    for (const v of this.versions()) {
      const doc: VersionDocument = totalsDocument(v.requests, v.errors, v.histogram);
      if (v.chanceRequests > 0) doc.chance = totalsDocument(v.chanceRequests, v.chanceErrors, v.chanceHistogram);
      (versions[v.service] ??= {})[v.version] = doc;
    }
    return { v: 1, gateway, startedAt: this.startedAt, at: this.#clock(), versions };
  }

  #requestSeries(route: string, service: string, version: string, lane: string): RequestSeries {
    const last = this.#lastSeries;
    if (last !== null && last.lane === lane && last.version === version && last.route === route) return last;
    // A lane counted as OTHER_LANE never matches above (the series' lane is the label): it is
    // asked about again, and a reload may make it known.
    const s = this.#findSeries(route, service, version, lane);
    this.#lastSeries = s;
    return s;
  }

  #findSeries(route: string, service: string, version: string, lane: string): RequestSeries {
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
}
