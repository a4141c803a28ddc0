/**
 * One keep-alive pool per upstream origin, owned by the gateway rather than by a snapshot, so that
 * connections survive config reloads. Origins that leave the config are closed gracefully
 * (in-flight requests finish) after a grace period, in case the next reload brings them back.
 *
 * The one place pools are made, by the endpoint's scheme: h2c:// and h2:// get an HTTP/2 pool
 * (./h2-pool.ts); http:// and https:// one of two HTTP/1.1 pools. All speak the same dispatch
 * interface (undici's callback handlers: onConnect, onHeaders, onData, onComplete, onError,
 * onUpgrade), so the exchange, retries and mirroring run over any of them:
 * - `graylane`: src/http1's UpstreamPool on node:net (node:tls for https://), with the engine's
 *   strict response parser;
 * - `undici`: undici's Pool.
 * The engine is `PoolSetOptions.engine`, else the GRAYLANE_UPSTREAM_POOL environment variable
 * (`graylane` or `undici`), else graylane's: it served 1.25x to 1.55x the requests per proxy
 * CPU-second of undici's Pool behind the same gateway (docs/benchmarks.md). undici stays as the
 * fallback an operator can choose without a rebuild.
 */
import { Dispatcher, Pool } from 'undici';
import { UpstreamPool, UpstreamSweep, type UpstreamHandler, type UpstreamRequest } from '../http1/index.js';
import { H2Pool, isH2Origin } from './h2-pool.js';
import type { Endpoint } from '../routing/types.js';

/** Which HTTP/1.1 client carries upstream requests. */
export type UpstreamEngine = 'graylane' | 'undici';

/** The engine GRAYLANE_UPSTREAM_POOL names, graylane's by default; anything else is an error at start. */
export function upstreamEngineFromEnv(value = process.env.GRAYLANE_UPSTREAM_POOL): UpstreamEngine {
  if (value === undefined || value === '' || value === 'graylane') return 'graylane';
  if (value === 'undici') return 'undici';
  throw new Error(`GRAYLANE_UPSTREAM_POOL must be graylane or undici, not ${JSON.stringify(value)}`);
}

export interface PoolSetOptions {
  /** Connect timeout of new pools (spec.timeouts.connectMs). */
  connectTimeoutMs: number;
  /** Connections per origin; default 64 (as nginx `keepalive 64`). */
  connections?: number;
  /** How long an origin no longer in the config keeps its pool; default 30 s. */
  graceMs?: number;
  /** Idle keep-alive time of upstream connections (capped by the upstream's Keep-Alive hint); default 60 s. */
  keepAliveMs?: number;
  /** The HTTP/1.1 client; default upstreamEngineFromEnv(). */
  engine?: UpstreamEngine;
}

/** The keep-alive connection pools of the gateway, by origin (`http://host:port`). */
export class PoolSet {
  readonly #pools = new Map<string, Dispatcher>();
  readonly #retiring = new Map<string, NodeJS.Timeout>();
  readonly #connections: number;
  readonly #graceMs: number;
  readonly #keepAliveMs: number;
  readonly engine: UpstreamEngine;
  /** The deadlines of every graylane pool's connections: one timer. */
  readonly #sweep = new UpstreamSweep();
  #connectTimeoutMs: number;
  #closed = false;

  constructor(opts: PoolSetOptions) {
    this.#connectTimeoutMs = opts.connectTimeoutMs;
    this.#connections = opts.connections ?? 64;
    this.#graceMs = opts.graceMs ?? 30_000;
    this.#keepAliveMs = opts.keepAliveMs ?? 60_000;
    this.engine = opts.engine ?? upstreamEngineFromEnv();
  }

  /** The pool of `origin`, created on first use. */
  get(origin: string): Dispatcher {
    const pool = this.#pools.get(origin);
    return pool !== undefined ? pool : this.#create(origin);
  }

  #create(origin: string): Dispatcher {
    if (this.#closed) throw new Error('pool set is closed');
    if (isH2Origin(origin)) {
      // h2c:// and h2:// endpoints: HTTP/2 sessions behind the dispatch interface of Pool (./h2-pool.ts).
      const h2 = new H2Pool(origin, { connectTimeoutMs: this.#connectTimeoutMs, idleMs: this.#keepAliveMs }) as unknown as Dispatcher;
      this.#pools.set(origin, h2);
      return h2;
    }
    const pool =
      this.engine === 'graylane'
        ? new Http1Pool(
            new UpstreamPool(origin, {
              connections: this.#connections,
              connectTimeoutMs: this.#connectTimeoutMs,
              keepAliveMs: this.#keepAliveMs,
              sweep: this.#sweep,
            }),
          )
        : new Pool(origin, {
            connections: this.#connections,
            pipelining: 1,
            keepAliveTimeout: this.#keepAliveMs,
            keepAliveMaxTimeout: this.#keepAliveMs,
            connect: { timeout: this.#connectTimeoutMs },
          });
    this.#pools.set(origin, pool);
    return pool;
  }

  /**
   * The pool of `endpoint` takes field lines rendered by the gateway (UpstreamRequest.fieldLines):
   * graylane's HTTP/1.1 pool. undici's and the HTTP/2 pool take the `[name, value, ...]` array.
   */
  takesFieldLines(endpoint: Endpoint): boolean {
    return this.engine === 'graylane' && !endpoint.http2;
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
    this.#sweep.stop();
  }
}

/**
 * src/http1's UpstreamPool as an undici Dispatcher: the gateway calls dispatch() directly, and the
 * Dispatcher base class adds undici's request()/stream() on top of it (tests, tools).
 */
class Http1Pool extends Dispatcher {
  constructor(readonly pool: UpstreamPool) {
    super();
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // The exchange passes flat header arrays, bytes or a Readable, and undici's callback handlers.
    return this.pool.dispatch(opts as UpstreamRequest, handler as UpstreamHandler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = this.pool.close();
    if (callback === undefined) return done;
    void done.then(callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const done = this.pool.destroy();
    const callback = typeof a === 'function' ? a : b;
    if (callback === undefined) return done;
    void done.then(callback);
  }
}
