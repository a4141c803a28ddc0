/**
 * One connection to etcd for everything clustered mode does (store, spec, election, counters,
 * registrations): the etcd3 client configured for bounded failure, the key layout under the prefix,
 * and the mapping of transport failures to StoreUnavailableError.
 *
 * Failure policy, chosen so that an outage is reported quickly and recovery needs nothing:
 * - every unary request carries a gRPC deadline (`timeoutMs`, default 2 s), so a stopped, frozen or
 *   unreachable etcd is a StoreUnavailableError within that bound, never a hang;
 * - no transport-level retries: a write retried after an ambiguous failure could apply twice, and
 *   our callers (controller tick, admin API) retry at their own level with compare-and-swap;
 * - with several endpoints, a per-endpoint circuit breaker skips a failing member for one second so
 *   the next request goes to another; with one endpoint there is nothing to skip to, and a breaker
 *   would only delay recovery;
 * - the etcd3 client drops a connection that failed, so the next request after etcd returns dials
 *   afresh: the same EtcdConnection recovers by itself.
 */
import { circuitBreaker, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, noop } from 'cockatiel';
import { castGrpcError, ClientClosedError, Etcd3, isRecoverableError, type IKeyValue, type IRangeRequest, type IRangeResponse, type ITxnRequest, type ITxnResponse } from 'etcd3';
import { StoreUnavailableError } from './types.js';

export interface EtcdOptions {
  /** Client URLs, `http://host:port` (TLS is not wired yet). */
  endpoints: readonly string[];
  /** Every key lives under it; default `/graylane`. Several clusters of graylane can share one etcd. */
  prefix?: string;
  /** Deadline of one request; default 2000 ms. */
  timeoutMs?: number;
}

export const DEFAULT_PREFIX = '/graylane';
export const DEFAULT_TIMEOUT_MS = 2000;

/**
 * `etcd://host:port[,host:port...][/prefix]` -> endpoints (and the prefix when the URL has a path).
 * This is the form of `graylane serve --store etcd://...`.
 *
 * @example parseEtcdUrl('etcd://10.0.0.1:2379,10.0.0.2:2379') // { endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'] }
 */
export function parseEtcdUrl(url: string): { endpoints: string[]; prefix?: string } {
  const m = /^etcd:\/\/([^/?#]+)(\/[^?#]*)?$/.exec(url.trim());
  if (m === null) throw new Error(`not an etcd URL: ${JSON.stringify(url)} (expected etcd://host:port[,host:port...][/prefix])`);
  const endpoints = m[1]!.split(',').map((hostPort) => {
    const h = hostPort.trim();
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(h)) throw new Error(`bad etcd endpoint ${JSON.stringify(h)} in ${url}: expected host:port`);
    return `http://${h}`;
  });
  const path = m[2]?.replace(/\/+$/, '');
  return path ? { endpoints, prefix: path } : { endpoints };
}

/** A prefix as keys are built from it: leading slash kept, trailing slashes dropped. */
export function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  if (p === '') throw new Error('the etcd prefix must not be empty or "/": graylane keeps its keys apart from others');
  return p;
}

/** Rollout names, keys and ids as one path segment (a `/` in a name cannot reach into another's keys). */
const seg = (s: string): string => encodeURIComponent(s);

/**
 * Where everything lives; docs/cluster.md draws the same table. `P` is the prefix.
 */
export class KeyLayout {
  constructor(readonly prefix: string) {}
  /** `P/spec`: the applied spec, a JSON envelope {sha256, appliedAt, yaml}. */
  get spec(): string {
    return `${this.prefix}/spec`;
  }
  /** `P/rollouts/status/<name>`: one rollout's status; its mod revision is the store revision. */
  status(name: string): string {
    return `${this.statusPrefix}${seg(name)}`;
  }
  get statusPrefix(): string {
    return `${this.prefix}/rollouts/status/`;
  }
  /** `P/rollouts/event-seq`: the last event seq handed out. */
  get eventSeq(): string {
    return `${this.prefix}/rollouts/event-seq`;
  }
  /** `P/rollouts/events/<seq, 16 digits>`: the log of every rollout, in seq order. */
  event(seq: number): string {
    return `${this.eventsPrefix}${padSeq(seq)}`;
  }
  get eventsPrefix(): string {
    return `${this.prefix}/rollouts/events/`;
  }
  /** `P/rollouts/events-by-rollout/<name>/<seq>`: the same events, indexed by rollout. */
  rolloutEvent(name: string, seq: number): string {
    return `${this.rolloutEventsPrefix(name)}${padSeq(seq)}`;
  }
  rolloutEventsPrefix(name: string): string {
    return `${this.prefix}/rollouts/events-by-rollout/${seg(name)}/`;
  }
  /** `P/rollouts/runs/<name>/<run id>`: analysis run history. */
  run(name: string, id: string): string {
    return `${this.runsPrefix(name)}${seg(id)}`;
  }
  runsPrefix(name: string): string {
    return `${this.prefix}/rollouts/runs/${seg(name)}/`;
  }
  /** `P/kv/<key>`: the Store's free keys, as given (they are already paths). */
  kv(key: string): string {
    return `${this.prefix}/kv/${key}`;
  }
  get kvPrefix(): string {
    return `${this.prefix}/kv/`;
  }
  /** `P/election/controller/<lease id, 16 hex>`: controller candidates; the oldest is the leader. */
  candidate(leaseId: string): string {
    return `${this.electionPrefix}${leaseHex(leaseId)}`;
  }
  get electionPrefix(): string {
    return `${this.prefix}/election/controller/`;
  }
  /** `P/counters/<gateway id>`: one gateway's traffic counters, on that gateway's lease. */
  counters(gatewayId: string): string {
    return `${this.countersPrefix}${seg(gatewayId)}`;
  }
  get countersPrefix(): string {
    return `${this.prefix}/counters/`;
  }
  /** `P/instances/<lease id, 16 hex>`: a registered instance, on its own lease. */
  instance(id: string): string {
    return `${this.instancesPrefix}${id}`;
  }
  get instancesPrefix(): string {
    return `${this.prefix}/instances/`;
  }
}

export function padSeq(seq: number): string {
  return String(seq).padStart(16, '0');
}

/** etcd lease ids are int64 (decimal strings on the wire): as 16 hex digits, the form etcdctl prints. */
export function leaseHex(leaseId: string): string {
  return BigInt(leaseId).toString(16).padStart(16, '0');
}

/** The decimal lease id of a 16-hex-digit id; undefined when `hex` is not one. */
export function leaseIdOfHex(hex: string): string | undefined {
  return /^[0-9a-f]{16}$/.test(hex) ? BigInt(`0x${hex}`).toString() : undefined;
}

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = b.subarray(0, i + 1);
      end[i]!++;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** A key-value pair as read from etcd, revisions as numbers. */
export interface EtcdEntry {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  lease: string;
}

export function toEntry(kv: IKeyValue): EtcdEntry {
  return {
    key: kv.key.toString(),
    value: kv.value,
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: kv.lease ?? '0',
  };
}

/**
 * The error as StoreUnavailableError when it is a transport or availability failure (etcd down,
 * deadline passed, leader lost, quota exceeded, client closed); undefined for anything else, which
 * is a bug to surface as it is.
 */
export function asUnavailable(operation: string, error: unknown): StoreUnavailableError | undefined {
  if (error instanceof StoreUnavailableError) return error;
  if (!(error instanceof Error)) return undefined;
  const e = error.constructor === Error ? castGrpcError(error) : error;
  const message = e.message;
  if (
    isRecoverableError(e) ||
    isBrokenCircuitError(e) ||
    e instanceof ClientClosedError ||
    /etcdserver: (request timed out|leader changed|no leader|too many requests|mvcc: database space exceeded)/.test(message)
  ) {
    const reason = isBrokenCircuitError(e) ? 'every endpoint failed just now' : message.replace(/^\w*Error: /, '');
    return new StoreUnavailableError(operation, reason, { cause: error });
  }
  return undefined;
}

/**
 * An etcd client with its prefix, key layout and deadline.
 *
 * @example
 * const etcd = connectEtcd({ ...parseEtcdUrl('etcd://127.0.0.1:2379'), prefix: '/graylane' });
 * const store = new EtcdStore(etcd);
 */
export class EtcdConnection {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly keys: KeyLayout;
  readonly timeoutMs: number;
  readonly endpoints: readonly string[];
  private closed = false;

  constructor(opts: EtcdOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.endpoints = [...opts.endpoints];
    this.prefix = normalizePrefix(opts.prefix ?? DEFAULT_PREFIX);
    this.keys = new KeyLayout(this.prefix);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeoutMs = this.timeoutMs;
    const several = this.endpoints.length > 1;
    this.client = new Etcd3({
      hosts: [...this.endpoints],
      // Streams (watch, lease keepalive) live long: they get deadlines where they are opened.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: {
        global: noop,
        host: () => (several ? circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(1) }) : noop),
      },
      grpcOptions: {
        // Dead peers (a frozen etcd, a silent network) are found by pings on open streams; etcd
        // refuses pings more often than every 5 s.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
      },
    });
  }

  /** A deadline for one request issued now. */
  deadline(ms = this.timeoutMs): { deadline: number } {
    return { deadline: Date.now() + ms };
  }

  /**
   * Runs one etcd request (or a short sequence), turning availability failures into
   * StoreUnavailableError. A backstop timer bounds it even if a deadline were lost on the way.
   */
  async run<T>(operation: string, fn: () => Promise<T>, budgetMs = this.timeoutMs): Promise<T> {
    if (this.closed) throw new StoreUnavailableError(operation, 'the etcd client is closed');
    let timer: NodeJS.Timeout | undefined;
    const backstop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(operation, `no answer within ${budgetMs} ms`)), budgetMs + 1000);
    });
    try {
      return await Promise.race([fn(), backstop]);
    } catch (e) {
      throw asUnavailable(operation, e) ?? e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every key starting with `prefix`, in key order (optionally at a past revision). */
  async list(operation: string, prefix: string, extra: IRangeRequest = {}): Promise<{ entries: EtcdEntry[]; revision: number }> {
    const res = await this.range(operation, { key: Buffer.from(prefix), range_end: prefixEnd(prefix), ...extra });
    return { entries: res.kvs.map(toEntry), revision: Number(res.header.revision) };
  }

  /** One key, or null; with the store revision the answer was read at. */
  async get(operation: string, key: string): Promise<{ entry: EtcdEntry | null; revision: number }> {
    const res = await this.range(operation, { key: Buffer.from(key) });
    const kv = res.kvs[0];
    return { entry: kv ? toEntry(kv) : null, revision: Number(res.header.revision) };
  }

  range(operation: string, req: IRangeRequest): Promise<IRangeResponse> {
    return this.run(operation, () => this.client.kv.range(req, this.deadline()));
  }

  txn(operation: string, req: ITxnRequest): Promise<ITxnResponse> {
    return this.run(operation, () => this.client.kv.txn(req, this.deadline()));
  }

  /** Grants a lease of `ttlSec` seconds; resolves to its id (decimal string). */
  async grantLease(operation: string, ttlSec: number): Promise<string> {
    const res = await this.run(operation, () => this.client.leaseClient.leaseGrant({ TTL: ttlSec }, this.deadline()));
    if (res.error) throw new Error(`etcd refused a lease: ${res.error}`);
    return res.ID;
  }

  /**
   * One keepalive of a lease: resolves to its TTL in seconds after the renewal, 0 when the lease
   * does not exist any more (expired or revoked). Bounded by `timeoutMs` like any request.
   */
  keepAliveOnce(operation: string, leaseId: string, timeoutMs = this.timeoutMs): Promise<number> {
    return this.run(
      operation,
      async () => {
        const stream = await this.client.leaseClient.leaseKeepAlive(this.deadline(timeoutMs));
        try {
          return await new Promise<number>((resolve, reject) => {
            stream.on('data', (res) => resolve(Number(res.TTL)));
            stream.on('error', (e: Error) => reject(castGrpcError(e)));
            stream.on('end', () => reject(new StoreUnavailableError(operation, 'the keepalive stream ended')));
            stream.write({ ID: leaseId });
          });
        } finally {
          // end() first: etcd3 resets every connection of the host when a *writable* stream
          // errors, and cancel() makes the stream error with CANCELLED.
          stream.end();
          stream.cancel();
        }
      },
      timeoutMs,
    );
  }

  /** Revokes a lease (its keys go at once); false when it was already gone. */
  async revokeLease(operation: string, leaseId: string): Promise<boolean> {
    try {
      await this.run(operation, () => this.client.leaseClient.leaseRevoke({ ID: leaseId }, this.deadline()));
      return true;
    } catch (e) {
      if (e instanceof Error && /requested lease not found/.test(e.message)) return false;
      throw e;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the client: open watches end, later calls fail with StoreUnavailableError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

/** Opens a connection (lazily: nothing is dialled before the first request). */
export function connectEtcd(opts: EtcdOptions): EtcdConnection {
  return new EtcdConnection(opts);
}
