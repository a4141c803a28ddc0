/**
 * Everything people watch a graylane process through, composed: the Prometheus registry (/metrics)
 * and the live feed (overview, server-sent events, dashboard, `graylane top`), both reading the
 * same TrafficRecorder the gateway feeds. app.ts builds one; src/admin/observability.ts serves it.
 */
import type { Registry } from 'prom-client';
import type { ConfigInfo } from './config-info.js';
import type { HealthTable } from '../gateway/health.js';
import { LiveFeed } from './live.js';
import type { ConfigOverview, RolloutOverview } from './overview.js';
import type { RolloutView } from '../status/rollout-view.js';
import type { GatewaysOverview } from './gateways.js';
import { createRegistry, type GatewayView, type ReloadCounts } from './registry.js';
import type { TrafficCounts, WindowStats } from '../traffic/index.js';

/**
 * The rollouts as the overview and /metrics read them (src/rollout/rollout-source.ts makes one of
 * the controller): a small interface, so metrics imports no controller code.
 */
export interface RolloutSource {
  views(): Promise<RolloutView[]>;
  /** The views with their newest events. */
  overview(): Promise<RolloutOverview[]>;
  /** Every declared rollout, and whether an abort of it routes but waits for the store (no store read). */
  abortsPending(): { rollout: string; service: string; pending: unknown }[];
}

export interface ObservabilityOptions {
  /** The counters the gateway's observer feeds. */
  counters: TrafficCounts;
  gateway: GatewayView & { health: Pick<HealthTable, 'isUp' | 'entries'> };
  config(): ConfigInfo;
  /** The rollout controller's traffic window (p99 in the live feed). */
  window?: { window(service: string, version: string, ms: number): WindowStats };
  rollouts?: RolloutSource;
  /** Whether the state store answers; default: whether reading the rollouts worked. */
  storeUp?(): boolean | Promise<boolean>;
  /** The gateways list of the overview (one process: itself alone). */
  gateways(): GatewaysOverview;
  /** With workers: how many run, and how many were restarted (src/workers/pool.ts). */
  workers?: { readonly live: number; readonly restarts: number };
  /** Options of the live feed (tests shorten the step). */
  feed?: { stepMs?: number; historySeconds?: number };
}

export class Observability {
  readonly registry: Registry;
  readonly feed: LiveFeed;
  readonly #reloads: ReloadCounts = { ok: 0, failed: 0 };

  /** Builds the registry and starts the live feed's sampling. */
  constructor(opts: ObservabilityOptions) {
    const config = (): ConfigOverview => ({ ...opts.config(), reloadsFailed: this.#reloads.failed });
    this.registry = createRegistry({
      counters: opts.counters,
      gateway: opts.gateway,
      config: opts.config,
      reloads: () => ({ ...this.#reloads }),
      rollouts: opts.rollouts === undefined ? undefined : () => opts.rollouts!.views(),
      storeUp: opts.storeUp,
      abortsPending: opts.rollouts === undefined ? undefined : () => opts.rollouts!.abortsPending(),
      workers: opts.workers,
    });
    this.feed = new LiveFeed({
      counters: opts.counters,
      gateway: opts.gateway,
      config,
      window: opts.window,
      rollouts: opts.rollouts === undefined ? undefined : () => opts.rollouts!.overview(),
      gateways: opts.gateways,
      stepMs: opts.feed?.stepMs,
      historySeconds: opts.feed?.historySeconds,
    });
    this.feed.start();
  }

  /** A config reload was applied (`ok`) or rejected. */
  recordReload(ok: boolean): void {
    if (ok) this.#reloads.ok++;
    else this.#reloads.failed++;
  }

  /** Stops the live feed (its listeners get nothing more). */
  close(): void {
    this.feed.stop();
  }
}
