/**
 * Where a graylane process keeps what is not in the request path: the spec's source, the state
 * store, the instance registry, the traffic counts builtin analysis reads, and who drives rollouts.
 * Two implementations, chosen by `graylane serve`:
 *
 * - one-process.ts: one process. The spec is a watched file, state is a SQLite file, registrations live in
 *   memory, the controller of this process drives.
 * - clustered.ts: clustered mode. The spec, rollout statuses, registrations and every gateway's counters
 *   live in etcd; the controller of the elected process drives, the others follow.
 *
 * app.ts composes a backend with the gateway, the controller and the admin API the same way for both.
 */
import type { GatewaysOverview, LocalGateway } from '../metrics/gateways.js';
import type { Instances } from '../registry/index.js';
import type { RolloutController } from '../rollout/controller.js';
import type { MetricsSource } from '../traffic/index.js';
import type { Spec } from '../spec/index.js';
import type { StoreHealth } from '../metrics/config-info.js';
import type { SpecHandlers } from '../source/types.js';
import type { Store, StoredStatus } from '../store/types.js';

/** The registry as the app needs it: the admin API's interface, plus what the snapshot is compiled from. */
export interface BackendInstances extends Instances {
  /** `Status.registered`, or `{}` when nothing is registered. */
  status(): { registered?: Record<string, Record<string, string[]>> };
  /** The services of a reloaded spec. */
  setServices(services: Iterable<string>): void;
  close(): void | Promise<void>;
}

/** Clustered mode: who this gateway is to the others, and the list of every gateway. */
export interface BackendGateways {
  /** The key of its counters: unique per process. */
  readonly id: string;
  readonly name: string;
  /** Campaigns to drive rollouts. */
  readonly candidate: boolean;
  /** Every gateway publishing, with `local` (this process) first. */
  overview(local: LocalGateway): GatewaysOverview;
}

export type { SpecHandlers } from '../source/types.js';
export type { StoreHealth } from '../metrics/config-info.js';

export interface Backend {
  /** The spec to serve at start. */
  readonly spec: Spec;
  /** Where the spec comes from, for messages: the file path, or `etcd://host:port/prefix`. */
  readonly source: string;
  readonly store: Store;
  readonly instances: BackendInstances;
  /** What builtin analysis counts: this gateway's traffic, or every gateway's published totals. */
  readonly metrics: MetricsSource;
  /** Clustered mode: the gateways list; absent for one process, which lists itself alone. */
  readonly gateways?: BackendGateways;
  /** Statuses to open the controller from instead of reading the store (etcd away at start). */
  readonly initialStatuses?: readonly StoredStatus[];
  /** Follows the spec source and decides when `controller` drives. */
  start(controller: RolloutController, handlers: SpecHandlers): void;
  health(): StoreHealth;
  /** Stops following the spec source and gives up leadership (another process takes over at once). */
  stop(): Promise<void>;
  /** Releases the registry and the store; after stop() and after the controller closed. */
  close(): Promise<void>;
}
