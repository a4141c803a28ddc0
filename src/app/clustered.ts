/**
 * Clustered mode (docs/cluster.md): many gateways, one etcd, one elected controller.
 *
 * - Spec: read from `P/spec` at start, then watched; each new text is validated here exactly as
 *   `graylane validate` does and compiled by the app, and only a spec that passed both is cached
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
import { parseSpec, type Spec } from '../spec/index.js';
import {
  campaign,
  connectEtcd,
  EtcdInstances,
  EtcdStore,
  loadInitialSpec,
  parseEtcdUrl,
  publishCounters,
  StoreUnavailableError,
  watchClusterMetrics,
  watchSpec,
  watchStatuses,
  readStatusCache,
  writeStatusCache,
  type AppliedSpec,
  type Campaign,
  type EtcdConnection,
  type KeyWatch,
} from '../cluster/index.js';
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

/** The spec served while none was applied yet: no services, no routes (every request is a 404). */
const EMPTY_SPEC = 'services: {}\nroutes: []\n';

export async function openEtcdBackend(opts: EtcdBackendOptions): Promise<Backend> {
  const log = opts.logger;
  const url = parseEtcdUrl(opts.store);
  const conn = connectEtcd({ endpoints: url.endpoints, prefix: opts.prefix ?? url.prefix, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  const prefix = conn.keys.prefix;
  const location = `etcd://${url.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}${prefix}`;
  const specCache = join(opts.cacheDir, 'spec-cache.json');
  const statusCache = join(opts.cacheDir, 'status-cache.json');
  const specFile = (s: AppliedSpec): string => `etcd:${prefix}/spec@${s.revision}${s.source ? ` (${s.source})` : ''}`;

  let initial: { applied: AppliedSpec | null; spec: Spec; unreachable?: Error };
  let initialStatuses: { statuses: StoredStatus[]; unreachable?: Error };
  try {
    initial = await initialSpec(conn, specCache, specFile, log);
    initialStatuses = await readStatusesOrCache(new EtcdStore(conn), statusCache, log);
  } catch (e) {
    conn.close();
    throw e;
  }

  const store = new EtcdStore(conn);
  const link = storeLink(location, log, initial.unreachable ?? initialStatuses.unreachable);
  const instances = new EtcdInstances(conn, { services: Object.keys(initial.spec.services), onChange: () => opts.refresh() });
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
  let specWatch: KeyWatch | undefined;
  let statusWatch: KeyWatch | undefined;
  let election: Campaign | undefined;

  return {
    spec: initial.spec,
    source: location,
    store,
    instances,
    metrics,
    gateways: { id: publisher.gatewayId, name, candidate, overview: (local) => gateways.overview(local) },
    initialStatuses: initialStatuses.statuses,

    start(controller: RolloutController, handlers: SpecHandlers) {
      specWatch = watchSpec(
        conn,
        (applied) => {
          let spec: Spec;
          try {
            spec = parseSpec(applied.yaml, specFile(applied));
            handlers.onSpec(spec);
          } catch (err) {
            handlers.onReject(err instanceof Error ? err : new Error(String(err)));
            return false; // not cached; the same text is not offered again
          }
          return true;
        },
        { since: initial.applied, cacheFile: specCache, onConnection: link.onConnection('spec'), onError: (err) => log.warn({ err }, 'spec watch') },
      );
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
      await Promise.all([specWatch?.close(), statusWatch?.close()]);
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

/**
 * The spec at start (loadInitialSpec): etcd's if it is valid (and then cached), else the cache
 * (etcd away, or an invalid spec written by hand), else a refusal that says why. None applied yet:
 * the empty spec.
 */
async function initialSpec(
  conn: EtcdConnection,
  cacheFile: string,
  fileOf: (s: AppliedSpec) => string,
  log: Logger,
): Promise<{ applied: AppliedSpec | null; spec: Spec; unreachable?: Error }> {
  let parsed: Spec | undefined;
  const loaded = await loadInitialSpec(conn, { cacheFile, accept: (s) => void (parsed = parseSpec(s.yaml, fileOf(s))) });
  const applied = loaded.spec;
  if (applied === null) {
    log.warn({ prefix: conn.keys.prefix }, 'no spec applied yet: serving nothing until `graylane apply -f FILE`');
    return { applied: null, spec: parseSpec(EMPTY_SPEC, '(no spec applied)') };
  }
  if (loaded.from === 'cache') {
    const why = loaded.error instanceof StoreUnavailableError ? 'ETCD UNREACHABLE: serving the cached spec; changes apply when etcd answers' : 'the spec in etcd is invalid: serving the cached one';
    log.warn({ appliedAt: applied.appliedAt, revision: applied.revision, cache: cacheFile, err: loaded.error?.message }, why);
    const spec = parseSpec(applied.yaml, fileOf(applied));
    return loaded.error instanceof StoreUnavailableError ? { applied, spec, unreachable: loaded.error } : { applied, spec };
  }
  return { applied, spec: parsed! };
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
