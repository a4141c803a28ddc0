/**
 * graylane's keep-alive connection pool to one upstream origin (`http://host:port` or
 * `https://host:port`), on node:net / node:tls and client-connection.ts.
 *
 * - Idle connections are reused last-in first-out: the most recently used one is the least likely
 *   to have been closed by the upstream's idle timeout, and the ones at the bottom expire.
 * - At most `connections` connections (connecting, busy or idle); past that, requests wait in a
 *   FIFO queue of at most `maxQueue`, and a request over it fails at once (UND_ERR_POOL_QUEUE_FULL).
 * - A connection idles for `keepAliveMs`, or less when the upstream's Keep-Alive hint says so.
 * - A failed connect fails the requests queued behind it when no other connection is open (they
 *   would meet the same refusal), as undici's client does.
 * - The idle-close race on a connection idle X ms closes the idle connections idle X ms or more:
 *   the upstream's idle timeout has most likely closed them too (raced()).
 * - No retry of its own: the exchange retries, as the service's `retry` allows.
 *
 * It speaks undici's dispatch interface (`dispatch(opts, handler)` with onConnect, onHeaders,
 * onData, onComplete, onError, onUpgrade), so src/gateway's exchange, retries and mirror work the
 * same over it or over an undici Pool (src/gateway/pools.ts chooses).
 */
import {
  Http1ClientConnection,
  upstreamError,
  UpstreamCall,
  UpstreamSweep,
  type CallOwner,
  type ClientLimits,
  type ConnectionOwner,
  type UpstreamEndpoint,
  type UpstreamHandler,
  type UpstreamRequest,
} from './client-connection.js';

export interface UpstreamPoolOptions {
  /** Connections at most (connecting, busy and idle). */
  connections: number;
  connectTimeoutMs: number;
  keepAliveMs: number;
  /** Requests waiting for a connection at most; default 8192. */
  maxQueue?: number;
  /** Largest response head; default 16 KiB (undici's and Node's default). */
  maxHeaderBytes?: number;
  /** Most fields in a response head; default 512. */
  maxHeaders?: number;
  /** The deadline sweep, shared by the pools of a gateway; default one of its own. */
  sweep?: UpstreamSweep;
}

export class UpstreamPool implements ConnectionOwner, CallOwner {
  readonly endpoint: UpstreamEndpoint;
  readonly sweep: UpstreamSweep;
  readonly #limits: ClientLimits;
  readonly #max: number;
  readonly #maxQueue: number;
  /** Idle connections, the most recently used last. */
  readonly #idle: Http1ClientConnection[] = [];
  readonly #queue: UpstreamCall[] = [];
  readonly #all = new Set<Http1ClientConnection>();
  #closing = false;
  #destroyed = false;
  #onClosed: (() => void) | null = null;

  constructor(
    readonly origin: string,
    opts: UpstreamPoolOptions,
  ) {
    this.endpoint = endpointOf(origin);
    this.sweep = opts.sweep ?? new UpstreamSweep();
    this.#max = Math.max(1, opts.connections);
    this.#maxQueue = opts.maxQueue ?? 8192;
    this.#limits = {
      connectTimeoutMs: opts.connectTimeoutMs,
      keepAliveMs: opts.keepAliveMs,
      maxHeaderBytes: opts.maxHeaderBytes ?? 16 * 1024,
      maxHeaders: opts.maxHeaders ?? 512,
    };
  }

  /** Connections open (connecting, busy or idle). */
  get connections(): number {
    return this.#all.size;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Sends `request`; its outcome reaches `handler`. False when the pool refused it (closed, queue full: onError was called). */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): boolean {
    if (this.#closing) {
      handler.onError?.(upstreamError('the connection pool is closed', this.#destroyed ? 'UND_ERR_DESTROYED' : 'UND_ERR_CLOSED'));
      return false;
    }
    const call = new UpstreamCall(this, request, handler);
    handler.onConnect?.(call.abort);
    if (call.ended) return true;
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.send(call);
    } else if (this.#all.size < this.#max) {
      this.#open(call);
    } else if (this.#queue.length >= this.#maxQueue) {
      call.ended = true;
      handler.onError?.(upstreamError(`more than ${this.#maxQueue} requests wait for a connection to ${this.origin}`, 'UND_ERR_POOL_QUEUE_FULL'));
      return false;
    } else {
      this.#queue.push(call);
    }
    return true;
  }

  #open(call: UpstreamCall): void {
    this.#all.add(new Http1ClientConnection(this, this.endpoint, this.#limits, call));
  }

  abort(call: UpstreamCall, err: Error): void {
    if (call.ended) return;
    if (call.conn !== null) return call.conn.abort(call, err);
    const i = this.#queue.indexOf(call);
    if (i !== -1) this.#queue.splice(i, 1);
    call.ended = true;
    call.handler.onError?.(err);
  }

  released(conn: Http1ClientConnection, keepFor: number): void {
    const next = keepFor > 0 ? this.#queue.shift() : undefined;
    if (next !== undefined) return conn.send(next);
    if (keepFor <= 0 || this.#closing) return conn.close();
    conn.idle(keepFor);
    this.#idle.push(conn);
  }

  closed(conn: Http1ClientConnection, connectError: Error | null): void {
    if (!this.#all.delete(conn)) return;
    const i = this.#idle.lastIndexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    const queue = this.#queue;
    if (connectError !== null && this.#all.size === 0) {
      // The origin refused us: the requests queued behind would meet the same answer.
      for (const call of queue.splice(0)) {
        call.ended = true;
        call.handler.onError?.(connectError);
      }
    }
    // A connection freed: the longest waiting request gets a new one.
    if (queue.length > 0 && this.#all.size < this.#max) this.#open(queue.shift()!);
    this.#checkClosed();
  }

  /**
   * The upstream closed a connection that had idled `idleMs` just as it was reused: the others
   * idle at least as long are likely closed too (their FIN may be on its way), so they are closed
   * now rather than handed to the retry that is about to come.
   */
  raced(idleMs: number): void {
    const now = Date.now();
    const idle = this.#idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      if (now - idle[i]!.idleSince >= idleMs) idle[i]!.close();
    }
  }

  /** Stops taking requests; queued and in-flight ones finish, then the connections close. */
  close(): Promise<void> {
    this.#closing = true;
    for (const conn of this.#idle.splice(0)) conn.close();
    return new Promise((resolve) => {
      const prev = this.#onClosed;
      this.#onClosed = () => {
        prev?.();
        resolve();
      };
      this.#checkClosed();
    });
  }

  /** Ends every request (queued and in flight: onError, UND_ERR_DESTROYED) and closes every connection. */
  destroy(): Promise<void> {
    this.#closing = true;
    this.#destroyed = true;
    const err = upstreamError('the connection pool was destroyed', 'UND_ERR_DESTROYED');
    for (const call of this.#queue.splice(0)) {
      call.ended = true;
      call.handler.onError?.(err);
    }
    for (const conn of [...this.#all]) conn.close(err);
    return this.close();
  }

  #checkClosed(): void {
    if (!this.#closing || this.#all.size > 0 || this.#queue.length > 0) return;
    const done = this.#onClosed;
    this.#onClosed = null;
    done?.();
  }
}

/** Where an origin's connections go. Throws for anything but an http: or https: origin. */
export function endpointOf(origin: string): UpstreamEndpoint {
  const u = new URL(origin);
  const tls = u.protocol === 'https:';
  if (!tls && u.protocol !== 'http:') throw new Error(`not an HTTP/1.1 origin: ${origin}`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return {
    tls,
    host,
    port: u.port === '' ? (tls ? 443 : 80) : Number(u.port),
    hostHeader: u.host,
    servername: tls && !isIp ? host : undefined,
  };
}
