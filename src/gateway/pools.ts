/**
 * One undici keep-alive Pool per upstream origin, owned by the gateway rather than by a snapshot,
 * so that connections survive config reloads. Origins that leave the config are closed gracefully
 * (in-flight requests finish) after a grace period, in case the next reload brings them back.
 */
import { Pool } from 'undici';
import { H2Pool, isH2Origin } from './h2-pool.js';

export interface PoolSetOptions {
  /** Connect timeout of new pools (spec.timeouts.connectMs). */
  connectTimeoutMs: number;
  /** Connections per origin; default 64 (as nginx `keepalive 64`). */
  connections?: number;
  /** How long an origin no longer in the config keeps its pool; default 30 s. */
  graceMs?: number;
  /** Idle keep-alive time of upstream connections (capped by the upstream's Keep-Alive hint); default 60 s. */
  keepAliveMs?: number;
}

/** The keep-alive connection pools of the gateway, by origin (`http://host:port`). */
export class PoolSet {
  readonly #pools = new Map<string, Pool>();
  readonly #retiring = new Map<string, NodeJS.Timeout>();
  readonly #connections: number;
  readonly #graceMs: number;
  readonly #keepAliveMs: number;
  #connectTimeoutMs: number;
  #closed = false;

  constructor(opts: PoolSetOptions) {
    this.#connectTimeoutMs = opts.connectTimeoutMs;
    this.#connections = opts.connections ?? 64;
    this.#graceMs = opts.graceMs ?? 30_000;
    this.#keepAliveMs = opts.keepAliveMs ?? 60_000;
  }

  /** The pool of `origin`, created on first use. */
  get(origin: string): Pool {
    const pool = this.#pools.get(origin);
    return pool !== undefined ? pool : this.#create(origin);
  }

  #create(origin: string): Pool {
    if (this.#closed) throw new Error('pool set is closed');
    if (isH2Origin(origin)) {
      // h2c:// and h2:// endpoints: HTTP/2 sessions behind the dispatch interface of Pool (./h2-pool.ts).
      const h2 = new H2Pool(origin, { connectTimeoutMs: this.#connectTimeoutMs, idleMs: this.#keepAliveMs }) as unknown as Pool;
      this.#pools.set(origin, h2);
      return h2;
    }
    const pool = new Pool(origin, {
      connections: this.#connections,
      pipelining: 1,
      keepAliveTimeout: this.#keepAliveMs,
      keepAliveMaxTimeout: this.#keepAliveMs,
      connect: { timeout: this.#connectTimeoutMs },
    });
    this.#pools.set(origin, pool);
    return pool;
  }

  /** Origins with an open pool (for tests and metrics). */
  origins(): string[] {
    return [...this.#pools.keys()];
  }

  /**
   * Apply the origins of a new snapshot: pools of origins not in it are closed after the grace
   * period unless a later snapshot brings them back. A changed connect timeout retires every pool
   * (the timeout is fixed per pool), which costs new connections once.
   */
  retain(origins: ReadonlySet<string>, connectTimeoutMs: number): void {
    if (connectTimeoutMs !== this.#connectTimeoutMs) {
      this.#connectTimeoutMs = connectTimeoutMs;
      for (const [origin, pool] of this.#pools) {
        this.#pools.delete(origin);
        void pool.close().catch(() => {});
      }
    }
    for (const origin of this.#pools.keys()) {
      if (origins.has(origin) || this.#retiring.has(origin)) continue;
      const timer = setTimeout(() => this.#retire(origin), this.#graceMs);
      timer.unref();
      this.#retiring.set(origin, timer);
    }
    for (const origin of origins) {
      const timer = this.#retiring.get(origin);
      if (timer !== undefined) {
        clearTimeout(timer);
        this.#retiring.delete(origin);
      }
    }
  }

  #retire(origin: string): void {
    this.#retiring.delete(origin);
    const pool = this.#pools.get(origin);
    if (pool === undefined) return;
    this.#pools.delete(origin);
    // close() lets queued and in-flight requests finish, then ends the connections.
    void pool.close().catch(() => {});
  }

  /** Close every pool: in-flight requests finish first unless `force`, which aborts them. */
  async close(force = false): Promise<void> {
    this.#closed = true;
    for (const timer of this.#retiring.values()) clearTimeout(timer);
    this.#retiring.clear();
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => (force ? p.destroy() : p.close()).catch(() => {})));
  }
}
