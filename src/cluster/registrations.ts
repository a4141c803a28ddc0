/**
 * Instance registrations in clustered mode: each registration is a key on its own etcd lease, so an
 * instance that stops heartbeating disappears from every gateway when its lease runs out, with no
 * gateway having to notice anything. (Single-process mode keeps them in memory: src/registry.)
 *
 * - `P/instances/<id>` holds `{service, version, url, ttlMs, registeredAt}`; the id is the lease id
 *   in 16 hex digits, so a heartbeat that reaches any gateway renews the right lease.
 * - Heartbeat = one lease keepalive; deregister = revoke the lease (the key goes at once).
 * - Every gateway watches the prefix and turns it into `Status.registered` (toRegistered).
 *
 * Validation is the caller's, with the same rules as InstanceRegistry.register (service known,
 * version a lane name, URL normalized): this module stores what it is given.
 */
import { leaseHex, leaseIdOfHex, type EtcdConnection } from '../store/etcd-connection.js';
import { watchKeys, type KeyWatch } from '../store/etcd-watch.js';

export interface RegistrationInput {
  service: string;
  version: string;
  /** Normalized absolute URL (as InstanceRegistry normalizes it). */
  url: string;
  /** Time to live without a heartbeat; rounded up to whole seconds (etcd leases count seconds). */
  ttlMs: number;
}

export interface Registration {
  /** 16 hex digits: the lease id. */
  id: string;
  service: string;
  version: string;
  url: string;
  /** The TTL as granted (whole seconds). */
  ttlMs: number;
  registeredAt: number;
}

/**
 * Stores a registration on a new lease. Throws StoreUnavailableError (nothing left behind: the
 * lease is revoked if the key could not be written).
 */
export async function registerInstance(conn: EtcdConnection, input: RegistrationInput, now = Date.now()): Promise<Registration> {
  const ttlSec = Math.max(1, Math.ceil(input.ttlMs / 1000));
  const leaseId = await conn.grantLease(`register an instance of ${input.service}/${input.version}`, ttlSec);
  const reg: Registration = { id: leaseHex(leaseId), service: input.service, version: input.version, url: input.url, ttlMs: ttlSec * 1000, registeredAt: now };
  const value = JSON.stringify({ service: reg.service, version: reg.version, url: reg.url, ttlMs: reg.ttlMs, registeredAt: reg.registeredAt });
  try {
    await conn.txn(`register an instance of ${input.service}/${input.version}`, {
      success: [{ request_put: { key: Buffer.from(conn.keys.instance(reg.id)), value: Buffer.from(value), lease: leaseId } }],
    });
  } catch (e) {
    await conn.revokeLease('undo a failed registration', leaseId).catch(() => undefined);
    throw e;
  }
  return reg;
}

/** Renews a registration for its TTL; false when it is unknown (expired, deregistered, or not an id). */
export async function heartbeatInstance(conn: EtcdConnection, id: string): Promise<boolean> {
  const leaseId = leaseIdOfHex(id);
  if (leaseId === undefined) return false;
  return (await conn.keepAliveOnce(`heartbeat of instance ${id}`, leaseId)) > 0;
}

/** Removes a registration now; false when it was unknown. */
export async function deregisterInstance(conn: EtcdConnection, id: string): Promise<boolean> {
  const leaseId = leaseIdOfHex(id);
  if (leaseId === undefined) return false;
  return conn.revokeLease(`deregister instance ${id}`, leaseId);
}

/** Every current registration, by id. */
export async function listInstances(conn: EtcdConnection): Promise<Registration[]> {
  const prefix = conn.keys.instancesPrefix;
  const { entries } = await conn.list('list instances', prefix);
  return entries.flatMap((e) => decode(e.key.slice(prefix.length), e.value) ?? []);
}

/**
 * `Status.registered` (service -> version -> URLs) of these registrations, as
 * InstanceRegistry.toRegistered builds it: URLs deduplicated and sorted, services sorted, and only
 * `services` when given (the spec's services).
 */
export function toRegistered(instances: Iterable<Registration>, services?: ReadonlySet<string>): Record<string, Record<string, string[]>> {
  const sets = new Map<string, Map<string, Set<string>>>();
  for (const r of instances) {
    if (services && !services.has(r.service)) continue;
    let versions = sets.get(r.service);
    if (versions === undefined) sets.set(r.service, (versions = new Map()));
    let urls = versions.get(r.version);
    if (urls === undefined) versions.set(r.version, (urls = new Set()));
    urls.add(r.url);
  }
  const out: Record<string, Record<string, string[]>> = {};
  for (const service of [...sets.keys()].sort()) {
    const o: Record<string, string[]> = {};
    const versions = sets.get(service)!;
    for (const version of [...versions.keys()].sort()) o[version] = [...versions.get(version)!].sort();
    out[service] = o;
  }
  return out;
}

export interface InstancesWatchOptions {
  /** etcd reachable or not. While it is not, the last view stays (instances do not vanish for that). */
  onConnection?: (connected: boolean, error?: Error) => void;
}

/**
 * Watches every registration; calls `onChange` with the full set after each change (and once with
 * the initial set). Build Status.registered with toRegistered(instances, specServices).
 *
 * @example
 * const w = watchInstances(etcd, (instances) => recompile({ registered: toRegistered(instances, services) }));
 */
export function watchInstances(conn: EtcdConnection, onChange: (instances: Registration[]) => void, opts: InstancesWatchOptions = {}): KeyWatch {
  const prefix = conn.keys.instancesPrefix;
  const table = new Map<string, Registration>();
  const emit = (): void => onChange([...table.values()].sort((a, b) => (a.id < b.id ? -1 : 1)));
  return watchKeys(conn, prefix, {
    onReset: (entries) => {
      table.clear();
      for (const e of entries) {
        const r = decode(e.key.slice(prefix.length), e.value);
        if (r) table.set(r.id, r);
      }
      emit();
    },
    onChanges: (changes) => {
      for (const c of changes) {
        const id = c.entry.key.slice(prefix.length);
        if (c.type === 'delete') table.delete(id);
        else {
          const r = decode(id, c.entry.value);
          if (r) table.set(id, r);
        }
      }
      emit();
    },
    ...(opts.onConnection ? { onConnection: opts.onConnection } : {}),
  });
}

function decode(id: string, value: Buffer): Registration | undefined {
  try {
    const v = JSON.parse(value.toString()) as Omit<Registration, 'id'>;
    if (typeof v.service !== 'string' || typeof v.version !== 'string' || typeof v.url !== 'string') return undefined;
    return { id, service: v.service, version: v.version, url: v.url, ttlMs: Number(v.ttlMs), registeredAt: Number(v.registeredAt) };
  } catch {
    return undefined; // not ours
  }
}
