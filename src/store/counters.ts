/**
 * Builtin canary analysis across gateways: each gateway publishes its per-version traffic counters
 * to etcd; the controller sums them into a MetricsSource (what the builtin provider reads).
 *
 * What is published are *cumulative* counters (requests, errors and a latency histogram since the
 * gateway started), the way Prometheus counters work, not the gateway's sliding window: a document
 * stays small (a sparse histogram, not five minutes of them), so a put per gateway per second is
 * cheap for etcd, and a missed update loses resolution, not traffic. The controller keeps the
 * samples it watched and answers window(ms) as "latest minus the sample from `ms` ago", summed over
 * gateways:
 * - a gateway that started within the window counts from zero (its `startedAt`);
 * - a gateway that went away (lease expired or revoked) keeps counting what it published, until its
 *   last sample leaves the horizon; one restarted under the same id is a new series;
 * - a controller that has watched for less than `ms` answers for the time it has watched, an
 *   undercount that the builtin provider's minRequests turns into Inconclusive rather than a wrong
 *   verdict. Every candidate controller runs a ClusterMetrics from start-up, not only the leader,
 *   so a new leader already has the history.
 *
 * Sample times are the gateways' clocks (`at`), compared with the controller's: keep clocks in NTP
 * sync; a skew of a few hundred ms moves a window edge by that much, within the 1 s publishing grain.
 * The latency histogram has the bounds of rollout/window.ts (0.1 ms x 1.15^i), so percentiles
 * agree with a single gateway's to the bucket.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ResponseObserver } from '../gateway/observer.js';
import type { MetricsSource, WindowStats } from '../rollout/window.js';
import type { EtcdConnection, EtcdEntry } from './etcd-connection.js';
import { watchKeys, type KeyWatch, type WatchChange } from './etcd-watch.js';
import { StoreUnavailableError } from './types.js';

// The histogram of rollout/window.ts (kept in step with it: same bounds, same percentile rule).
const MIN_MS = 0.1;
const GROWTH = 1.15;
const LOG_GROWTH = Math.log(GROWTH);
export const LATENCY_BUCKETS = Math.ceil(Math.log(600_000 / MIN_MS) / LOG_GROWTH) + 1;

/** Index of the latency bucket of a duration: bucket i holds (0.1 x 1.15^(i-1), 0.1 x 1.15^i] ms. */
export function latencyBucket(ms: number): number {
  const b = ms <= MIN_MS ? 0 : Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH);
  return b >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : b;
}

/** Upper bound of latency bucket i. */
function upperBound(i: number): number {
  return MIN_MS * GROWTH ** i;
}

function percentile(hist: Float64Array, total: number, q: number): number {
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < hist.length; b++) {
    seen += hist[b]!;
    if (seen >= rank) return b === 0 ? MIN_MS : Math.sqrt(upperBound(b - 1) * upperBound(b));
  }
  return upperBound(hist.length - 1);
}

/** Counts of one version since the gateway started. */
interface Totals {
  requests: number;
  errors: number;
  /** Float64: exact up to 2^53 requests, where Uint32 would wrap at 4 billion. */
  latency: Float64Array;
}

/** What a gateway publishes at `P/counters/<gateway id>` (JSON). */
export interface CountersDocument {
  v: 1;
  gateway: string;
  /** When these counters started (ms since epoch): they count from zero there. */
  startedAt: number;
  /** When this document was made. */
  at: number;
  /** service -> version -> totals; latency as sparse [bucket, count] pairs. */
  versions: Record<string, Record<string, { requests: number; errors: number; latency: [number, number][] }>>;
}

/**
 * Cumulative per-version counters: the gateway's ResponseObserver in clustered mode (next to its
 * SlidingWindow if it runs a local controller too). recordResponse() allocates nothing once a
 * (service, version) pair has been seen.
 */
export class TrafficTotals implements ResponseObserver {
  readonly startedAt: number;
  private readonly series = new Map<string, Map<string, Totals>>();
  private dirty = false;

  constructor(readonly clock: () => number = Date.now) {
    this.startedAt = clock();
  }

  recordResponse(service: string, version: string, status: number, durationMs: number): void {
    let byVersion = this.series.get(service);
    if (byVersion === undefined) this.series.set(service, (byVersion = new Map()));
    let t = byVersion.get(version);
    if (t === undefined) byVersion.set(version, (t = { requests: 0, errors: 0, latency: new Float64Array(LATENCY_BUCKETS) }));
    t.requests++;
    if (status === 0 || status >= 500) t.errors++;
    t.latency[latencyBucket(durationMs)]!++;
    this.dirty = true;
  }

  /** True once after any request was recorded since the last call. */
  takeChanged(): boolean {
    const d = this.dirty;
    this.dirty = false;
    return d;
  }

  toDocument(gateway: string): CountersDocument {
    const versions: CountersDocument['versions'] = {};
    for (const [service, byVersion] of this.series) {
      const o: CountersDocument['versions'][string] = (versions[service] = {});
      for (const [version, t] of byVersion) {
        const latency: [number, number][] = [];
        for (let i = 0; i < t.latency.length; i++) if (t.latency[i]! > 0) latency.push([i, t.latency[i]!]);
        o[version] = { requests: t.requests, errors: t.errors, latency };
      }
    }
    return { v: 1, gateway, startedAt: this.startedAt, at: this.clock(), versions };
  }
}

export interface CounterPublisherOptions {
  /** Unique per gateway process; default `<hostname>-<pid>-<random>`. */
  gatewayId?: string;
  /** How often to publish (when something changed); default 1000 ms. 0: only on flush(). */
  intervalMs?: number;
  /** TTL of the lease the key lives on; default 5 s. */
  ttlSec?: number;
  /** A publish failed (etcd away); it is retried at the next interval. */
  onError?: (error: unknown) => void;
}

/**
 * Publishes `totals` under `P/counters/<gateway id>`, on a lease, every interval when they changed.
 *
 * @example
 * const totals = new TrafficTotals();
 * const gateway = await startGateway({ snapshot, observer: totals });
 * const publisher = publishCounters(etcd, totals);
 * // on shutdown: await publisher.close();
 */
export function publishCounters(conn: EtcdConnection, totals: TrafficTotals, opts: CounterPublisherOptions = {}): CounterPublisher {
  return new CounterPublisher(conn, totals, opts);
}

export class CounterPublisher {
  readonly gatewayId: string;
  private readonly key: string;
  private readonly ttlSec: number;
  private leaseId: string | undefined;
  private renewedAt = 0;
  /** Publish even if unchanged (first time, new lease). */
  private force = true;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly totals: TrafficTotals,
    private readonly opts: CounterPublisherOptions,
  ) {
    this.gatewayId = opts.gatewayId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.key = conn.keys.counters(this.gatewayId);
    this.ttlSec = opts.ttlSec ?? 5;
    const every = opts.intervalMs ?? 1000;
    if (every > 0) {
      const tick = (): void => {
        void this.flush().finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, every);
        });
      };
      this.timer = setTimeout(tick, every);
    }
  }

  /** Publishes now (if anything changed since the last publish, or nothing was published yet). */
  flush(): Promise<void> {
    this.running = this.running.then(() => this.publish());
    return this.running;
  }

  /** Publishes a last time, then revokes the lease: the key goes, the controller keeps the counts. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.force = this.force || this.totals.takeChanged();
    await this.flush();
    if (this.leaseId !== undefined) await this.conn.revokeLease('withdraw traffic counters', this.leaseId).catch(() => undefined);
  }

  private async publish(): Promise<void> {
    try {
      const now = Date.now();
      if (this.leaseId === undefined) {
        this.leaseId = await this.conn.grantLease('publish traffic counters', this.ttlSec);
        this.renewedAt = now;
        this.force = true;
      } else if (now - this.renewedAt >= (this.ttlSec * 1000) / 3) {
        const ttl = await this.conn.keepAliveOnce('publish traffic counters', this.leaseId);
        if (ttl <= 0) {
          // Expired while etcd was away: a new lease, and the key again.
          this.leaseId = await this.conn.grantLease('publish traffic counters', this.ttlSec);
          this.force = true;
        }
        this.renewedAt = now;
      }
      const changed = this.totals.takeChanged();
      if (!changed && !this.force) return;
      const doc = JSON.stringify(this.totals.toDocument(this.gatewayId));
      try {
        await this.conn.txn('publish traffic counters', { success: [{ request_put: { key: Buffer.from(this.key), value: Buffer.from(doc), lease: this.leaseId } }] });
        this.force = false;
      } catch (e) {
        this.force = true; // what changed is not published yet
        if (e instanceof Error && /requested lease not found/.test(e.message)) this.leaseId = undefined;
        throw e;
      }
    } catch (e) {
      this.opts.onError?.(e);
    }
  }
}

interface Sample {
  at: number;
  /** `service\0version` -> totals */
  versions: Map<string, Totals>;
}

interface Series {
  startedAt: number;
  samples: Sample[];
  /** False once its key is gone: kept for the windows its samples still fall into. */
  live: boolean;
}

export interface ClusterMetricsOptions {
  /** Longest window that can be asked for; default 5 minutes (as SlidingWindow). */
  horizonMs?: number;
  /** Controller clock; default Date.now. */
  clock?: () => number;
  /** window() throws StoreUnavailableError once etcd has been unreachable this long; default 3000 ms. */
  staleAfterMs?: number;
}

/**
 * Starts watching every gateway's counters. Start it when the controller process starts (whether
 * or not it leads) and hand it to the builtin provider as its MetricsSource.
 *
 * @example
 * const metrics = watchClusterMetrics(etcd);
 * const controller = await RolloutController.open({ store, rollouts, templates, metrics });
 */
export function watchClusterMetrics(conn: EtcdConnection, opts: ClusterMetricsOptions = {}): ClusterMetrics {
  return new ClusterMetrics(conn, opts);
}

export class ClusterMetrics implements MetricsSource {
  private readonly series = new Map<string, Series>();
  private readonly horizonMs: number;
  private readonly clock: () => number;
  private readonly staleAfterMs: number;
  private downSince: number | undefined;
  private readonly watch: KeyWatch;

  constructor(conn: EtcdConnection, opts: ClusterMetricsOptions = {}) {
    this.horizonMs = opts.horizonMs ?? 300_000;
    this.clock = opts.clock ?? Date.now;
    this.staleAfterMs = opts.staleAfterMs ?? 3000;
    this.downSince = this.clock();
    this.watch = watchKeys(conn, conn.keys.countersPrefix, {
      onReset: (entries) => this.reset(entries),
      onChanges: (changes) => this.apply(changes),
      onConnection: (up) => (this.downSince = up ? undefined : this.clock()),
    });
  }

  /** Resolves once the current counters have been read. */
  ready(): Promise<void> {
    return this.watch.ready();
  }

  /** Gateways publishing now. */
  get gateways(): number {
    let n = 0;
    for (const s of this.series.values()) if (s.live) n++;
    return n;
  }

  close(): Promise<void> {
    return this.watch.close();
  }

  /** Traffic of one version over the last `ms`, summed over every gateway. */
  window(service: string, version: string, ms: number): WindowStats {
    const now = this.clock();
    if (this.downSince !== undefined && now - this.downSince >= this.staleAfterMs) {
      throw new StoreUnavailableError('read cluster traffic counters', `etcd unreachable for ${now - this.downSince} ms: the counters are not current`);
    }
    const from = now - Math.min(ms, this.horizonMs);
    const name = `${service}\0${version}`;
    const hist = new Float64Array(LATENCY_BUCKETS);
    let requests = 0;
    let errors = 0;
    for (const s of this.series.values()) {
      const last = s.samples.at(-1)?.versions.get(name);
      if (last === undefined) continue;
      let base: Sample | undefined;
      for (let i = s.samples.length - 1; i >= 0; i--) {
        if (s.samples[i]!.at <= from) {
          base = s.samples[i];
          break;
        }
      }
      // No sample as old as the window: from zero if the gateway started inside it, else from the
      // oldest sample (this controller has not watched for that long).
      if (base === undefined && s.startedAt < from) base = s.samples[0];
      const b = base?.versions.get(name);
      requests += last.requests - (b?.requests ?? 0);
      errors += last.errors - (b?.errors ?? 0);
      for (let i = 0; i < LATENCY_BUCKETS; i++) hist[i]! += last.latency[i]! - (b?.latency[i] ?? 0);
    }
    return { requests, errors, p50: percentile(hist, requests, 0.5), p90: percentile(hist, requests, 0.9), p99: percentile(hist, requests, 0.99) };
  }

  private reset(entries: EtcdEntry[]): void {
    const present = new Set(entries.map((e) => e.key));
    for (const [key, s] of this.series) if (!present.has(key.split('#')[0]!)) s.live = false;
    for (const e of entries) this.add(e);
  }

  private apply(changes: WatchChange[]): void {
    for (const c of changes) {
      if (c.type === 'put') this.add(c.entry);
      else {
        const s = this.series.get(c.entry.key);
        if (s) s.live = false;
      }
    }
  }

  private add(entry: EtcdEntry): void {
    let doc: CountersDocument;
    try {
      doc = JSON.parse(entry.value.toString()) as CountersDocument;
    } catch {
      return; // not ours: ignore
    }
    if (doc.v !== 1 || typeof doc.at !== 'number' || typeof doc.startedAt !== 'number') return;
    let s = this.series.get(entry.key);
    if (s !== undefined && s.startedAt !== doc.startedAt) {
      // The same gateway id restarted: its counters began again. Keep the old run as its own series.
      s.live = false;
      this.series.set(`${entry.key}#${s.startedAt}`, s);
      s = undefined;
    }
    if (s === undefined) this.series.set(entry.key, (s = { startedAt: doc.startedAt, samples: [], live: true }));
    s.live = true;
    if (s.samples.length > 0 && doc.at <= s.samples.at(-1)!.at) return; // a replay or an older copy
    const versions = new Map<string, Totals>();
    for (const [service, byVersion] of Object.entries(doc.versions ?? {})) {
      for (const [version, t] of Object.entries(byVersion)) {
        const latency = new Float64Array(LATENCY_BUCKETS);
        for (const [i, n] of t.latency) if (i >= 0 && i < LATENCY_BUCKETS) latency[i] = n;
        versions.set(`${service}\0${version}`, { requests: t.requests, errors: t.errors, latency });
      }
    }
    s.samples.push({ at: doc.at, versions });
    this.trim();
  }

  /** Drops samples older than the horizon (keeping one below it as a baseline) and gone series with nothing left. */
  private trim(): void {
    const oldest = this.clock() - this.horizonMs;
    for (const [key, s] of this.series) {
      let drop = 0;
      while (drop + 1 < s.samples.length && s.samples[drop + 1]!.at <= oldest) drop++;
      if (drop > 0) s.samples.splice(0, drop);
      if (!s.live && (s.samples.at(-1)?.at ?? 0) < oldest) this.series.delete(key);
    }
  }
}
