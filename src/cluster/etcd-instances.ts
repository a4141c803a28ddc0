/**
 * The instance registry of clustered mode, behind the same {@link Instances} interface the admin API
 * uses in one process: registrations are etcd keys on leases (registrations.ts), so a heartbeat or a
 * deregistration may reach any gateway, and an instance that stops heartbeating disappears from
 * every gateway when its lease runs out.
 *
 * Validation is the one-process registry's (`validateInstance`): the same 400s with the same codes.
 * The endpoint table comes from the watch of `P/instances/`; a registration this gateway answered
 * is added to it at once, so the 201 means "routed here from the next request" as in one process
 * (the other gateways see it when the watch delivers it, within milliseconds).
 */
import { validateInstance, type Instance, type InstanceInput, type Instances } from '../registry/index.js';
import type { EtcdConnection } from '../store/etcd-connection.js';
import type { KeyWatch } from '../store/etcd-watch.js';
import { deregisterInstance, heartbeatInstance, listInstances, registerInstance, toRegistered, watchInstances, type Registration } from './registrations.js';

export interface EtcdInstancesOptions {
  /** The spec's service names (setServices() after a reload). */
  services: Iterable<string>;
  /** The endpoint table changed: recompile with status(). */
  onChange: () => void;
  /** etcd reachable or not, from the watch. */
  onConnection?: (connected: boolean, error?: Error) => void;
  now?: () => number;
}

export class EtcdInstances implements Instances {
  readonly #conn: EtcdConnection;
  readonly #onChange: () => void;
  readonly #now: () => number;
  readonly #watch: KeyWatch;
  #services: Set<string>;
  #table = new Map<string, Registration>();
  #announced = '{}';

  constructor(conn: EtcdConnection, opts: EtcdInstancesOptions) {
    this.#conn = conn;
    this.#onChange = opts.onChange;
    this.#now = opts.now ?? Date.now;
    this.#services = new Set(opts.services);
    this.#watch = watchInstances(
      conn,
      (list) => {
        this.#table = new Map(list.map((r) => [r.id, r]));
        this.#announce();
      },
      opts.onConnection ? { onConnection: opts.onConnection } : {},
    );
  }

  /** Resolves once the registrations in etcd have been read (or the watch gave up for now). */
  ready(): Promise<void> {
    return this.#watch.ready();
  }

  async register(input: InstanceInput): Promise<Instance> {
    const v = validateInstance(input, this.#services);
    const reg = await registerInstance(this.#conn, v, this.#now());
    this.#table.set(reg.id, reg);
    this.#announce();
    return this.#view(reg);
  }

  async heartbeat(id: string): Promise<Instance | undefined> {
    if (!(await heartbeatInstance(this.#conn, id))) return undefined;
    const reg = await this.#find(id);
    return reg === undefined ? undefined : this.#view(reg);
  }

  async deregister(id: string): Promise<Instance | undefined> {
    const reg = await this.#find(id);
    if (reg === undefined || !(await deregisterInstance(this.#conn, id))) return undefined;
    this.#table.delete(id);
    this.#announce();
    return this.#view(reg);
  }

  /** From the watched table, else from etcd (registered through another gateway a moment ago). */
  async #find(id: string): Promise<Registration | undefined> {
    return this.#table.get(id) ?? (await listInstances(this.#conn)).find((r) => r.id === id);
  }

  list(): Instance[] {
    return [...this.#table.values()].sort((a, b) => a.registeredAt - b.registeredAt).map((r) => this.#view(r));
  }

  /** `Status.registered`, or `{}` when there is nothing registered (as LocalInstances). */
  status(): { registered?: Record<string, Record<string, string[]>> } {
    const registered = toRegistered(this.#table.values(), this.#services);
    return Object.keys(registered).length === 0 ? {} : { registered };
  }

  /** A reloaded spec's services; the caller recompiles, so no onChange. */
  setServices(services: Iterable<string>): void {
    this.#services = new Set(services);
    this.#announced = JSON.stringify(this.status());
  }

  close(): Promise<void> {
    return this.#watch.close();
  }

  #announce(): void {
    const now = JSON.stringify(this.status());
    if (now === this.#announced) return;
    this.#announced = now;
    this.#onChange();
  }

  /**
   * As the API shows it. etcd does not say when a lease was last renewed without asking it, so
   * `expiresAt` is the latest it can be: now + TTL.
   */
  #view(r: Registration): Instance {
    return { id: r.id, service: r.service, version: r.version, url: r.url, ttlMs: r.ttlMs, registeredAt: r.registeredAt, expiresAt: this.#now() + r.ttlMs };
  }
}
