/**
 * Builtin canary analysis across gateways: each gateway publishes its traffic totals to etcd
 * (`P/counters/<gateway id>`, on a lease, once a second when they changed); the controller watches
 * them and sums them into a MetricsSource (what the builtin provider reads). What is published and
 * how windows are read from it is src/traffic/document.ts; this file is the etcd side.
 *
 * Every candidate controller watches from start-up, not only the leader, so a new leader already
 * has the history.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseCountersDocument, SampledTotals, type CountersDocument, type MetricsSource, type WindowSample, type WindowStats } from '../traffic/index.js';
import type { EtcdConnection, EtcdEntry } from '../store/etcd-connection.js';
import { watchKeys, type KeyWatch, type WatchChange } from '../store/etcd-watch.js';
import { StoreUnavailableError } from '../store/types.js';

/** What a gateway publishes: its TrafficRecorder. */
export interface PublishedTotals {
  /** Changes whenever anything was counted. */
  readonly recorded: number;
  toDocument(gateway: string): CountersDocument;
}

export interface CounterPublisherOptions {
  /** Unique per gateway process; default `<hostname>-<pid>-<random>`. */
  gatewayId?: string;
  /** How often to publish (when something changed); default 1000 ms. 0: only on flush(). */
  intervalMs?: number;
  /** TTL of the lease the key lives on; default 5 s. */
  ttlSec?: number;
  /**
   * Publish every interval even when nothing was counted (default false): the document's `at` then
   * tells readers the gateway is alive, which the gateways list needs to show one stale.
   */
  heartbeat?: boolean;
  /** A publish failed (etcd away); it is retried at the next interval. */
  onError?: (error: unknown) => void;
}

/**
 * Publishes `totals` under `P/counters/<gateway id>`, on a lease, every interval when they changed.
 *
 * @example
 * const traffic = new TrafficRecorder();
 * const gateway = await startGateway({ snapshot, observer: traffic });
 * const publisher = publishCounters(etcd, traffic);
 * // on shutdown: await publisher.close();
 */
export function publishCounters(conn: EtcdConnection, totals: PublishedTotals, opts: CounterPublisherOptions = {}): CounterPublisher {
  return new CounterPublisher(conn, totals, opts);
}

export class CounterPublisher {
  readonly gatewayId: string;
  private readonly key: string;
  private readonly ttlSec: number;
  private leaseId: string | undefined;
  private renewedAt = 0;
  /** Publish even if unchanged (first time, new lease, a failed put). */
  private force = true;
  /** `totals.recorded` at the last publish. */
  private published = -1;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly totals: PublishedTotals,
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
      const recorded = this.totals.recorded;
      if (recorded === this.published && !this.force && this.opts.heartbeat !== true) return;
      const doc = JSON.stringify(this.totals.toDocument(this.gatewayId));
      try {
        await this.conn.txn('publish traffic counters', { success: [{ request_put: { key: Buffer.from(this.key), value: Buffer.from(doc), lease: this.leaseId } }] });
        this.force = false;
        this.published = recorded;
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

export interface ClusterMetricsOptions {
  /** Longest window that can be asked for; default 5 minutes (as a TrafficRecorder's window). */
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
  readonly #totals: SampledTotals;
  readonly #clock: () => number;
  readonly #staleAfterMs: number;
  #downSince: number | undefined;
  readonly #watch: KeyWatch;

  constructor(conn: EtcdConnection, opts: ClusterMetricsOptions = {}) {
    this.#clock = opts.clock ?? Date.now;
    this.#totals = new SampledTotals(opts.horizonMs ?? 300_000, this.#clock);
    this.#staleAfterMs = opts.staleAfterMs ?? 3000;
    this.#downSince = this.#clock();
    this.#watch = watchKeys(conn, conn.keys.countersPrefix, {
      onReset: (entries) => {
        this.#totals.keepOnly(new Set(entries.map((e) => e.key)));
        for (const e of entries) this.#add(e);
      },
      onChanges: (changes: WatchChange[]) => {
        for (const c of changes) {
          if (c.type === 'put') this.#add(c.entry);
          else this.#totals.gone(c.entry.key);
        }
      },
      onConnection: (up) => (this.#downSince = up ? undefined : this.#clock()),
    });
  }

  /** Resolves once the current counters have been read. */
  ready(): Promise<void> {
    return this.#watch.ready();
  }

  /** Gateways publishing now. */
  get gateways(): number {
    return this.#totals.live;
  }

  close(): Promise<void> {
    return this.#watch.close();
  }

  /** Traffic of one version over the last `ms`, summed over every gateway. */
  window(service: string, version: string, ms: number, since?: number): WindowStats {
    this.#checkCurrent();
    return this.#totals.window(service, version, ms, since);
  }

  /** Throws once etcd has been unreachable for staleAfterMs: the counters are not current. */
  #checkCurrent(): void {
    const now = this.#clock();
    if (this.#downSince !== undefined && now - this.#downSince >= this.#staleAfterMs) {
      throw new StoreUnavailableError('read cluster traffic counters', `etcd unreachable for ${now - this.#downSince} ms: the counters are not current`);
    }
  }

  /** Builtin compare's sample: the requests drawn at random, summed over every gateway. */
  chanceSample(service: string, version: string, ms: number, since?: number): WindowSample {
    this.#checkCurrent();
    return this.#totals.chanceSample(service, version, ms, since);
  }

  #add(entry: EtcdEntry): void {
    const doc = parseCountersDocument(entry.value.toString());
    if (doc !== null) this.#totals.add(entry.key, doc);
  }
}
