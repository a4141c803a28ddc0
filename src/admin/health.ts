/**
 * Probes for an orchestrator (Kubernetes, docker HEALTHCHECK, a load balancer), on the admin listener:
 *
 * ```
 * GET /healthz   liveness: 200 { status: "ok" } whenever the process answers at all
 * GET /readyz    readiness: 200 { ready: true, ... } while a snapshot serves and the process is
 *                not draining; 503 { ready: false, reason } otherwise
 * ```
 *
 * Both are reads without a token (kubelet sends none) and answer with no I/O: a probe must not wait
 * on etcd or the disk. Liveness says only that the event loop runs (the handler ran); it must not
 * fail because a dependency did, or a restart would drop the cached spec the gateway is serving.
 * Readiness in clustered mode stays true while etcd is away: the gateway serves its last good spec
 * (docs/cluster.md), which is what the traffic needs; the body says `store.up: false`.
 */
import type { StoreHealth } from '../metrics/config-info.js';
import type { ApiRoute } from './server.js';

/** What the probes read: all of it in memory. */
export interface HealthSource {
  /** The snapshot being served ('' before the first). */
  snapshotId(): string;
  /** True from the moment shutdown begins (SIGTERM): new traffic should go elsewhere. */
  draining(): boolean;
  store(): StoreHealth;
}

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: 'draining' | 'no_snapshot';
  snapshotId: string;
  store: StoreHealth;
}

/** The readiness verdict: pure, for tests and the route alike. */
export function readiness(source: HealthSource): Readiness {
  const snapshotId = source.snapshotId();
  const store = source.store();
  if (source.draining()) return { ready: false, reason: 'draining', snapshotId, store };
  if (snapshotId === '') return { ready: false, reason: 'no_snapshot', snapshotId, store };
  return { ready: true, snapshotId, store };
}

export function healthRoutes(source: HealthSource): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      access: 'read',
      whileDraining: true,
      handle: () => ({ body: { status: 'ok' } }),
    },
    {
      method: 'GET',
      path: '/readyz',
      access: 'read',
      whileDraining: true,
      handle: () => {
        const r = readiness(source);
        return { status: r.ready ? 200 : 503, body: r };
      },
    },
  ];
}
