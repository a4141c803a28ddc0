/**
 * Clustered mode (docs/cluster.md): many gateways, one etcd, one elected controller.
 *
 * - Spec: read from `P/spec` at start, then watched (src/source/etcd.ts); each new text is validated
 *   exactly as `graylane validate` does and compiled by the app, and only a spec that passed both is cached
 *   (`spec-cache.json` in the cache directory). With etcd away at start the gateway serves the
 *   cached spec and says so loudly; with no cache it refuses to start.
 * - Rollout statuses: watched on every gateway and handed to the controller (observe()), which
 *   turns them into the weight overlays; cached too (`status-cache.json`), so a gateway restarted
 *   during an outage routes with the weights it had, not the spec's bare split.
 * - Controller: every process with `controller: true` campaigns; the elected one drives with the
 *   leadership's fenced store, the rest follow. Builtin analysis reads every gateway's counters.
 * - Registrations: etcd keys on leases (EtcdInstances).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RolloutController } from '../rollout/controller.js';
import {
  campaign,
  connectEtcd,
  EtcdInstances,
  EtcdStore,
  parseEtcdUrl,
  publishCounters,
  StoreUnavailableError,
  watchClusterMetrics,
  watchStatuses,
  readStatusCache,
  writeStatusCache,
  type Campaign,
  type KeyWatch,
} from '../cluster/index.js';
import { openEtcdSource } from '../source/etcd.js';
import type { SpecSource } from '../source/types.js';
import type { StoredStatus } from '../store/types.js';
import type { CountersDocument, GatewayAbout, TrafficCounts } from '../traffic/index.js';
import { watchGateways } from '../cluster/gateways.js';
import { GATEWAY_LEASE_SEC, PUBLISH_MS } from '../metrics/gateways.js';
import type { Backend, SpecHandlers, StoreHealth } from './mode.js';

export interface EtcdBackendOptions {
  /** `etcd://host:port[,host:port...][/prefix]`. */
  store: string;
  /** Overrides the prefix of the URL (default `/graylane`). */
  prefix?: string;
  /** Where the spec and status caches live; default `.graylane` under the working directory. */
  cacheDir: string;
  /** Campaign to drive rollouts (default true); false: a gateway only. */
  controller?: boolean;
  /** This process's name in the election and the counters; default `<hostname>-<pid>`. */
  name?: string;
  /** Request deadline towards etcd, ms (default 2000). */
  timeoutMs?: number;
  /** Controller lease TTL, seconds (default 5). */
  leaseTtlSec?: number;
  logger: Logger;
  /** What this gateway counts: published for the controller's builtin analysis. */
  traffic: TrafficCounts;
  /** Registered endpoints changed: recompile. */
  refresh(): void;
  /** Where this gateway listens (`host:port` as bound), told to the others; undefined until it does. */
  listeners?(): { address: string; admin: string } | undefined;
}

export async function openEtcdBackend(opts: EtcdBackendOptions): Promise<Backend> {
  const log = opts.logger;
  const url = parseEtcdUrl(opts.store);
  const conn = connectEtcd({ endpoints: url.endpoints, prefix: opts.prefix ?? url.prefix, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  const prefix = conn.keys.prefix;
  const location = `etcd://${url.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}${prefix}`;
  const specCache = join(opts.cacheDir, 'spec-cache.json');
  const statusCache = join(opts.cacheDir, 'status-cache.json');
  // Set before the watches start: the source reports its connection through the link.
  let onSpecConnection: (connected: boolean, error?: Error) => void = () => {};

  let source: SpecSource & { readonly unreachable?: Error };
  let initialStatuses: { statuses: StoredStatus[]; unreachable?: Error };
  try {
    source = await openEtcdSource(conn, { cacheFile: specCache, location, logger: log, onConnection: (up, err) => onSpecConnection(up, err) });
    initialStatuses = await readStatusesOrCache(new EtcdStore(conn), statusCache, log);
  } catch (e) {
    conn.close();
    throw e;
  }

  const store = new EtcdStore(conn);
  const link = storeLink(location, log, source.unreachable ?? initialStatuses.unreachable);
  onSpecConnection = link.onConnection('spec');
  const instances = new EtcdInstances(conn, { services: Object.keys(source.spec.services), onChange: () => opts.refresh() });
  let leading = false;
  const name = opts.name ?? hostname();
  const candidate = opts.controller !== false;
  // The counters, with who publishes them, every period even when idle: the others list this
  // gateway from them and tell it is alive by their `at` (src/metrics/gateways.ts).
  const about = (): GatewayAbout => {
    const at = opts.listeners?.();
    const { up, error } = link.state();
    return { name, hostname: hostname(), address: at?.address ?? '', admin: at?.admin ?? '', candidate, leading, store: up || error === undefined ? { up } : { up, error } };
  };
  const published = {
    get recorded() {
      return opts.traffic.recorded;
    },
    toDocument: (gateway: string): CountersDocument => ({ ...opts.traffic.toDocument(gateway), about: about() }),
  };
  const publisher = publishCounters(conn, published, {
    ...(opts.name ? { gatewayId: `${opts.name}-${process.pid}` } : {}),
    intervalMs: PUBLISH_MS,
    ttlSec: GATEWAY_LEASE_SEC,
    heartbeat: true,
    onError: () => {},
  });
  const metrics = watchClusterMetrics(conn);
  const gateways = watchGateways(conn);
  let statusWatch: KeyWatch | undefined;
  let election: Campaign | undefined;

  return {
    spec: source.spec,
    source: location,
    store,
    instances,
    metrics,
    gateways: { id: publisher.gatewayId, name, candidate, overview: (local) => gateways.overview(local) },
    initialStatuses: initialStatuses.statuses,

    start(controller: RolloutController, handlers: SpecHandlers) {
      source.follow(handlers);
      statusWatch = watchStatuses(
        conn,
        (statuses) => {
          controller.observe(statuses);
          try {
            writeStatusCache(statusCache, statuses);
          } catch (err) {
            log.warn({ err, file: statusCache }, 'could not cache the rollout statuses');
          }
        },
        { onConnection: link.onConnection('statuses'), onError: (err) => log.warn({ err }, 'a rollout status in etcd could not be read') },
      );
      if (opts.controller === false) return;
      election = campaign(conn, {
        ...(opts.name ? { candidate: opts.name } : {}),
        ...(opts.leaseTtlSec ? { ttlSec: opts.leaseTtlSec } : {}),
        onElected: (leadership) => {
          leading = true;
          log.info({ candidate: leadership.candidate, key: leadership.key }, 'elected: this process drives the rollouts');
          controller.lead(store.fenced(leadership));
        },
        onDemoted: (reason) => {
          leading = false;
          log.warn({ reason }, 'no longer the leader: the rollouts are driven elsewhere');
          controller.follow();
        },
        onError: () => {},
      });
    },

    health(): StoreHealth {
      const { up, error } = link.state();
      return { kind: 'etcd', location, up, leading, ...(up || error === undefined ? {} : { error }) };
    },

    async stop() {
      await election?.resign().catch(() => undefined);
      await Promise.all([source.stop(), statusWatch?.close()]);
    },

    async close() {
      await publisher.close().catch(() => undefined);
      await Promise.all([metrics.close(), gateways.close(), instances.close()]);
      conn.close();
    },
  };
}

/**
 * Whether etcd answers, as /api/v1/config, `graylane_store_up` and the dashboard report it: up only
 * while both watches (spec and statuses) are established. It starts down, with the start-up reads'
 * error when they fell back to the caches: a gateway cold-started from its caches while etcd is
 * away must say so from its first request on, not "up" until a watch happens to fail.
 */
function storeLink(location: string, log: Logger, startError: Error | undefined) {
  const connected = { spec: false, statuses: false };
  let error = startError?.message;
  let reachedOnce = false;
  const isUp = (): boolean => connected.spec && connected.statuses;
  return {
    onConnection: (which: 'spec' | 'statuses') => (now: boolean, err?: Error) => {
      const was = isUp();
      connected[which] = now;
      if (!now && err) error = err.message;
      if (was && !isUp()) log.error({ store: location, err: err?.message }, 'etcd unreachable: serving the last good snapshot; admin writes fail with 503 until it answers');
      if (!was && isUp()) {
        error = undefined;
        // Only worth a line when it had been away: at start, or since.
        if (reachedOnce || startError !== undefined) log.info({ store: location }, 'etcd reachable again');
        reachedOnce = true;
      }
    },
    state: (): { up: boolean; error: string | undefined } => ({ up: isUp(), error }),
  };
}

/** The stored statuses, or with etcd away the cached ones (none cached: start without overlays). */
async function readStatusesOrCache(store: EtcdStore, cacheFile: string, log: Logger): Promise<{ statuses: StoredStatus[]; unreachable?: Error }> {
  try {
    return { statuses: await store.listStatuses() };
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    try {
      const statuses = readStatusCache(cacheFile) ?? [];
      log.warn({ cache: cacheFile, rollouts: statuses.length }, 'ETCD UNREACHABLE: routing with the cached rollout weights');
      return { statuses, unreachable: e };
    } catch (err) {
      log.error({ err: (err as Error).message, cache: cacheFile }, 'the rollout status cache is unusable: starting without rollout weights');
      return { statuses: [], unreachable: e };
    }
  }
}
