/**
 * The Prometheus registry of one graylane process (never prom-client's global one, so two gateways
 * in one process, as in tests, never share counters).
 *
 * Every graylane metric is read at scrape time: each one's `collect()` copies the current numbers
 * from where they live (TrafficRecorder, the gateway's health table and mirror counters, the config
 * info, the rollout controller) into prom-client, which then formats the text. Nothing here runs
 * per request. Names and labels are listed in docs/observability.md.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ConfigInfo } from './config-info.js';
import type { Gateway, HealthTable } from '../gateway/index.js';
import type { RolloutView } from '../status/rollout-view.js';
import { CollectedHistogram } from './collected-histogram.js';
import { LATENCY_BUCKETS_SECONDS, STATUS_CLASSES, type TrafficCounts } from '../traffic/index.js';

/** What the gateway shows to metrics: its snapshot, passive health, mirror counters, in-flight count. */
export type GatewayView = Pick<Gateway, 'snapshot' | 'mirror' | 'inFlight'> & { health: Pick<HealthTable, 'isUp' | 'entries'> };

/** Config reloads since the start (the initial load is not one). */
export interface ReloadCounts {
  ok: number;
  failed: number;
}

export interface MetricsSources {
  counters: TrafficCounts;
  gateway: GatewayView;
  config(): ConfigInfo;
  reloads(): ReloadCounts;
  /** The rollouts as the admin API shows them; reading them reads the store. */
  rollouts?(): Promise<RolloutView[]>;
  /**
   * Whether the state store answers. Default: whether reading the rollouts (a store read)
   * succeeded during this scrape.
   */
  storeUp?(): boolean | Promise<boolean>;
  /** Every declared rollout, and whether an abort of it routes but waits for the store (no store read). */
  abortsPending?(): { rollout: string; service: string; pending: unknown }[];
  /** With workers (src/workers/): how many run, and how many were restarted after exiting unasked. */
  workers?: { readonly live: number; readonly restarts: number };
}

/** The phases a rollout can be in, one `graylane_rollout_phase` series each. */
export const ROLLOUT_PHASES: readonly RolloutView['phase'][] = ['Pending', 'Progressing', 'Paused', 'Degraded', 'Healthy'];

/** The phases of an analysis run, one `graylane_rollout_analysis_runs` series each. */
export const ANALYSIS_PHASES: readonly RolloutView['analysisRuns'][number]['phase'][] = ['Running', 'Successful', 'Failed', 'Inconclusive', 'Error'];

/** Builds the registry; metrics are read from `src` at every scrape. */
export function createRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  const registers = [registry];

  new Counter({
    name: 'graylane_requests_total',
    help: 'Proxied requests by route, service, version that served them, lane and status class.',
    labelNames: ['route', 'service', 'version', 'lane', 'class'],
    registers,
    collect() {
      this.reset();
      for (const s of src.counters.requestSeries()) {
        for (let c = 0; c < STATUS_CLASSES.length; c++) {
          const n = s.byClass[c]!;
          if (n > 0) this.inc({ route: s.route, service: s.service, version: s.version, lane: s.lane, class: STATUS_CLASSES[c]! }, n);
        }
      }
    },
  });

  new CollectedHistogram(
    'graylane_request_duration_seconds',
    "Time from a request's arrival to the end of its response, by service and version.",
    LATENCY_BUCKETS_SECONDS,
    function* () {
      for (const v of src.counters.versions()) {
        yield { labels: { service: v.service, version: v.version }, buckets: v.promBuckets, sum: v.latencySumSeconds };
      }
    },
  ).registerIn(registry);

  new Counter({
    name: 'graylane_upstream_failures_total',
    help: 'Upstream requests that failed, by service, version and kind: error (refused, reset, bad answer) or timeout.',
    labelNames: ['service', 'version', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const v of src.counters.versions()) {
        this.inc({ service: v.service, version: v.version, kind: 'error' }, v.upstreamErrors);
        this.inc({ service: v.service, version: v.version, kind: 'timeout' }, v.upstreamTimeouts);
      }
    },
  });

  new Gauge({
    name: 'graylane_requests_in_flight',
    help: 'Requests being proxied right now.',
    registers,
    collect() {
      this.set(src.gateway.inFlight());
    },
  });

  new Gauge({
    name: 'graylane_endpoint_up',
    help: 'Endpoint health by passive checks: 1 in rotation, 0 ejected.',
    labelNames: ['service', 'version', 'endpoint'],
    registers,
    collect() {
      this.reset();
      const health = src.gateway.health;
      for (const svc of src.gateway.snapshot().services.values()) {
        for (const v of svc.byName.values()) {
          for (const ep of v.endpoints) this.set({ service: svc.name, version: v.name, endpoint: ep.url }, health.isUp(ep.origin) ? 1 : 0);
        }
      }
    },
  });

  new Counter({
    name: 'graylane_mirror_copies_total',
    help: 'Mirrored copies by result: sent (answered), dropped (not made: limit, body, no distinct target), failed.',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const m = src.gateway.mirror;
      this.inc({ result: 'sent' }, m.sent);
      this.inc({ result: 'dropped' }, m.dropped);
      this.inc({ result: 'failed' }, m.failed);
    },
  });

  new Counter({
    name: 'graylane_config_reloads_total',
    help: 'Config reloads by result: ok (applied) or failed (rejected; the previous config keeps serving).',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const r = src.reloads();
      this.inc({ result: 'ok' }, r.ok);
      this.inc({ result: 'failed' }, r.failed);
    },
  });

  new Gauge({
    name: 'graylane_config_info',
    help: 'The config being served, value 1: hash is the config content hash (as graylane validate prints it), id the snapshot id (config and rollout status).',
    labelNames: ['hash', 'id'],
    registers,
    collect() {
      this.reset();
      const snapshot = src.gateway.snapshot();
      this.set({ hash: snapshot.configHash, id: snapshot.id }, 1);
    },
  });

  new Gauge({
    name: 'graylane_config_last_reload_timestamp_seconds',
    help: 'When the config being served was loaded (Unix time).',
    registers,
    collect() {
      this.set(src.config().loadedAt / 1000);
    },
  });

  new Gauge({
    name: 'graylane_config_last_reload_successful',
    help: '1 when the last reload of the config file was applied (or none failed yet), 0 when it was rejected.',
    registers,
    collect() {
      this.set(src.config().lastReloadError === null ? 1 : 0);
    },
  });

  // The three rollout metrics and the store gauge share one read of the rollouts per scrape:
  // prom-client starts every collect() before awaiting any, so the read in flight is reused.
  let read: Promise<RolloutView[] | null> | null = null;
  const rollouts = (): Promise<RolloutView[] | null> => {
    if (src.rollouts === undefined) return Promise.resolve([]);
    read ??= src.rollouts().then(
      (views) => views,
      () => null,
    );
    const current = read;
    void current.finally(() => {
      if (read === current) read = null;
    });
    return current;
  };

  new Gauge({
    name: 'graylane_rollout_phase',
    help: 'Phase of each rollout: one series per phase, 1 for the current one.',
    labelNames: ['rollout', 'service', 'phase'],
    registers,
    async collect() {
      this.reset();
      for (const r of (await rollouts()) ?? []) {
        for (const phase of ROLLOUT_PHASES) this.set({ rollout: r.name, service: r.service, phase }, r.phase === phase ? 1 : 0);
      }
    },
  });

  new Gauge({
    name: 'graylane_rollout_step',
    help: 'Index (from 0) of the step in progress or aborted at; the number of steps once completed.',
    labelNames: ['rollout', 'service'],
    registers,
    async collect() {
      this.reset();
      for (const r of (await rollouts()) ?? []) {
        const step = r.currentStep ?? (r.phase === 'Healthy' ? r.steps.length : 0);
        this.set({ rollout: r.name, service: r.service }, step);
      }
    },
  });

  new Gauge({
    name: 'graylane_rollout_canary_weight',
    help: "The canary version's share of the service's unmarked traffic now, in percent.",
    labelNames: ['rollout', 'service', 'canary'],
    registers,
    async collect() {
      this.reset();
      for (const r of (await rollouts()) ?? []) {
        this.set({ rollout: r.name, service: r.service, canary: r.canary }, r.traffic[r.canary] ?? 0);
      }
    },
  });

  new Gauge({
    name: 'graylane_rollout_analysis_runs',
    help: "Analysis runs of each rollout's current attempt, by phase (one series per phase): Failed and Error are what alerts watch.",
    labelNames: ['rollout', 'service', 'phase'],
    registers,
    async collect() {
      this.reset();
      for (const r of (await rollouts()) ?? []) {
        for (const phase of ANALYSIS_PHASES) {
          this.set({ rollout: r.name, service: r.service, phase }, r.analysisRuns.filter((run) => run.phase === phase).length);
        }
      }
    },
  });

  new Gauge({
    name: 'graylane_rollout_abort_pending',
    help: 'Is 1 while an abort of the rollout routes on this gateway but the state store has not taken its write yet (retried until it does).',
    labelNames: ['rollout', 'service'],
    registers,
    collect() {
      this.reset();
      for (const a of src.abortsPending?.() ?? []) this.set({ rollout: a.rollout, service: a.service }, a.pending === null ? 0 : 1);
    },
  });

  new Gauge({
    name: 'graylane_store_up',
    help: 'Whether the state store (SQLite file or etcd) answers: 1 up, 0 down.',
    registers,
    async collect() {
      const up = src.storeUp !== undefined ? await src.storeUp() : (await rollouts()) !== null;
      this.set(up ? 1 : 0);
    },
  });

  const workers = src.workers;
  if (workers !== undefined) {
    new Gauge({
      name: 'graylane_workers',
      help: 'Data-plane worker processes running now (graylane serve --workers).',
      registers,
      collect() {
        this.set(workers.live);
      },
    });
    new Counter({
      name: 'graylane_worker_restarts_total',
      help: 'Worker processes started again after one exited unasked (crash, kill).',
      registers,
      collect() {
        this.reset();
        this.inc(workers.restarts);
      },
    });
  }

  return registry;
}
