/**
 * The live feed: once a second it samples the request counters into a short history (requests per
 * second and version, the last five minutes by default) and, while someone listens, builds an
 * Overview and hands it to every listener (the server-sent events of /api/v1/stream). One overview
 * per second is built whatever the number of listeners, and none when nobody listens.
 *
 * Rates and error rates come from the sampled history, p99 from the rollout controller's traffic
 * window (the same numbers builtin analysis judges), so the dashboard shows what the controller sees.
 */
import type { HealthTable } from '../gateway/health.js';
import type { ConfigOverview, History, HistoryPoint, Overview, RolloutOverview, VersionStats } from './overview.js';
import { RATE_SECONDS, routesOf, servicesOf, WINDOW_SECONDS } from './overview.js';
import type { GatewayView } from './registry.js';
import type { GatewaysOverview } from './gateways.js';
import type { TrafficCounts, WindowStats } from '../traffic/index.js';

export interface LiveFeedOptions {
  counters: TrafficCounts;
  gateway: GatewayView & { health: Pick<HealthTable, 'isUp' | 'entries'> };
  config(): ConfigOverview;
  /** p99 per version (the gateway's TrafficRecorder, or the cluster's sum); without it p99 is null. */
  window?: { window(service: string, version: string, ms: number): WindowStats };
  /** The rollouts with their newest events; without it there are none. */
  rollouts?(): Promise<RolloutOverview[]>;
  /** Every gateway of the cluster (one process: itself alone). */
  gateways(): GatewaysOverview;
  /** Seconds of history kept; default 300. */
  historySeconds?: number;
  /** Sampling period; default 1000 ms. */
  stepMs?: number;
  /** Epoch ms; default Date.now. */
  clock?: () => number;
}

/** Cumulative counts of one version at the last sample. */
interface Totals {
  requests: number;
  errors: number;
}

/** Per version and second: requests and errors (errors are not sent; they feed errorRate). */
interface Sample {
  at: number;
  requests: Record<string, Record<string, number>>;
  errors: Record<string, Record<string, number>>;
}

export type OverviewListener = (overview: Overview) => void;

export class LiveFeed {
  readonly #opts: LiveFeedOptions;
  readonly #stepMs: number;
  readonly #capacity: number;
  readonly #clock: () => number;
  /** Oldest first; at most #capacity. */
  readonly #samples: Sample[] = [];
  readonly #last = new Map<string, Map<string, Totals>>();
  readonly #listeners = new Set<OverviewListener>();
  #timer: NodeJS.Timeout | null = null;
  /** An overview is being built for the listeners: a slow store makes ticks skip, not pile up. */
  #building = false;

  constructor(opts: LiveFeedOptions) {
    this.#opts = opts;
    this.#stepMs = opts.stepMs ?? 1000;
    this.#capacity = Math.max(WINDOW_SECONDS, Math.ceil((opts.historySeconds ?? 300) * (1000 / this.#stepMs)));
    this.#clock = opts.clock ?? Date.now;
    // The first sample counts from here, not from the process start.
    this.#takeTotals();
  }

  /** Samples every stepMs until stop(). The timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.tick(), this.#stepMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#listeners.clear();
  }

  /** One step: take a sample, and send the listeners an overview carrying just that new point. */
  tick(): void {
    this.sample();
    if (this.#listeners.size === 0 || this.#building) return;
    this.#building = true;
    this.overview({ historyPoints: 1 })
      .then((o) => {
        for (const l of this.#listeners) l(o);
      })
      .catch(() => {
        // overview() reports a failing store inside the overview; anything else skips this tick.
      })
      .finally(() => {
        this.#building = false;
      });
  }

  /** Adds one history point: what ended since the previous sample. */
  sample(): void {
    const at = this.#clock();
    const requests: Sample['requests'] = {};
    const errors: Sample['errors'] = {};
    for (const v of this.#opts.counters.versions()) {
      let byVersion = this.#last.get(v.service);
      if (byVersion === undefined) {
        byVersion = new Map();
        this.#last.set(v.service, byVersion);
      }
      const prev = byVersion.get(v.version) ?? { requests: 0, errors: 0 };
      (requests[v.service] ??= {})[v.version] = v.requests - prev.requests;
      (errors[v.service] ??= {})[v.version] = v.errors - prev.errors;
      byVersion.set(v.version, { requests: v.requests, errors: v.errors });
    }
    this.#samples.push({ at, requests, errors });
    if (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  /** Calls `listener` with an overview after every tick until the returned function is called. */
  subscribe(listener: OverviewListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Listeners right now. */
  get listeners(): number {
    return this.#listeners.size;
  }

  /**
   * The overview now. `historyPoints`: how many of the newest history points to include (default
   * all of them).
   */
  async overview(opts: { historyPoints?: number } = {}): Promise<Overview> {
    const o = this.#opts;
    const snapshot = o.gateway.snapshot();
    const stats = this.#statsFn();
    let rollouts: RolloutOverview[] = [];
    let rolloutsError: string | null = null;
    if (o.rollouts !== undefined) {
      try {
        rollouts = await o.rollouts();
      } catch (err) {
        rolloutsError = (err as Error).message;
      }
    }
    const points = opts.historyPoints === undefined ? this.#samples : this.#samples.slice(-opts.historyPoints);
    const history: History = { stepMs: this.#stepMs, points: points.map((s): HistoryPoint => ({ at: s.at, requests: s.requests })) };
    return {
      at: this.#clock(),
      services: servicesOf(snapshot, o.gateway.health, stats),
      routes: routesOf(snapshot),
      rollouts,
      rolloutsError,
      config: o.config(),
      mirror: { ...o.gateway.mirror },
      history,
      gateways: o.gateways(),
    };
  }

  #takeTotals(): void {
    for (const v of this.#opts.counters.versions()) {
      let byVersion = this.#last.get(v.service);
      if (byVersion === undefined) {
        byVersion = new Map();
        this.#last.set(v.service, byVersion);
      }
      byVersion.set(v.version, { requests: v.requests, errors: v.errors });
    }
  }

  /** Per-version numbers from the newest samples (and p99 from the window). */
  #statsFn(): (service: string, version: string) => VersionStats {
    const recent = this.#samples.slice(-WINDOW_SECONDS);
    const rateSamples = recent.slice(-RATE_SECONDS);
    const serviceTotals = new Map<string, number>();
    for (const s of recent) {
      for (const [service, byVersion] of Object.entries(s.requests)) {
        let n = serviceTotals.get(service) ?? 0;
        for (const c of Object.values(byVersion)) n += c;
        serviceTotals.set(service, n);
      }
    }
    const seconds = (this.#stepMs / 1000) * Math.max(1, rateSamples.length);
    const window = this.#opts.window;
    const counters = this.#opts.counters;
    return (service, version) => {
      let requests = 0;
      let errors = 0;
      for (const s of recent) {
        requests += s.requests[service]?.[version] ?? 0;
        errors += s.errors[service]?.[version] ?? 0;
      }
      let rateRequests = 0;
      for (const s of rateSamples) rateRequests += s.requests[service]?.[version] ?? 0;
      const total = serviceTotals.get(service) ?? 0;
      const p99 = window?.window(service, version, WINDOW_SECONDS * 1000).p99;
      return {
        rps: rateRequests / seconds,
        errorRate: requests === 0 ? null : errors / requests,
        p99Ms: p99 === undefined || Number.isNaN(p99) ? null : p99,
        share: total === 0 ? null : (requests / total) * 100,
        requests: counters.requestsOf(service, version),
      };
    };
  }
}
