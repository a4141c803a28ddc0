/**
 * Traffic counts across workers: each worker keeps its own TrafficRecorder (the per-request path is
 * unchanged and free of IPC) and sends its cumulative totals to the primary in batches
 * (countersBatch); the primary sums them (WorkerTraffic) for /metrics, the dashboard, `top`,
 * builtin analysis and, in clustered mode, the totals it publishes to etcd.
 *
 * Cumulative, not deltas, as clustered mode's documents are (src/traffic/document.ts): a batch
 * replaces the previous one of the same worker run, so the sum never counts twice. A worker that
 * exits keeps what it sent last (its run is retired into a fixed total, so counters never go
 * down); what it counted after its last batch (at most one publish interval) is lost with it.
 * Windows for analysis come from SampledTotals keyed by worker slot, which sees a restarted worker
 * (a new `startedAt`) as a new series.
 */
import type { OriginHealth } from '../gateway/health.js';
import type { MirrorCounters } from '../gateway/mirror.js';
import {
  LATENCY_BUCKETS,
  LATENCY_BUCKETS_SECONDS,
  RequestSeries,
  SampledTotals,
  STATUS_CLASSES,
  totalsDocument,
  type CountersDocument,
  type TrafficCounts,
  type TrafficRecorder,
  type VersionDocument,
  type VersionTotals,
  type WindowSample,
  type WindowStats,
} from '../traffic/index.js';
import type { CountersMessage, SeriesDetail, VersionDetail } from './protocol.js';
import { addTotals, type OutcomeTotals, type ReportVia } from '../decide/index.js';

/** A worker's batch: its recorder's totals, mirror counters, in-flight count and health entries. */
export function countersBatch(
  recorder: TrafficRecorder,
  gateway: string,
  extra: { mirror: MirrorCounters; inFlight: number; health: OriginHealth[]; outcomes?: OutcomeTotals[] },
): CountersMessage {
  const versions: VersionDetail[] = [];
  for (const v of recorder.versions()) {
    versions.push([v.service, v.version, v.upstreamErrors, v.upstreamTimeouts, v.latencySumSeconds, Array.from(v.promBuckets)]);
  }
  const series: SeriesDetail[] = [];
  for (const s of recorder.requestSeries()) series.push([s.route, s.service, s.version, s.lane, Array.from(s.byClass)]);
  return { type: 'counters', doc: recorder.toDocument(gateway), versions, series, mirror: { ...extra.mirror }, inFlight: extra.inFlight, health: extra.health, outcomes: extra.outcomes ?? [] };
}

/** One (service, version) of the sum. */
class SummedVersion implements VersionTotals {
  requests = 0;
  errors = 0;
  upstreamErrors = 0;
  upstreamTimeouts = 0;
  readonly promBuckets = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1);
  latencySumSeconds = 0;
  readonly histogram = new Float64Array(LATENCY_BUCKETS);
  /** The requests marking drew at random (builtin compare), summed as the rest. */
  chanceRequests = 0;
  chanceErrors = 0;
  readonly chanceHistogram = new Float64Array(LATENCY_BUCKETS);
  constructor(
    readonly service: string,
    readonly version: string,
  ) {}
}

/** Totals summed over batches: versions and series. */
class Sum {
  readonly versions = new Map<string, SummedVersion>();
  readonly series = new Map<string, RequestSeries>();
  readonly mirror: MirrorCounters = { sent: 0, dropped: 0, failed: 0 };
  readonly outcomes = new Map<ReportVia, OutcomeTotals>();

  add(batch: CountersMessage): void {
    addTotals(this.outcomes, batch.outcomes);
    for (const [service, byVersion] of Object.entries(batch.doc.versions)) {
      for (const [version, t] of Object.entries(byVersion)) {
        const v = this.version(service, version);
        v.requests += t.requests;
        v.errors += t.errors;
        for (const [i, n] of t.latency) if (i >= 0 && i < LATENCY_BUCKETS) v.histogram[i]! += n;
        if (t.chance !== undefined) {
          v.chanceRequests += t.chance.requests;
          v.chanceErrors += t.chance.errors;
          for (const [i, n] of t.chance.latency) if (i >= 0 && i < LATENCY_BUCKETS) v.chanceHistogram[i]! += n;
        }
      }
    }
    for (const [service, version, upstreamErrors, upstreamTimeouts, latencySum, buckets] of batch.versions) {
      const v = this.version(service, version);
      v.upstreamErrors += upstreamErrors;
      v.upstreamTimeouts += upstreamTimeouts;
      v.latencySumSeconds += latencySum;
      for (let i = 0; i < v.promBuckets.length && i < buckets.length; i++) v.promBuckets[i]! += buckets[i]!;
    }
    for (const [route, service, version, lane, byClass] of batch.series) {
      const key = `${route}\0${version}\0${lane}\0${service}`;
      let s = this.series.get(key);
      if (s === undefined) this.series.set(key, (s = new RequestSeries(route, service, version, lane)));
      for (let c = 0; c < STATUS_CLASSES.length && c < byClass.length; c++) s.byClass[c]! += byClass[c]!;
    }
    this.mirror.sent += batch.mirror.sent;
    this.mirror.dropped += batch.mirror.dropped;
    this.mirror.failed += batch.mirror.failed;
  }

  version(service: string, version: string): SummedVersion {
    const key = `${service}\0${version}`;
    let v = this.versions.get(key);
    if (v === undefined) this.versions.set(key, (v = new SummedVersion(service, version)));
    return v;
  }
}

export interface WorkerTrafficOptions {
  /** Longest window that can be asked for; default 5 minutes (as a TrafficRecorder's). */
  horizonMs?: number;
  clock?: () => number;
}

/** The primary's view of its workers' traffic: the sum of every worker run, live and gone. */
export class WorkerTraffic implements TrafficCounts {
  /** When the primary started counting: the sum it publishes counts from here. */
  readonly startedAt: number;
  readonly #clock: () => number;
  readonly #sampled: SampledTotals;
  /** Newest batch of each live worker slot. */
  readonly #live = new Map<number, CountersMessage>();
  /** What exited worker runs sent last. */
  readonly #retired = new Sum();
  #sum: Sum | null = null;
  #recorded = 0;

  constructor(opts: WorkerTrafficOptions = {}) {
    this.#clock = opts.clock ?? Date.now;
    this.startedAt = this.#clock();
    // Batches every 250 ms are kept one per second (the recorder's window grain) plus the newest.
    this.#sampled = new SampledTotals(opts.horizonMs ?? 300_000, this.#clock, 1000);
  }

  /** The newest batch of worker `slot` (cumulative since that worker run started). */
  add(slot: number, batch: CountersMessage): void {
    const previous = this.#live.get(slot);
    if (previous !== undefined && previous.doc.startedAt !== batch.doc.startedAt) this.#retire(previous);
    this.#live.set(slot, batch);
    this.#sampled.add(`w${slot}`, batch.doc);
    this.#sum = null;
    this.#recorded++;
  }

  /** Worker `slot` exited: what it sent last stays counted. */
  exited(slot: number): void {
    const last = this.#live.get(slot);
    if (last === undefined) return;
    this.#live.delete(slot);
    this.#retire(last);
    this.#sampled.gone(`w${slot}`);
    this.#sum = null;
  }

  /** Live workers' newest batches (in-flight counts, health entries). */
  batches(): IterableIterator<CountersMessage> {
    return this.#live.values();
  }

  /** The decision listeners' outcome counts, summed over every worker run. */
  outcomes(): OutcomeTotals[] {
    return [...this.#total().outcomes.values()].map((t) => ({ ...t, refused: { ...t.refused } }));
  }

  /** Mirror outcomes summed over every worker run. */
  mirror(): MirrorCounters {
    return { ...this.#total().mirror };
  }

  get recorded(): number {
    return this.#recorded;
  }

  versions(): Iterable<VersionTotals> {
    return this.#total().versions.values();
  }

  requestSeries(): Iterable<RequestSeries> {
    return this.#total().series.values();
  }

  requestsOf(service: string, version: string): number {
    return this.#total().versions.get(`${service}\0${version}`)?.requests ?? 0;
  }

  /** Builtin analysis: the window summed over workers, at the grain of their batches. */
  window(service: string, version: string, ms: number, since?: number): WindowStats {
    return this.#sampled.window(service, version, ms, since);
  }

  /** Builtin compare: the requests drawn at random, summed over workers, at the grain of their batches. */
  chanceSample(service: string, version: string, ms: number, since?: number): WindowSample {
    return this.#sampled.chanceSample(service, version, ms, since);
  }

  toDocument(gateway: string): CountersDocument {
    return sumDocument(this.#total(), gateway, this.startedAt, this.#clock());
  }

  #retire(batch: CountersMessage): void {
    this.#retired.add(batch);
  }

  /** Retired runs plus every live worker's newest batch; rebuilt on read after a change (never per request). */
  #total(): Sum {
    if (this.#sum !== null) return this.#sum;
    const sum = new Sum();
    sum.add(asBatch(this.#retired));
    for (const batch of this.#live.values()) sum.add(batch);
    this.#sum = sum;
    return sum;
  }
}

/** A Sum's totals as one document (what a primary publishes in clustered mode). */
function sumDocument(sum: Sum, gateway: string, startedAt: number, at: number): CountersDocument {
  const versions: CountersDocument['versions'] = {};
  for (const v of sum.versions.values()) {
    const doc: VersionDocument = totalsDocument(v.requests, v.errors, v.histogram);
    if (v.chanceRequests > 0) doc.chance = totalsDocument(v.chanceRequests, v.chanceErrors, v.chanceHistogram);
    (versions[v.service] ??= {})[v.version] = doc;
  }
  return { v: 1, gateway, startedAt, at, versions };
}

/** A Sum as a batch, so the total is built by one adder. */
function asBatch(sum: Sum): CountersMessage {
  const doc = sumDocument(sum, 'retired', 0, 0);
  const versions: VersionDetail[] = [];
  for (const v of sum.versions.values()) {
    versions.push([v.service, v.version, v.upstreamErrors, v.upstreamTimeouts, v.latencySumSeconds, Array.from(v.promBuckets)]);
  }
  const series: SeriesDetail[] = [...sum.series.values()].map((s) => [s.route, s.service, s.version, s.lane, Array.from(s.byClass)]);
  return { type: 'counters', doc, versions, series, mirror: { ...sum.mirror }, inFlight: 0, health: [], outcomes: [...sum.outcomes.values()] };
}

/**
 * The counts the backend and the admin API read, pointing at this process's recorder until the
 * spec says whether there are workers (`workers:` is read with the spec, after the backend that
 * holds this opened); then, in a primary, at the workers' sum. Never on the per-request path.
 */
export class TrafficCountsRef implements TrafficCounts {
  constructor(public target: TrafficCounts) {}

  get startedAt(): number {
    return this.target.startedAt;
  }

  get recorded(): number {
    return this.target.recorded;
  }

  versions(): Iterable<VersionTotals> {
    return this.target.versions();
  }

  requestSeries(): Iterable<RequestSeries> {
    return this.target.requestSeries();
  }

  requestsOf(service: string, version: string): number {
    return this.target.requestsOf(service, version);
  }

  window(service: string, version: string, ms: number, since?: number): WindowStats {
    return this.target.window(service, version, ms, since);
  }

  chanceSample(service: string, version: string, ms: number, since?: number): WindowSample {
    return this.target.chanceSample(service, version, ms, since);
  }

  toDocument(gateway: string): CountersDocument {
    return this.target.toDocument(gateway);
  }
}
