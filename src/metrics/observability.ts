/**
 * Everything people watch a graylane process through, composed: the Prometheus registry (/metrics)
 * and the live feed (overview, server-sent events, dashboard, `graylane top`), both reading the
 * same TrafficRecorder the gateway feeds. app.ts builds one; src/admin/observability.ts serves it.
 */
import type { Registry } from 'prom-client';
import type { ConfigInfo } from './config-info.js';
import type { HealthTable } from '../gateway/health.js';
import type { RolloutController } from '../rollout/controller.js';
import { LiveFeed, rolloutsOf, rolloutViewsOf } from './live.js';
import type { ConfigOverview } from './overview.js';
import type { GatewaysOverview } from './gateways.js';
import { createRegistry, type GatewayView, type ReloadCounts } from './registry.js';
import type { TrafficCounts, WindowStats } from '../traffic/index.js';

export interface ObservabilityOptions {
  /** The counters the gateway's observer feeds. */
  counters: TrafficCounts;
  gateway: GatewayView & { health: Pick<HealthTable, 'isUp' | 'entries'> };
  config(): ConfigInfo;
  /** The rollout controller's traffic window (p99 in the live feed). */
  window?: { window(service: string, version: string, ms: number): WindowStats };
  controller?: Pick<RolloutController, 'list' | 'events' | 'abortsPending'>;
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
      rollouts: opts.controller === undefined ? undefined : rolloutViewsOf(opts.controller),
      storeUp: opts.storeUp,
      abortsPending: opts.controller === undefined ? undefined : () => opts.controller!.abortsPending(),
      workers: opts.workers,
    });
    this.feed = new LiveFeed({
      counters: opts.counters,
      gateway: opts.gateway,
      config,
      window: opts.window,
      rollouts: opts.controller === undefined ? undefined : rolloutsOf(opts.controller),
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
