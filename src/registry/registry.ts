/**
 * The instance registry: endpoints that announced themselves through the admin API (POST
 * /api/v1/instances) and stay while they heartbeat within their TTL. Pure: the caller passes the
 * time in and owns the one timer (see {@link InstanceRegistry.nextExpiry}), so tests drive expiry
 * with a fake clock. Its output, {@link InstanceRegistry.toRegistered}, is `Status.registered`,
 * which compile() merges with the spec's static endpoints.
 *
 * expire() and nextExpiry() scan the table: it holds instances in the hundreds, and they run once
 * per timer, not per request.
 */
import { randomUUID } from 'node:crypto';
import { isLaneName } from '../spec/names.js';
import { GraylaneError } from '../errors.js';

/** What an instance sends to register. */
export interface InstanceInput {
  service: string;
  /** The version (and lane) it serves. */
  version: string;
  /** Absolute http(s) URL the gateway sends requests to. */
  url: string;
  /** Requested TTL; default {@link RegistryOptions.defaultTtlMs}. */
  ttlMs?: number;
}

/** A registered instance. */
export interface Instance {
  readonly id: string;
  readonly service: string;
  readonly version: string;
  /** Normalized: origin plus path without trailing slash, no query or fragment. */
  readonly url: string;
  readonly ttlMs: number;
  readonly registeredAt: number;
  /** Gone when the clock reaches this without a heartbeat. */
  readonly expiresAt: number;
}

export type RegistryErrorCode = 'bad_request' | 'unknown_service' | 'bad_address' | 'bad_version' | 'bad_ttl';

/** A registration the registry refuses. Every code answers HTTP 400. */
export class RegistryError extends GraylaneError {
  readonly status = 400;

  /**
   * @param code stable code for API clients
   * @param field the input field at fault
   */
  constructor(
    readonly code: RegistryErrorCode,
    readonly field: keyof InstanceInput | 'body',
    message: string,
  ) {
    super(message);
  }
}

export interface RegistryOptions {
  /** Names of the services instances may register for (the spec's services). */
  services: Iterable<string>;
  /** TTL when the instance asks for none; default 30 s. */
  defaultTtlMs?: number;
  /** Smallest TTL accepted; default 1 s. */
  minTtlMs?: number;
  /** Largest TTL accepted; default 10 min. */
  maxTtlMs?: number;
  /** Instance id source; default crypto.randomUUID. */
  newId?: () => string;
}

/**
 * The instance table. Methods take `now` (ms, any monotonic or wall clock, used consistently). The
 * caller runs expire(now) when nextExpiry() comes and recompiles when anything was removed.
 */
export class InstanceRegistry {
  private readonly instances = new Map<string, Instance>();
  private services: ReadonlySet<string>;
  private readonly defaultTtlMs: number;
  private readonly minTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly newId: () => string;

  constructor(opts: RegistryOptions) {
    this.services = new Set(opts.services);
    this.minTtlMs = opts.minTtlMs ?? 1_000;
    this.maxTtlMs = opts.maxTtlMs ?? 600_000;
    this.defaultTtlMs = Math.min(this.maxTtlMs, Math.max(this.minTtlMs, opts.defaultTtlMs ?? 30_000));
    this.newId = opts.newId ?? randomUUID;
  }

  /**
   * Replaces the known services (after a spec reload). Instances of a service that is gone stay
   * until they expire or deregister, but are left out of {@link toRegistered}; they come back if the
   * service does.
   */
  setServices(services: Iterable<string>): void {
    this.services = new Set(services);
  }

  /** Validates and adds an instance. Throws {@link RegistryError} for a bad input. */
  register(input: InstanceInput, now: number): Instance {
    const { service, version, url, ttlMs } = validate(input, this.services, this.minTtlMs, this.maxTtlMs);
    const ttl = ttlMs ?? this.defaultTtlMs;
    const inst: Instance = Object.freeze({
      id: this.newId(),
      service,
      version,
      url,
      ttlMs: ttl,
      registeredAt: now,
      expiresAt: now + ttl,
    });
    this.instances.set(inst.id, inst);
    return inst;
  }

  /** Extends an instance's life by its TTL; undefined when it is unknown (expired or never there). */
  heartbeat(id: string, now: number): Instance | undefined {
    const inst = this.instances.get(id);
    if (inst === undefined) return undefined;
    // Past its expiry it is gone all the same; expire() removes it, so that the caller learns of it.
    if (inst.expiresAt <= now) return undefined;
    const renewed: Instance = Object.freeze({ ...inst, expiresAt: now + inst.ttlMs });
    this.instances.set(id, renewed);
    return renewed;
  }

  /** Removes an instance; returns it, or undefined when it was unknown. */
  deregister(id: string): Instance | undefined {
    const inst = this.instances.get(id);
    if (inst !== undefined) this.instances.delete(id);
    return inst;
  }

  /** Removes every instance whose TTL has run out by `now`; returns those removed. */
  expire(now: number): Instance[] {
    const gone: Instance[] = [];
    for (const inst of this.instances.values()) {
      if (inst.expiresAt <= now) gone.push(inst);
    }
    for (const inst of gone) this.instances.delete(inst.id);
    return gone;
  }

  /** When the next instance expires (ms, same clock as `now`); undefined when the table is empty. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const inst of this.instances.values()) {
      if (next === undefined || inst.expiresAt < next) next = inst.expiresAt;
    }
    return next;
  }

  get(id: string): Instance | undefined {
    return this.instances.get(id);
  }

  /** Every instance, in registration order. */
  list(): Instance[] {
    return [...this.instances.values()];
  }

  get size(): number {
    return this.instances.size;
  }

  /**
   * `Status.registered`: service -> version -> endpoint URLs, for known services only. URLs are
   * deduplicated (an instance that restarted before its old registration expired is one endpoint)
   * and sorted, so the same table always gives the same status (and snapshot id).
   */
  toRegistered(): Record<string, Record<string, string[]>> {
    const sets = new Map<string, Map<string, Set<string>>>();
    for (const inst of this.instances.values()) {
      if (!this.services.has(inst.service)) continue;
      let versions = sets.get(inst.service);
      if (versions === undefined) sets.set(inst.service, (versions = new Map()));
      let urls = versions.get(inst.version);
      if (urls === undefined) versions.set(inst.version, (urls = new Set()));
      urls.add(inst.url);
    }
    const out: Record<string, Record<string, string[]>> = {};
    for (const service of [...sets.keys()].sort()) {
      const versions = sets.get(service)!;
      const o: Record<string, string[]> = {};
      for (const version of [...versions.keys()].sort()) o[version] = [...versions.get(version)!].sort();
      out[service] = o;
    }
    return out;
  }
}

/**
 * A registration checked and normalized as {@link InstanceRegistry.register} does it, with the TTL
 * defaulted: for registries kept elsewhere (etcd). Throws RegistryError at the first fault.
 */
export function validateInstance(
  input: unknown,
  services: ReadonlySet<string>,
  opts: { defaultTtlMs?: number; minTtlMs?: number; maxTtlMs?: number } = {},
): { service: string; version: string; url: string; ttlMs: number } {
  const min = opts.minTtlMs ?? 1_000;
  const max = opts.maxTtlMs ?? 600_000;
  const v = validate(input, services, min, max);
  return { ...v, ttlMs: v.ttlMs ?? Math.min(max, Math.max(min, opts.defaultTtlMs ?? 30_000)) };
}

/** The input checked and normalized; throws RegistryError at the first fault. */
function validate(
  input: unknown,
  services: ReadonlySet<string>,
  minTtlMs: number,
  maxTtlMs: number,
): { service: string; version: string; url: string; ttlMs: number | undefined } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new RegistryError('bad_request', 'body', 'expected an object {service, version, url, ttlMs?}');
  }
  const { service, version, url, ttlMs } = input as Record<string, unknown>;
  if (typeof service !== 'string' || service === '') {
    throw new RegistryError('bad_request', 'service', 'service must be a non-empty string');
  }
  if (!services.has(service)) {
    throw new RegistryError('unknown_service', 'service', `unknown service ${JSON.stringify(service)}`);
  }
  if (typeof version !== 'string' || !isLaneName(version)) {
    throw new RegistryError(
      'bad_version',
      'version',
      `version must be a lane name (a letter or digit, then up to 62 letters, digits, '.', '_' or '-'), got ${JSON.stringify(version)}`,
    );
  }
  if (typeof url !== 'string') throw new RegistryError('bad_address', 'url', 'url must be a string');
  const normalized = normalizeUrl(url);
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < minTtlMs || ttlMs > maxTtlMs)) {
    throw new RegistryError('bad_ttl', 'ttlMs', `ttlMs must be an integer from ${minTtlMs} to ${maxTtlMs}, got ${JSON.stringify(ttlMs)}`);
  }
  return { service, version, url: normalized, ttlMs: ttlMs as number | undefined };
}

/**
 * An absolute http(s), h2c or h2 URL with a host, no credentials, query or fragment, as `origin + path` with
 * the path's trailing slashes removed (the form compile() keys endpoints by).
 */
function normalizeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RegistryError('bad_address', 'url', `url must be an absolute http(s) URL, got ${JSON.stringify(url)}`);
  }
  const h2 = u.protocol === 'h2c:' || u.protocol === 'h2:';
  if (u.protocol !== 'http:' && u.protocol !== 'https:' && !h2) {
    throw new RegistryError('bad_address', 'url', `url must be http, https, h2c or h2, got ${JSON.stringify(u.protocol.slice(0, -1))}`);
  }
  if (h2 && u.port === '') throw new RegistryError('bad_address', 'url', `an ${u.protocol}// url needs a port`);
  if (u.hostname === '') throw new RegistryError('bad_address', 'url', 'url has no host');
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') {
    // A listen address, not a destination: the instance sent what it bound to, not where it is.
    throw new RegistryError('bad_address', 'url', `url host ${u.hostname} is not an address others can reach`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new RegistryError('bad_address', 'url', 'url must not carry credentials');
  }
  if (u.search !== '' || u.hash !== '') {
    throw new RegistryError('bad_address', 'url', 'url must not have a query or fragment');
  }
  const path = u.pathname.replace(/\/+$/, '');
  // URL.origin is "null" for h2c: and h2:, which the URL standard does not know.
  return (h2 ? `${u.protocol}//${u.host}` : u.origin) + path;
}
