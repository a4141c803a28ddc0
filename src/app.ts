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
 * gateway --recordResponse--> TrafficRecorder --window()--> builtin analysis (controller); /metrics, dashboard
 * admin API --command--> controller     admin API --read--> controller, store, spec, gateway health
 * ```
 * `status()` is the one place the controller-side additions to the spec are assembled: rollout
 * overlays, and the endpoints instances registered through the admin API (src/registry/service.ts,
 * which calls refresh() when they change).
 *
 * Where spec, state and registrations live is the process mode's business (src/app/): a watched
 * file and SQLite in one process, or etcd in clustered mode, where the spec arrives by a watch,
 * the controller drives only while elected, and followers route by the statuses they watch.
 *
 * Role: with `workers` 1 (the default) this process is the whole gateway ('single'). With more it is
 * the 'primary': everything above but the data plane, which runs in forked worker processes
 * (src/workers/: the 'worker' role, whose entry is src/workers/worker-main.ts, not this file).
 * The pool stands where the gateway stood: swap() sends the spec and status to every worker, and
 * the counts read here are the sum the workers publish.
 */
import { hostname } from 'node:os';
import type { DestinationStream, Logger } from 'pino';
import { configRoutes, type ConfigInfo } from './admin/config.js';
import { instanceRoutes } from './admin/instances.js';
import { dashboardRoutes } from './admin/dashboard.js';
import { observabilityRoutes } from './admin/observability.js';
import { releaseRoutes } from './admin/releases.js';
import { rolloutRoutes } from './admin/rollouts.js';
import { healthRoutes } from './admin/health.js';
import { startAdmin, type AdminServer } from './admin/server.js';
import type { EtcdBackendOptions } from './app/clustered.js';
import { startDecide, type DecideListener } from './decide/index.js';
import { watchCertificates, type CertificateReloadOptions } from './app/certificates.js';
import { gatewayListeners } from './app/listeners.js';
import { openFileBackend } from './app/one-process.js';
import type { Backend, BackendInstances } from './app/mode.js';
import { startGateway } from './gateway/index.js';
import { knownLanes, Observability } from './metrics/index.js';
import { singleGateway, type GatewaysOverview, type LocalGateway } from './metrics/gateways.js';
import { registerNotificationMetrics } from './metrics/notifications.js';
import { registerCertificateMetrics } from './metrics/certificates.js';
import { registerDecideMetrics } from './metrics/decide.js';
import { approvalRoutes } from './admin/approval-routes.js';
import { Notifier } from './notify/index.js';
import { RolloutController } from './rollout/controller.js';
import { rolloutSource } from './rollout/rollout-source.js';
import { releaseRollouts } from './rollout/release.js';
import type { AnalysisTemplate, RolloutSpec } from './spec/rollout-model.js';
import { compile } from './routing/index.js';
import type { Status } from './routing/types.js';
import { ConfigError, LISTEN_FORM, parseListen, type Spec } from './spec/index.js';
import { listenersOf } from './spec/sections/listeners.js';
import { DEFAULT_ADMIN_LISTEN } from './spec/sections/rollouts.js';
import type { Store } from './store/index.js';
import { startTracing, type Tracing } from './tracing/index.js';
import { TrafficRecorder } from './traffic/index.js';
import { startWorkerPool, TrafficCountsRef, WORKER_HEADER, workerCount, WorkerTraffic, type DataPlane, type WorkerPool } from './workers/index.js';

export interface AppOptions {
  /** The config file; watched for changes. One of configFile and cluster. */
  configFile?: string;
  /** Clustered mode: spec, state and registrations in etcd (src/app/clustered.ts). */
  cluster?: Omit<EtcdBackendOptions, 'logger' | 'traffic' | 'refresh'>;
  logger: Logger;
  /** Overrides the config's `listen`. */
  listen?: string;
  /** Overrides the config's `admin.listen`. */
  adminListen?: string;
  /** Bearer token for admin API changes; without one, changes are refused (403). */
  adminToken?: string;
  /** The bearer token of decide.report.http's `POST /report` (GRAYLANE_REPORT_TOKEN); none = loopback peers only. */
  reportToken?: string;
  /** Overrides the config's `state.path` (one-process mode). */
  statePath?: string;
  /** Write the access log (default: the config's `accessLog`). */
  accessLog?: boolean;
  /** Where the access log goes; default stdout, as JSON lines in batches. */
  accessLogDestination?: DestinationStream;
  /** Relative state paths are resolved against it; default process.cwd(). */
  cwd?: string;
  /** Data-plane worker processes; overrides the config's `workers` (default 1: no fork). */
  workers?: number | 'auto';
  /** Workers write their logs as readable lines (the serve command's decision for stderr and stdout). */
  workerLogs?: { pretty: boolean; accessPretty: boolean };
}

/** What this process is: the whole gateway, or the primary of data-plane workers. */
export type Role = 'single' | 'primary';

export interface App {
  readonly role: Role;
  /** The gateway; in a primary, the pool of workers that serve (src/workers/pool.ts). */
  readonly gateway: DataPlane;
  /** The workers; null in one process. */
  readonly workers: WorkerPool | null;
  /** The decision listener for an edge proxy (spec.decide); null when the config has none. */
  readonly decide: DecideListener | null;
  readonly admin: AdminServer;
  readonly controller: RolloutController;
  /** Delivers notifications (spec.notifications); idle when the config has none. */
  readonly notifier: Notifier;
  readonly store: Store;
  /** Instances registered through the admin API. */
  readonly instances: BackendInstances;
  readonly backend: Backend;
  /** The spec being served. */
  spec(): Spec;
  /** Stops watching, closes the admin API and the controller, drains the gateway, closes the store. */
  close(opts?: { drainMs?: number }): Promise<void>;
}

/**
 * Opens the backend (a ConfigError from the file, or a store that cannot give a spec, is thrown as
 * is: nothing to serve) and starts everything. Resolves once the gateway and the admin API listen.
 *
 * @example
 * const app = await startApp({ configFile: 'graylane.yaml', logger, adminToken: process.env.GRAYLANE_ADMIN_TOKEN });
 */
export async function startApp(opts: AppOptions): Promise<App> {
  const log = opts.logger;
  // Counted once per request for everyone: lanes the served config does not name are counted as
  // one (bounded labels).
  const recorder = new TrafficRecorder({ knownLanes: () => knownLanes(gateway!.snapshot()) });
  // What the backend, analysis and the admin API read: the recorder, or in a primary the workers' sum.
  const traffic = new TrafficCountsRef(recorder);
  let gateway: DataPlane | undefined;
  let pool: WorkerPool | null = null;
  let tracing: Tracing | null = null;
  let controller: RolloutController | undefined;
  let refreshNow = (): void => {};
  const refresh = (): void => refreshNow();
  let listeners: { address: string; admin: string } | undefined;
  let tlsListeners: Pick<CertificateReloadOptions, 'serving' | 'specs'> | undefined;
  let backend: Backend;
  // Loaded only in clustered mode: the etcd client (gRPC, protobufjs) costs a file-mode start ~100 ms.
  if (opts.cluster !== undefined) backend = await (await import('./app/clustered.js')).openEtcdBackend({ ...opts.cluster, logger: log, traffic, refresh, listeners: () => listeners });
  else if (opts.configFile !== undefined) backend = await openFileBackend({ configFile: opts.configFile, statePath: opts.statePath, cwd: opts.cwd, traffic, refresh });
  else throw new Error('startApp needs a configFile or a cluster store');
  const { store, instances } = backend;
  let spec = backend.spec;
  const workers = workerCount(opts.workers ?? spec.workers);
  const role: Role = workers > 1 ? 'primary' : 'single';
  const workerTraffic = role === 'primary' ? new WorkerTraffic() : null;
  if (workerTraffic !== null) traffic.target = workerTraffic;
  const info: ConfigInfo = { file: backend.source, loadedAt: Date.now(), snapshotId: '', configHash: '', reloads: 0, lastReloadError: null };
  const configInfo = (): ConfigInfo => ({ ...info, store: backend.health(), ...(pool !== null ? { workers: pool.workers() } : {}) });

  const status = (): Status => ({ services: controller!.overlays(), routes: controller!.routeOverlays(), ...instances.status() });
  refreshNow = (): void => {
    if (gateway === undefined || controller === undefined) return;
    const snapshot = compile(spec, status());
    gateway.swap(snapshot);
    info.snapshotId = snapshot.id;
    info.configHash = snapshot.configHash;
  };

  // Queues into the store and sends in the background: nothing here waits for a receiver.
  const notifier = new Notifier({
    store,
    spec: () => spec.notifications,
    sending: () => backend.health().leading,
    ...(backend.health().kind === 'etcd' ? { storeUp: () => backend.health().up } : {}),
    logger: log,
  });

  try {
    controller = await RolloutController.open({
      store,
      ...controlled(spec),
      metrics: backend.metrics,
      // Read at each use: `spec` is the served one, reloads included.
      endpointsOf: (service, version) => spec.services[service]?.versions[version]?.endpoints,
      fallbackOf: (service) => spec.services[service]?.fallback,
      onStatus: refresh,
      onEvents: (rollout, st, events) => notifier.rolloutEvents(rollout, st, events),
      logger: log,
      ...(backend.initialStatuses ? { initialStatuses: backend.initialStatuses } : {}),
    });
    const { listeners: listening, mesh, tls } = await gatewayListeners(spec, opts.listen);
    tlsListeners = { serving: new Map([...listening, ...(mesh === undefined ? [] : [mesh])].flatMap((l) => (l.tls === undefined ? [] : [[l.name, l.tls]]))), specs: tls };
    if (workerTraffic === null) {
      // With workers, each worker traces the requests it serves (src/workers/worker.ts).
      if (spec.tracing !== undefined) tracing = await startTracing(spec.tracing, { logger: log });
      gateway = await startGateway({
        snapshot: compile(spec, status()),
        listeners: listening,
        logger: log,
        accessLog: opts.accessLog ?? spec.accessLog,
        ...(opts.accessLogDestination !== undefined ? { accessLogDestination: opts.accessLogDestination } : {}),
        mesh,
        observer: recorder,
        ...(tracing !== null ? { tracer: tracing.tracer } : {}),
        ...(spec.debug?.workerHeader === true ? { debugHeaders: [WORKER_HEADER, '0'] } : {}),
      });
    } else {
      gateway = pool = await startWorkerPool({
        count: workers,
        snapshot: compile(spec, status()),
        listeners: listening,
        mesh: mesh ?? null,
        decide: spec.decide === undefined ? null : listenOf(spec.decide.listen, 'decide.listen'),
        accessLog: opts.accessLog ?? spec.accessLog,
        logPretty: opts.workerLogs?.pretty ?? false,
        accessPretty: opts.workerLogs?.accessPretty ?? false,
        workerHeader: spec.debug?.workerHeader === true,
        logger: log,
        traffic: workerTraffic,
      });
    }
  } catch (err) {
    await tracing?.shutdown();
    await backend.close();
    throw err;
  }
  const gw = gateway;
  const ctl = controller;
  let decide: DecideListener | null = null;
  if (pool !== null) {
    // In a primary the workers run the decision listener, on the address they share.
    // Their outcome listeners too: what they counted and refused arrives summed in workerTraffic.
    const summed = workerTraffic!;
    if (pool.decideAddress !== null) decide = { address: pool.decideAddress, report: null, reportHttp: null, outcomes: () => summed.outcomes(), close: () => Promise.resolve() };
  } else if (spec.decide !== undefined) {
    try {
      // Shares the gateway's snapshot: every reload and rollout overlay the gateway serves, it decides by.
      decide = await startDecide({ ...listenOf(spec.decide.listen, 'decide.listen'), snapshot: () => gw.snapshot(), settings: spec.decide, logger: log, observer: recorder, reportToken: opts.reportToken });
    } catch (err) {
      await gw.close({ drainMs: 0 });
      await tracing?.shutdown();
      await backend.close();
      throw err;
    }
  }
  info.snapshotId = gw.snapshot().id;
  info.configHash = gw.snapshot().configHash;

  // The gateways list: this process as it knows itself, and in clustered mode every other gateway.
  const self = backend.gateways ?? { id: `${hostname()}-${process.pid}`, name: hostname(), candidate: true };
  const local = (): LocalGateway => {
    const { up, error, leading } = backend.health();
    return {
      id: self.id,
      name: self.name,
      hostname: hostname(),
      address: listeners?.address ?? '',
      admin: listeners?.admin ?? '',
      candidate: self.candidate,
      leading,
      store: error === undefined ? { up } : { up, error },
      startedAt: traffic.startedAt,
      versions: traffic.versions(),
    };
  };
  const gateways = (): GatewaysOverview => backend.gateways?.overview(local()) ?? singleGateway(local());
  const observability = new Observability({
    counters: traffic,
    gateway: gw,
    config: configInfo,
    window: traffic,
    rollouts: rolloutSource(ctl),
    gateways,
    ...(backend.health().kind === 'etcd' ? { storeUp: () => backend.health().up } : {}),
    ...(pool !== null ? { workers: pool } : {}),
  });
  registerNotificationMetrics(observability.registry, notifier);
  registerCertificateMetrics(observability.registry, () => tlsListeners!.serving);
  if (spec.decide?.report !== undefined) registerDecideMetrics(observability.registry, () => decide?.outcomes() ?? []);
  const adminAt = listenOf(opts.adminListen ?? spec.admin?.listen ?? DEFAULT_ADMIN_LISTEN, '--admin-listen');
  let admin: AdminServer;
  let closing: Promise<void> | undefined;
  try {
    admin = await startAdmin({
      host: adminAt.host,
      port: adminAt.port,
      token: opts.adminToken,
      draining: () => closing !== undefined,
      routes: [
        ...healthRoutes({ snapshotId: () => info.snapshotId, draining: () => closing !== undefined, store: () => backend.health() }),
        ...rolloutRoutes(ctl),
        ...releaseRoutes(ctl),
        ...instanceRoutes(instances),
        ...configRoutes({ info: configInfo, spec: () => spec, status, health: gw.health }),
        ...observabilityRoutes(observability),
        ...dashboardRoutes(),
        ...approvalRoutes({ spec: () => spec.notifications, controller: ctl, store }),
      ],
    });
  } catch (err) {
    observability.close();
    await decide?.close();
    await gw.close({ drainMs: 0 });
    await tracing?.shutdown();
    await backend.close();
    throw err;
  }
  listeners = { address: hostPort(gw.address), admin: hostPort(admin.address) };

  const started = spec;
  // Certificate files are watched for the process's life; the listeners' settings are the start's.
  const certificates = watchCertificates({ plane: gw, ...tlsListeners!, logger: log });

  backend.start(ctl, {
    onSpec(next) {
      if (closing) return;
      // A spec that does not compile changes nothing (compile throws; the source reports it).
      compile(next, status());
      spec = next;
      instances.setServices(Object.keys(next.services));
      const driven = controlled(next);
      ctl.update(driven.rollouts, driven.templates);
      refreshNow();
      info.loadedAt = Date.now();
      info.reloads++;
      info.lastReloadError = null;
      observability.recordReload(true);
      log.info({ id: info.snapshotId, source: backend.source }, 'config reloaded');
      for (const key of restartOnly(started, next)) log.warn({ key }, `${key} changed: it takes effect when graylane serve restarts`);
    },
    onReject(err) {
      info.lastReloadError = { at: Date.now(), message: err.message, issues: err instanceof ConfigError ? err.issues : [] };
      observability.recordReload(false);
      log.error({ source: backend.source, error: err.message }, 'config rejected; still serving the previous one');
      notifier.system('ReloadRejected', `graylane: config rejected (${backend.source})`, `still serving the previous config:\n${err.message}`);
    },
  });

  notifier.start();

  return {
    role,
    gateway: gw,
    workers: pool,
    decide,
    admin,
    controller: ctl,
    notifier,
    store,
    instances,
    backend,
    spec: () => spec,
    close(closeOpts = {}) {
      // The admin listener closes last: while the gateway drains, /readyz answers 503 (the
      // orchestrator sends no new traffic) and /healthz 200 (no restart mid-drain); every other
      // admin route is refused from the first moment.
      closing ??= (async () => {
        await backend.stop();
        certificates.stop();
        observability.close();
        await ctl.close();
        await notifier.close();
        await decide?.close();
        await gw.close({ drainMs: closeOpts.drainMs ?? spec.drainMs });
        // The spans of the last requests leave before the process does (bounded by the export timeout).
        await tracing?.shutdown();
        await admin.close();
        await backend.close();
      })();
      return closing;
    },
  };
}

/** Settings a reload cannot apply: the listeners and the state file are set up once. */
function restartOnly(before: Spec, after: Spec): string[] {
  const changed: string[] = [];
  if (JSON.stringify(listenersOf(before)) !== JSON.stringify(listenersOf(after))) changed.push('listen');
  if (before.admin?.listen !== after.admin?.listen) changed.push('admin.listen');
  if (JSON.stringify(before.mesh) !== JSON.stringify(after.mesh)) changed.push('mesh.listen');
  if (before.decide?.listen !== after.decide?.listen) changed.push('decide.listen');
  if (before.decide?.report?.syslog !== after.decide?.report?.syslog) changed.push('decide.report.syslog');
  if (before.decide?.report?.http !== after.decide?.report?.http) changed.push('decide.report.http');
  if (before.state?.path !== after.state?.path) changed.push('state.path');
  if (before.limits?.maxHeaderBytes !== after.limits?.maxHeaderBytes) changed.push('limits.maxHeaderBytes');
  if (before.workers !== after.workers) changed.push('workers');
  if (before.debug?.workerHeader !== after.debug?.workerHeader) changed.push('debug.workerHeader');
  if (JSON.stringify(before.tracing) !== JSON.stringify(after.tracing)) changed.push('tracing');
  return changed;
}

/** `host:port` as bound, IPv6 in brackets. */
function hostPort(a: { host: string; port: number }): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

function listenOf(value: string, flag: string): { host: string; port: number } {
  const parsed = parseListen(value);
  if (!parsed) throw new Error(`bad listen address "${value}" (${flag}): ${LISTEN_FORM}`);
  return parsed;
}

/**
 * What the controller drives for a spec: its rollouts, and the rollouts that run its releases
 * (src/rollout/release.ts), with the analysis templates of both.
 */
function controlled(spec: Spec): { rollouts: RolloutSpec[]; templates: Record<string, AnalysisTemplate> } {
  const releases = releaseRollouts(spec);
  return { rollouts: [...(spec.rollouts ?? []), ...releases.rollouts], templates: { ...(spec.analysisTemplates ?? {}), ...releases.templates } };
}
