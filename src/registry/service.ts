/**
 * The instance registry at run time: the pure {@link InstanceRegistry} plus the clock, the one
 * expiry timer, and the `onChange` callback that makes the gateway recompile its snapshot with the
 * new `Status.registered`. The admin API's instance routes (src/admin/instances.ts) talk to the
 * {@link Instances} interface, which this class implements in memory for one process.
 *
 * Expiry: one timer, set for {@link InstanceRegistry.nextExpiry}. Heartbeats only push expiries
 * later and deregistration only removes, so neither moves the timer: when it fires early it expires
 * nothing and is set again for the new next expiry. Only a registration can bring the next expiry
 * forward, so only it (and the timer itself) reschedules.
 *
 * `onChange` is called synchronously, once per change of the endpoint table (a heartbeat, or a
 * second instance at the same URL, changes nothing), so a registration answered 201 is already in
 * the gateway's snapshot.
 */
import { InstanceRegistry, type Instance, type InstanceInput, type RegistryOptions } from './registry.js';

/** What the admin API needs of a registry; the one-process implementation is {@link LocalInstances}. */
export interface Instances {
  /** Validates and adds; throws RegistryError (HTTP 400) for a bad input. */
  register(input: InstanceInput): Instance | Promise<Instance>;
  /** Renews for the instance's TTL; undefined when unknown or expired. */
  heartbeat(id: string): Instance | undefined | Promise<Instance | undefined>;
  /** Removes; undefined when unknown. */
  deregister(id: string): Instance | undefined | Promise<Instance | undefined>;
  /** Every live instance, in registration order. */
  list(): Instance[] | Promise<Instance[]>;
}

export interface LocalInstancesOptions extends Omit<RegistryOptions, 'services'> {
  /** The spec's service names; see {@link LocalInstances.setServices} for reloads. */
  services: Iterable<string>;
  /** The endpoint table changed: compile a snapshot with {@link LocalInstances.status} and swap it. */
  onChange: () => void;
  /** Epoch ms; default Date.now. */
  now?: () => number;
  /** An `onChange` that threw from the expiry timer (where there is no caller to throw to); default: a process warning. */
  onError?: (err: unknown) => void;
}

/** The registry of one graylane process: registrations live in memory and go with the process. */
export class LocalInstances implements Instances {
  readonly #registry: InstanceRegistry;
  readonly #onChange: () => void;
  readonly #onError: (err: unknown) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires (same clock as #now), when set. */
  #timerAt = Infinity;
  /** `Status.registered` as last announced, serialized: what decides whether anything changed. */
  #announced = '{}';
  #closed = false;

  constructor(opts: LocalInstancesOptions) {
    this.#registry = new InstanceRegistry(opts);
    this.#onChange = opts.onChange;
    this.#onError = opts.onError ?? ((err) => process.emitWarning(err as Error));
    this.#now = opts.now ?? Date.now;
  }

  register(input: InstanceInput): Instance {
    const inst = this.#registry.register(input, this.#now());
    this.#schedule();
    this.#announce();
    return inst;
  }

  heartbeat(id: string): Instance | undefined {
    return this.#registry.heartbeat(id, this.#now());
  }

  deregister(id: string): Instance | undefined {
    const inst = this.#registry.deregister(id);
    if (inst !== undefined) this.#announce();
    return inst;
  }

  list(): Instance[] {
    return this.#registry.list();
  }

  /**
   * The registered endpoints as `Status` wants them: `{ registered }`, or `{}` when there are none
   * (so a process without registrations compiles the same snapshot id as before).
   */
  status(): { registered?: Record<string, Record<string, string[]>> } {
    const registered = this.#registry.toRegistered();
    return Object.keys(registered).length === 0 ? {} : { registered };
  }

  /**
   * The services of a reloaded spec. Does not call `onChange`: the caller is recompiling for the new
   * spec anyway, and reads {@link status} when it does.
   */
  setServices(services: Iterable<string>): void {
    this.#registry.setServices(services);
    this.#announced = JSON.stringify(this.#registry.toRegistered());
  }

  /** Stops the expiry timer; registrations are kept but no longer expire. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Calls onChange when the endpoint table differs from the one last announced. */
  #announce(): void {
    const now = JSON.stringify(this.#registry.toRegistered());
    if (now === this.#announced) return;
    this.#announced = now;
    this.#onChange();
  }

  /** Sets the timer for the next expiry unless it is already set for that time or earlier. */
  #schedule(): void {
    const next = this.#registry.nextExpiry();
    if (this.#closed || next === undefined || next >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = next;
    // +1: a timer may fire up to a millisecond early by the wall clock; firing late is harmless.
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, next - this.#now()) + 1);
    // Registrations never keep a process alive on their own.
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#registry.expire(this.#now());
    this.#schedule();
    try {
      this.#announce();
    } catch (err) {
      this.#onError(err);
    }
  }
}
