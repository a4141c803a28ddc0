/**
 * The HTTP/2 upstream pool of one origin (`h2c://host:port`, HTTP/2 with prior knowledge, or
 * `h2://host:port`, HTTP/2 over TLS by ALPN): a few node:http2 client sessions, each multiplexing
 * up to the upstream's SETTINGS_MAX_CONCURRENT_STREAMS streams.
 *
 * It speaks the same callback dispatch-handler interface as undici's Pool (dispatch(opts, handler)
 * with onConnect/onHeaders/onData/onComplete/onError), so ProxyExchange, retries, passive health and
 * mirroring use it unchanged. Errors are undici's error classes, so classifyUpstreamError and
 * retryKind (./errors.ts) read them as they read HTTP/1.1 failures.
 *
 * Why not undici's own HTTP/2 (allowH2, H2CClient), measured with undici 7.30 on Node 20: a stream
 * paused by backpressure loses the body still buffered when the trailers arrive (9,000 of 10,000
 * bytes lost; it calls onComplete on the 'trailers' event and drops the 'data' listeners), a
 * graceful GOAWAY from the upstream fails the streams it promised to finish (RFC 9113 §6.8), and
 * undici's Pool does not pass `useH2c` on (only the one-connection H2CClient speaks h2c). Here:
 * - the trailers are delivered to onComplete after the last byte of the body ('end', not 'trailers');
 * - onData returning false pauses that stream only (HTTP/2 flow control then stops the upstream);
 * - a GOAWAY drains its session: no new streams go to it, streams up to its last-stream-id finish,
 *   and a stream the upstream refused before processing (above last-stream-id, or REFUSED_STREAM)
 *   is sent again on another session when its body was not read yet (RFC 9113 §8.7: safe to retry);
 * - a session that cannot connect fails its waiting requests with the connect error, and the
 *   origin then waits a backoff (doubling, capped) before the next connect; requests meanwhile fail
 *   at once with that error, which passive health counts and a retry moves to another endpoint;
 * - requests wait in a bounded queue when every session is at its stream limit and no more sessions
 *   may open; beyond it they fail (503-like overload is the upstream's limit, not graylane's);
 * - an idle session is PINGed (RFC 9113 §6.7) every `pingIntervalMs` and closed when the ACK does
 *   not come within `pingTimeoutMs`: a session whose peer vanished without a FIN or RST (a host
 *   gone, a NAT or load balancer that dropped the flow) is found while idle, not by the next
 *   request waiting out its headers timeout on it. The default interval is a third of `idleMs`, so
 *   an idle session gets at most two PINGs before it is closed: gRPC servers count PINGs on a
 *   connection without calls as abuse past two (grpc-go's ping strikes: GOAWAY `too_many_pings`).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { errors, type Dispatcher } from 'undici';
import { CONNECTION_SPECIFIC } from '../http2/index.js';
import { fieldArray } from './headers.js';

export interface H2PoolOptions {
  /** Time to open a session (TCP, TLS and the upstream's first SETTINGS). */
  connectTimeoutMs: number;
  /** Sessions per origin; default 4. One session is the gRPC norm; more spread load past its stream limit. */
  sessions?: number;
  /** Requests that may wait for a stream when every session is full; default 1024. */
  maxQueued?: number;
  /** A session without streams this long is closed; default 60 s. */
  idleMs?: number;
  /** Longest wait between failed connects; default 1 s (it starts at 50 ms and doubles). */
  maxBackoffMs?: number;
  /** An idle session is PINGed this often; default a third of idleMs (20 s for 60 s). 0: never. */
  pingIntervalMs?: number;
  /** A PING not acknowledged within this closes the session; default 10 s. */
  pingTimeoutMs?: number;
}

/** The default wait for a PING's ACK: generous for any live peer, short beside the idle time. */
const PING_TIMEOUT_MS = 10_000;

/** The `h2c://` or `h2://` endpoint schemes, which this pool serves. */
export function isH2Origin(origin: string): boolean {
  return origin.startsWith('h2c://') || origin.startsWith('h2://');
}

/** Until the upstream's SETTINGS say otherwise (RFC 9113 §6.5.2: initially unlimited; 100 is what it SHOULD allow). */
const ASSUMED_MAX_STREAMS = 100;
/** A server may announce 2^32-1; more than this on one session only lengthens head-of-line waits. */
const MAX_STREAMS_PER_SESSION = 1000;

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

class Session {
  /** Streams open or being opened on this session. */
  streams = 0;
  maxStreams = ASSUMED_MAX_STREAMS;
  /** Connected (the upstream's SETTINGS arrived). */
  ready = false;
  /** GOAWAY received or sent: no new streams. */
  draining = false;
  /** Streams above this id were never processed by the upstream (set by GOAWAY). */
  lastStreamId = 2 ** 31;
  idleTimer: NodeJS.Timeout | null = null;
  /** The next idle PING, while the session is idle. */
  pingTimer: NodeJS.Timeout | null = null;
  /** The deadline of the PING awaiting its ACK. */
  pingDeadline: NodeJS.Timeout | null = null;
  constructor(
    readonly h2: ClientHttp2Session,
    readonly socket: Socket,
  ) {}
}

/** One request through the pool: its options, handler, and how far it got. */
class PoolRequest {
  stream: ClientHttp2Stream | null = null;
  session: Session | null = null;
  /** The handler was told the outcome (onComplete or onError): nothing more is said to it. */
  settled = false;
  responded = false;
  paused = false;
  attempts = 0;
  /** The upstream's trailers, flat `[name, value, ...]`, once they arrived. */
  trailers: string[] | null = null;
  timer: NodeJS.Timeout | null = null;
  constructor(
    readonly pool: H2Pool,
    readonly opts: Dispatcher.DispatchOptions,
    readonly handler: Dispatcher.DispatchHandler,
  ) {}

  /** Cancels the request (the client went away): the stream is reset, the handler told. */
  abort = (err?: Error): void => {
    if (this.settled) return;
    this.pool.unqueue(this);
    if (this.stream !== null && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
    this.fail(err ?? new errors.RequestAbortedError());
  };

  /** The upstream's response may resume after onData returned false. */
  resume = (): void => {
    if (this.settled || !this.paused || this.stream === null) return;
    this.paused = false;
    this.arm(this.opts.bodyTimeout);
    this.stream.resume();
  };

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.disarm();
    this.handler.onError?.(err);
  }

  /** An idle timer: until the response head (headersTimeout), then between body chunks (bodyTimeout). */
  arm(ms: number | null | undefined): void {
    this.disarm();
    if (ms === null || ms === undefined || ms <= 0) return;
    this.timer = setTimeout(onRequestTimeout, ms, this);
    this.timer.unref();
  }

  /** Pushes the idle timer back (data arrived); cheaper than a new timer per chunk. */
  refresh(): void {
    this.timer?.refresh();
  }

  disarm(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/**
 * Ends a session and its socket now. session.destroy() alone only half-closes the socket and stops
 * reading it, so a peer that never answers (no SETTINGS) kept the connection open on both sides.
 */
function destroySession(s: Session, err?: Error): void {
  s.h2.destroy(err);
  s.socket.destroy();
}

function clearTimer(t: NodeJS.Timeout | null): null {
  if (t !== null) clearTimeout(t);
  return null;
}

function failLater(r: PoolRequest, err: Error): void {
  r.fail(err);
}

function onRequestTimeout(r: PoolRequest): void {
  r.timer = null;
  if (r.stream === null) r.pool.unqueue(r);
  if (r.stream !== null && !r.stream.closed) r.stream.close(NGHTTP2_CANCEL);
  r.fail(r.responded ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError());
}

/** The pooled HTTP/2 sessions to one origin; see the file comment. */
export class H2Pool {
  readonly #authority: string;
  /** `:scheme` and the `:authority` of a request without Host, made once, not per request. */
  readonly #scheme: 'http' | 'https';
  readonly #hostPort: string;
  readonly #tls: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #opts: Required<H2PoolOptions>;
  readonly #sessions: Session[] = [];
  readonly #queue: PoolRequest[] = [];
  /** Sessions being connected. */
  #connecting = 0;
  #failures = 0;
  #lastError: Error | null = null;
  #retryAt = 0;
  #closed = false;
  #closing: Promise<void> | null = null;
  #onDrained: (() => void) | null = null;

  /** `origin` is `h2c://host:port` or `h2://host:port`. */
  constructor(origin: string, opts: H2PoolOptions) {
    const u = new URL(origin);
    this.#tls = u.protocol === 'h2:';
    // `[::1]` in a URL, `::1` to connect to.
    this.#host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.#port = Number(u.port);
    this.#scheme = this.#tls ? 'https' : 'http';
    this.#hostPort = u.host;
    this.#authority = `${this.#scheme}://${u.host}`;
    this.#opts = {
      connectTimeoutMs: opts.connectTimeoutMs,
      sessions: opts.sessions ?? 4,
      maxQueued: opts.maxQueued ?? 1024,
      idleMs: opts.idleMs ?? 60_000,
      maxBackoffMs: opts.maxBackoffMs ?? 1000,
      pingIntervalMs: opts.pingIntervalMs ?? Math.floor((opts.idleMs ?? 60_000) / 3),
      pingTimeoutMs: opts.pingTimeoutMs ?? PING_TIMEOUT_MS,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sessions open or opening (for tests). */
  get sessionCount(): number {
    return this.#sessions.length;
  }

  /** Sends one request; the outcome reaches `handler`. Returns true (the queue is bounded, not the caller). */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const r = new PoolRequest(this, opts, handler);
    handler.onConnect?.(r.abort);
    if (r.settled) return true;
    if (this.#closed) {
      process.nextTick(failLater, r, new errors.ClientClosedError());
      return true;
    }
    if (opts.upgrade !== null && opts.upgrade !== undefined) {
      // HTTP/1.1's Upgrade (a WebSocket) has no HTTP/2 form here (RFC 8441's extended CONNECT is not spoken).
      process.nextTick(failLater, r, new errors.NotSupportedError(`Upgrade: ${opts.upgrade} to an HTTP/2 endpoint`));
      return true;
    }
    this.#place(r);
    return true;
  }

  /** Sends `r` on a session with a free stream, opens a session, or queues it. */
  #place(r: PoolRequest): void {
    const s = this.#available();
    if (s !== null) return this.#start(s, r);
    if (this.#lastError !== null && performance.now() < this.#retryAt && this.#connecting === 0) {
      // Backing off after failed connects: fail fast with the reason (passive health counts it).
      // Never inside the caller's dispatch(): it may still be setting up (undici is asynchronous too).
      return void process.nextTick(failLater, r, this.#lastError);
    }
    if (this.#queue.length >= this.#opts.maxQueued) {
      const full = Object.assign(new Error(`HTTP/2 upstream ${this.#authority}: ${this.#queue.length} requests already wait for a stream`), { code: 'GRAYLANE_H2_QUEUE_FULL' });
      return void process.nextTick(failLater, r, full);
    }
    this.#queue.push(r);
    r.arm(this.#opts.connectTimeoutMs + (r.opts.headersTimeout ?? 0));
    if (this.#mayConnect()) this.#connect();
  }

  /** No session is being opened and fewer than `sessions` take new streams (draining ones do not count). */
  #mayConnect(): boolean {
    if (this.#connecting > 0 || this.#closed) return false;
    let open = 0;
    for (const s of this.#sessions) if (!s.draining) open++;
    return open < this.#opts.sessions;
  }

  unqueue(r: PoolRequest): void {
    const i = this.#queue.indexOf(r);
    if (i !== -1) this.#queue.splice(i, 1);
  }

  #available(): Session | null {
    for (const s of this.#sessions) {
      if (s.ready && !s.draining && s.streams < s.maxStreams && !s.h2.destroyed) return s;
    }
    return null;
  }

  #connect(): void {
    this.#connecting++;
    // The socket is made here, not by node:http2, so that it can be destroyed: the session's own
    // socket is a proxy that refuses destroy() (see destroySession).
    const socket = this.#tls
      ? tls.connect({ host: this.#host, port: this.#port, ALPNProtocols: ['h2'], ...(net.isIP(this.#host) === 0 ? { servername: this.#host } : {}) })
      : net.connect({ host: this.#host, port: this.#port });
    const h2 = http2.connect(this.#authority, { settings: { enablePush: false }, createConnection: () => socket });
    const s = new Session(h2, socket);
    this.#sessions.push(s);
    // After node:http2's own listener: the socket must outlive its session setup (destroying it
    // first aborts the process in Http2Session::Consume, Node 20).
    if (this.#tls) socket.once('secureConnect', () => this.#checkAlpn(s));
    const timer = setTimeout(() => destroySession(s, new errors.ConnectTimeoutError()), this.#opts.connectTimeoutMs);
    timer.unref();
    h2.once('remoteSettings', () => {
      clearTimeout(timer);
      this.#connecting--;
      s.ready = true;
      this.#failures = 0;
      this.#lastError = null;
      this.#settings(s);
      this.#drainQueue();
    });
    h2.on('remoteSettings', () => this.#settings(s));
    h2.on('goaway', (_code: number, lastStreamId: number) => {
      s.draining = true;
      s.lastStreamId = lastStreamId;
      this.#drainQueue();
    });
    // Errors reach the streams (their 'error' or 'close'); the session's own is handled on 'close'.
    h2.on('error', (err: Error) => {
      if (!s.ready) this.#connectFailed(s, err);
    });
    h2.once('close', () => {
      clearTimeout(timer);
      if (!s.ready) this.#connectFailed(s, new errors.SocketError('HTTP/2 session closed before it was ready'));
      this.#remove(s);
      this.#drainQueue();
    });
  }

  /**
   * HTTP/2 over TLS only when the upstream chose `h2` by ALPN (RFC 9113 §3.2): a TLS server that
   * ignores ALPN (an `https://` endpoint written as `h2://`) fails with that said, rather than
   * with nghttp2's bare "Protocol error" once it answers the preface in HTTP/1.1.
   */
  #checkAlpn(s: Session): void {
    const chosen = (s.socket as tls.TLSSocket).alpnProtocol;
    if (chosen === 'h2') return;
    destroySession(s, new errors.SocketError(`HTTP/2 upstream h2://${this.#hostPort} did not choose h2 by ALPN (it chose ${typeof chosen === 'string' ? chosen : 'none'}): is it an https:// endpoint?`));
  }

  #settings(s: Session): void {
    const max = s.h2.remoteSettings.maxConcurrentStreams;
    s.maxStreams = max === undefined ? ASSUMED_MAX_STREAMS : Math.min(max, MAX_STREAMS_PER_SESSION);
  }

  #connectFailed(s: Session, err: Error): void {
    if (s.ready) return;
    s.ready = true; // once: 'error' and 'close' both come here
    s.draining = true;
    this.#connecting--;
    this.#failures++;
    this.#lastError = err;
    this.#retryAt = performance.now() + Math.min(50 * 2 ** (this.#failures - 1), this.#opts.maxBackoffMs);
    if (this.#connecting > 0 || this.#available() !== null) return;
    // Nothing else can take the waiting requests: they fail with the reason.
    const waiting = this.#queue.splice(0);
    for (const r of waiting) r.fail(err);
  }

  #remove(s: Session): void {
    const i = this.#sessions.indexOf(s);
    if (i !== -1) this.#sessions.splice(i, 1);
    s.idleTimer = clearTimer(s.idleTimer);
    s.pingTimer = clearTimer(s.pingTimer);
    s.pingDeadline = clearTimer(s.pingDeadline);
    if (this.#sessions.length === 0 && this.#onDrained !== null) this.#onDrained();
  }

  /** Moves waiting requests onto free streams; opens a session when they still wait. */
  #drainQueue(): void {
    while (this.#queue.length > 0) {
      const s = this.#available();
      if (s === null) break;
      const r = this.#queue.shift()!;
      this.#start(s, r);
    }
    if (this.#queue.length > 0 && this.#mayConnect()) this.#connect();
  }

  #start(s: Session, r: PoolRequest): void {
    const { opts } = r;
    const body = opts.body as Readable | Buffer | string | null | undefined;
    let stream: ClientHttp2Stream;
    try {
      stream = s.h2.request(requestHeaders(opts, this.#scheme, this.#hostPort), { endStream: body === null || body === undefined });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION' || code === 'ERR_HTTP2_OUT_OF_STREAMS') {
        // The session went away between the check and the call: another one takes the request.
        s.draining = true;
        if (r.attempts++ === 0) return this.#place(r);
        return r.fail(new errors.SocketError((err as Error).message));
      }
      // A header HTTP/2 cannot carry: the request's fault, not the upstream's.
      return r.fail(new errors.InvalidArgumentError((err as Error).message));
    }
    // A session with streams keeps the process alive, as an idle one does not (#idle).
    if (s.streams++ === 0) s.h2.ref();
    s.idleTimer = clearTimer(s.idleTimer);
    // No new PING while streams are open; one awaiting its ACK keeps its deadline.
    s.pingTimer = clearTimer(s.pingTimer);
    r.stream = stream;
    r.session = s;
    r.arm(opts.headersTimeout);
    // Shared listeners that find the request on the stream: no closure per stream.
    (stream as TaggedStream)[REQUEST] = r;
    stream.on('response', onStreamResponse);
    stream.on('data', onStreamData);
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    // 'error' precedes 'close' for a reset; 'close' settles what nothing else did.
    stream.on('error', ignore);
    stream.on('close', onStreamClose);
    if (body !== null && body !== undefined) sendBody(r, stream, body);
  }

  /** The response head of `r` (its stream's 'response'). */
  onResponse(r: PoolRequest, headers: IncomingHttpHeaders): void {
    if (r.settled) return;
    const status = Number(headers[':status']);
    r.responded = true;
    r.arm(r.opts.bodyTimeout);
    let more: boolean | undefined;
    try {
      // Strings where undici hands Buffers: the handler (ProxyExchange, through headers.ts) reads both.
      more = r.handler.onHeaders?.(status, flatFields(headers) as unknown as Buffer[], r.resume, '');
    } catch (err) {
      // The handler refused the head (a field it cannot pass on): as undici does, onError.
      return cancel(r, err as Error);
    }
    if (more === false) pause(r);
  }

  /** `stream`, opened on `s` for `r`, closed. */
  streamClosed(s: Session, r: PoolRequest, stream: ClientHttp2Stream): void {
    s.streams--;
    if (!r.settled) {
      const refused = !r.responded && (stream.rstCode === NGHTTP2_REFUSED_STREAM || (stream.id !== undefined && stream.id > s.lastStreamId));
      const body = r.opts.body as Readable | Buffer | null | undefined;
      const replayable = body === null || body === undefined || Buffer.isBuffer(body) || !(body as Readable).readableDidRead;
      if (refused && replayable && r.attempts++ === 0 && !this.#closed) {
        // Never processed by the upstream (RFC 9113 §8.7): safe to send again, on another session.
        r.stream = null;
        r.session = null;
        this.#place(r);
      } else {
        const why = r.responded ? 'the upstream reset the stream mid-response' : 'the upstream closed the stream before responding';
        r.fail(new errors.SocketError(`HTTP/2 ${why} (code ${stream.rstCode ?? 'none'})`));
      }
    }
    if (s.streams === 0) this.#idle(s);
    this.#drainQueue();
  }

  /** A session without streams: closed when draining or after the idle time. */
  #idle(s: Session): void {
    s.h2.unref();
    if (s.draining || this.#closed) {
      if (!s.h2.closed) s.h2.close();
      return;
    }
    if (s.idleTimer !== null) return;
    s.idleTimer = setTimeout(() => {
      s.idleTimer = null;
      if (s.streams === 0) {
        s.draining = true;
        s.h2.close();
      }
    }, this.#opts.idleMs);
    s.idleTimer.unref();
    this.#schedulePing(s);
  }

  /** The next idle PING of `s`, unless one is scheduled or awaits its ACK. */
  #schedulePing(s: Session): void {
    const interval = this.#opts.pingIntervalMs;
    if (interval <= 0 || s.pingTimer !== null || s.pingDeadline !== null) return;
    s.pingTimer = setTimeout(() => this.#ping(s), interval);
    s.pingTimer.unref();
  }

  /** PINGs an idle session; no ACK within pingTimeoutMs ends it (and any stream opened since). */
  #ping(s: Session): void {
    s.pingTimer = null;
    if (s.streams > 0 || s.draining || s.h2.destroyed) return;
    const timeoutMs = this.#opts.pingTimeoutMs;
    const sent = s.h2.ping((err) => {
      if (err !== null) return; // the session ended first
      s.pingDeadline = clearTimer(s.pingDeadline);
      if (s.streams === 0 && !s.draining) this.#schedulePing(s);
    });
    if (!sent) return;
    s.pingDeadline = setTimeout(() => {
      s.pingDeadline = null;
      s.draining = true;
      destroySession(s, new errors.SocketError(`HTTP/2 upstream ${this.#authority} did not acknowledge a PING within ${timeoutMs} ms`));
    }, timeoutMs);
    s.pingDeadline.unref();
  }

  /** Waits for in-flight and queued requests, then closes every session. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    this.#closing = new Promise<void>((resolve) => {
      if (this.#sessions.length === 0) return resolve();
      this.#onDrained = resolve;
      for (const s of this.#sessions) {
        s.draining = true;
        // close(): no new streams, the session ends when its open streams have.
        if (!s.h2.closed) s.h2.close();
      }
    });
    // Queued requests would wait forever for a stream on a closing session.
    for (const r of this.#queue.splice(0)) r.fail(new errors.ClientClosedError());
    return this.#closing;
  }

  /** Ends every session now, failing what is in flight. */
  async destroy(): Promise<void> {
    this.#closed = true;
    for (const r of this.#queue.splice(0)) r.fail(new errors.ClientDestroyedError());
    const closing = this.#sessions.map((s) => new Promise<void>((resolve) => (s.h2.destroyed ? resolve() : s.h2.once('close', () => resolve()))));
    for (const s of [...this.#sessions]) destroySession(s);
    await Promise.all(closing);
  }
}

/** The request a stream carries, on the stream itself: how the shared listeners below find it. */
const REQUEST = Symbol('graylane.h2pool.request');
type TaggedStream = ClientHttp2Stream & { [REQUEST]: PoolRequest };

function ignore(): void {}

function onStreamResponse(this: TaggedStream, headers: IncomingHttpHeaders): void {
  const r = this[REQUEST];
  r.pool.onResponse(r, headers);
}

function onStreamTrailers(this: TaggedStream, trailers: IncomingHttpHeaders): void {
  this[REQUEST].trailers = flatFields(trailers);
}

/** The last byte of the response: the handler gets the trailers after the whole body. */
function onStreamEnd(this: TaggedStream): void {
  const r = this[REQUEST];
  if (r.settled || !r.responded) return;
  r.settled = true;
  r.disarm();
  r.handler.onComplete?.((r.trailers ?? []) as unknown as string[]);
}

function onStreamClose(this: TaggedStream): void {
  const r = this[REQUEST];
  // r.session is this stream's: a request moves to another session only from here (a refused stream).
  r.pool.streamClosed(r.session!, r, this);
}

function onStreamData(this: TaggedStream, chunk: Buffer): void {
  const r = this[REQUEST];
  if (r.settled) return;
  r.refresh();
  let more: boolean | undefined;
  try {
    more = r.handler.onData?.(chunk);
  } catch (err) {
    return cancel(r, err as Error);
  }
  if (more === false) pause(r);
}

/** Resets the stream and tells the handler why. */
function cancel(r: PoolRequest, err: Error): void {
  if (r.stream !== null && !r.stream.closed) r.stream.close(NGHTTP2_CANCEL);
  r.fail(err);
}

/** The handler cannot take more: the stream stops reading (its flow-control window closes upstream). */
function pause(r: PoolRequest): void {
  r.paused = true;
  // A paused stream is waiting for the client, not for the upstream: the client's own idle timer runs.
  r.disarm();
  r.stream?.pause();
}

/** Streams the request body to the upstream, with backpressure; a body that fails resets the stream. */
function sendBody(r: PoolRequest, stream: ClientHttp2Stream, body: Readable | Buffer | string): void {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    stream.end(body);
    return;
  }
  body.on('error', (err) => {
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    r.fail(err);
  });
  body.pipe(stream);
}

/**
 * The HTTP/2 request headers of a dispatch (Node sends the pseudo-header fields first, RFC 9113
 * §8.3): `:authority` from the client's Host (as HTTP/1.1 upstreams get it; without one,
 * `fallbackAuthority`, the endpoint's host:port), connection-specific fields dropped, and
 * `te: trailers` for gRPC, whose servers require it (gRPC over HTTP/2 protocol, "Requests").
 */
export function requestHeaders(opts: Dispatcher.DispatchOptions, scheme: 'http' | 'https', fallbackAuthority: string): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = Object.create(null);
  // Rendered for an HTTP/1.1 endpoint and moved here by a retry (a version may have both kinds).
  const lines = (opts as { fieldLines?: string | null }).fieldLines;
  const fields = (typeof lines === 'string' ? fieldArray(lines, opts.headers as string[] | null | undefined) : (opts.headers ?? [])) as string[];
  let authority: string | undefined;
  let grpc = false;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toLowerCase();
    const value = fields[i + 1]!;
    if (name === 'host') authority ??= value;
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 58 /* : */) continue;
    if (name === 'content-type' && value.startsWith('application/grpc')) grpc = true;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev as string, value];
  }
  out[':method'] = opts.method;
  out[':path'] = opts.path;
  out[':scheme'] = scheme;
  out[':authority'] = authority ?? fallbackAuthority;
  if (grpc) out.te = 'trailers';
  return out;
}

/**
 * Node's header object as the flat `[name, value, ...]` list undici hands its handlers, pseudo-headers
 * left out. Strings, not undici's Buffers: Node decoded them already, and ProxyExchange (headers.ts,
 * trailerFields) reads either, so no Buffer is made per field.
 */
function flatFields(headers: IncomingHttpHeaders): string[] {
  const flat: string[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else flat.push(name, String(value));
  }
  return flat;
}
