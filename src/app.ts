/**
 * The graylane process, composed: the gateway (data plane), the rollout controller over the state
 * store, the admin API, and the config watcher, with the callbacks that tie them together. `graylane
 * serve` is this plus signal handling; tests start it in-process.
 *
 * How the pieces talk (all in one process, no polling):
 * ```
 * config file --watch--> spec --------------------------+
 *                          \-> controller.update()       |
 * controller --commit--> onStatus(overlays) ------------>+--> compile(spec, status()) --> gateway.swap()
 * gateway --recordResponse--> SlidingWindow --window()--> builtin analysis (controller)
 * admin API --command--> controller     admin API --read--> controller, store, spec, gateway health
 * ```
 * `status()` is the one place the controller-side additions to the spec are assembled: rollout
 * overlays, and the endpoints instances registered through the admin API (src/registry/service.ts,
 * which calls refresh() when they change).
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { configRoutes, type ConfigInfo } from './admin/config.js';
import { instanceRoutes } from './admin/instances.js';
import { dashboardRoutes } from './admin/dashboard.js';
import { observabilityRoutes } from './admin/observability.js';
import { rolloutRoutes } from './admin/rollouts.js';
import { startAdmin, type AdminServer } from './admin/server.js';
import { startGateway, watchConfig, type Gateway } from './gateway/index.js';
import { combineObservers, knownLanes, Observability, TrafficCounters } from './metrics/index.js';
import { RolloutController } from './rollout/controller.js';
import { SlidingWindow } from './rollout/window.js';
import { LocalInstances } from './registry/index.js';
import { compile } from './routing/index.js';
import type { Status } from './routing/types.js';
import { ConfigError, loadSpecFile, parseListen, type Spec } from './spec/index.js';
import { DEFAULT_ADMIN_LISTEN, DEFAULT_STATE_PATH } from './spec/sections/rollouts.js';
import { openSqliteStore, type Store } from './store/index.js';

export interface AppOptions {
  /** The config file; watched for changes. */
  configFile: string;
  logger: Logger;
  /** Overrides the config's `listen`. */
  listen?: string;
  /** Overrides the config's `admin.listen`. */
  adminListen?: string;
  /** Bearer token for admin API changes; without one, changes are refused (403). */
  adminToken?: string;
  /** Overrides the config's `state.path`. */
  statePath?: string;
  /** Write the access log (default: the config's `accessLog`). */
  accessLog?: boolean;
  /** Relative state paths are resolved against it; default process.cwd(). */
  cwd?: string;
}

export interface App {
  readonly gateway: Gateway;
  readonly admin: AdminServer;
  readonly controller: RolloutController;
  readonly store: Store;
  /** Instances registered through the admin API. */
  readonly instances: LocalInstances;
  /** The spec being served. */
  spec(): Spec;
  /** Stops watching, closes the admin API and the controller, drains the gateway, closes the store. */
  close(opts?: { drainMs?: number }): Promise<void>;
}

/**
 * Loads the config (a ConfigError is thrown as is: nothing to serve), opens the store, and starts
 * everything. Resolves once the gateway and the admin API listen.
 *
 * @example
 * const app = await startApp({ configFile: 'graylane.yaml', logger, adminToken: process.env.GRAYLANE_ADMIN_TOKEN });
 */
export async function startApp(opts: AppOptions): Promise<App> {
  const log = opts.logger;
  let spec = await loadSpecFile(opts.configFile);
  const store = openSqliteStore(resolve(opts.cwd ?? process.cwd(), opts.statePath ?? spec.state?.path ?? DEFAULT_STATE_PATH));
  const traffic = new SlidingWindow();
  let gateway: Gateway | undefined;
  // Metrics counters: lanes the served config does not name are counted as one (bounded labels).
  const counters = new TrafficCounters({ knownLanes: () => knownLanes(gateway!.snapshot()) });
  const info: ConfigInfo = { file: opts.configFile, loadedAt: Date.now(), snapshotId: '', reloads: 0, lastReloadError: null };

  let controller: RolloutController;
  const instances = new LocalInstances({ services: Object.keys(spec.services), onChange: () => refresh() });
  const status = (): Status => ({ services: controller.overlays(), ...instances.status() });
  const refresh = (): void => {
    if (gateway === undefined) return;
    const snapshot = compile(spec, status());
    gateway.swap(snapshot);
    info.snapshotId = snapshot.id;
  };

  try {
    controller = await RolloutController.open({
      store,
      rollouts: spec.rollouts ?? [],
      templates: spec.analysisTemplates ?? {},
      metrics: traffic,
      onStatus: refresh,
      logger: log,
    });
    const { host, port } = listenOf(opts.listen ?? spec.listen, '--listen');
    gateway = await startGateway({
      snapshot: compile(spec, status()),
      host,
      port,
      logger: log,
      accessLog: opts.accessLog ?? spec.accessLog,
      mesh: spec.mesh === undefined ? undefined : listenOf(spec.mesh.listen, 'mesh.listen'),
      observer: combineObservers(traffic, counters),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  const gw = gateway;
  info.snapshotId = gw.snapshot().id;

  const observability = new Observability({ counters, gateway: gw, config: () => ({ ...info }), window: traffic, controller });
  const adminAt = listenOf(opts.adminListen ?? spec.admin?.listen ?? DEFAULT_ADMIN_LISTEN, '--admin-listen');
  let admin: AdminServer;
  try {
    admin = await startAdmin({
      host: adminAt.host,
      port: adminAt.port,
      token: opts.adminToken,
      routes: [
        ...rolloutRoutes(controller),
        ...instanceRoutes(instances),
        ...configRoutes({ info: () => ({ ...info }), spec: () => spec, status, health: gw.health }),
        ...observabilityRoutes(observability),
        ...dashboardRoutes(),
      ],
    });
  } catch (err) {
    observability.close();
    await gw.close({ drainMs: 0 });
    await store.close();
    throw err;
  }
  controller.start();

  const started = spec;
  const stopWatching = watchConfig(
    opts.configFile,
    (next) => {
      // A spec that does not compile changes nothing (compile throws; the watcher reports it).
      compile(next, status());
      spec = next;
      instances.setServices(Object.keys(next.services));
      controller.update(next.rollouts ?? [], next.analysisTemplates ?? {});
      refresh();
      info.loadedAt = Date.now();
      info.reloads++;
      info.lastReloadError = null;
      observability.recordReload(true);
      log.info({ id: info.snapshotId, config: opts.configFile }, 'config reloaded');
      for (const key of restartOnly(started, next)) log.warn({ key }, `${key} changed: it takes effect when graylane serve restarts`);
    },
    (err) => {
      info.lastReloadError = { at: Date.now(), message: err.message, issues: err instanceof ConfigError ? err.issues : [] };
      observability.recordReload(false);
      log.error({ config: opts.configFile, error: err.message }, 'config rejected; still serving the previous one');
    },
  );

  let closing: Promise<void> | undefined;
  return {
    gateway: gw,
    admin,
    controller,
    store,
    instances,
    spec: () => spec,
    close(closeOpts = {}) {
      closing ??= (async () => {
        stopWatching();
        instances.close();
        await admin.close();
        observability.close();
        await controller.close();
        await gw.close({ drainMs: closeOpts.drainMs ?? spec.drainMs });
        await store.close();
      })();
      return closing;
    },
  };
}

/** Settings a reload cannot apply: the listeners and the state file are set up once. */
function restartOnly(before: Spec, after: Spec): string[] {
  const changed: string[] = [];
  if (before.listen !== after.listen) changed.push('listen');
  if (before.admin?.listen !== after.admin?.listen) changed.push('admin.listen');
  if (before.mesh?.listen !== after.mesh?.listen) changed.push('mesh.listen');
  if (before.state?.path !== after.state?.path) changed.push('state.path');
  if (before.limits?.maxHeaderBytes !== after.limits?.maxHeaderBytes) changed.push('limits.maxHeaderBytes');
  return changed;
}

function listenOf(value: string, flag: string): { host: string; port: number } {
  const parsed = parseListen(value);
  if (!parsed) throw new Error(`bad listen address "${value}" (${flag}): expected host:port, [v6]:port or :port`);
  return parsed;
}
