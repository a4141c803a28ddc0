/**
 * The response to one HTTP/2 stream, written the way the gateway's exchange writes a response
 * (the ClientResponse interface of src/gateway/proxy.ts, which this class satisfies structurally,
 * as src/http1's ResponseWriter does).
 *
 * - Framing is HTTP/2's: no Content-Length is needed (DATA frames and END_STREAM delimit the
 *   body); a known length is still announced, as the upstream did.
 * - Connection-specific fields are never sent (RFC 9113 §8.2.2): Connection and what it lists (the
 *   exchange's header rewrite has dropped those), Keep-Alive, Proxy-Connection, Transfer-Encoding,
 *   Upgrade, TE, HTTP2-Settings; Node would refuse the whole response otherwise.
 * - The head is held until the first body bytes or the end, so a response without a body leaves
 *   as one HEADERS frame with END_STREAM: a gRPC trailers-only response stays one. Trailers after
 *   a head without a body still leave as their own HEADERS frame.
 * - A body whose first chunk is all of it (the upstream's Content-Length, the common small
 *   response) is held with the head until end(): head and body then leave with the body's last
 *   DATA frame carrying END_STREAM, without waiting for trailers. Nothing more can arrive (the
 *   upstream clients refuse a body longer than its Content-Length), so holding it delays nothing
 *   but the upstream's own end.
 * - Trailers: any other response with a body is sent with `waitForTrailers`, and end(trailers)
 *   sends them as the stream's last HEADERS frame (none: Node ends the stream with an empty DATA
 *   frame).
 * - Backpressure: write() returns false once the stream's buffer is full, which happens when the
 *   client's flow-control window is spent; 'drain' resumes the producer (the upstream).
 * - No closure per stream: the stream's listeners are shared functions that find their response
 *   on the stream (RESPONSE).
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { encodeGrpcMessage } from './grpc.js';
import type { Http2Request } from './request.js';

/** Told when the client leaves before the response is complete (the exchange aborts upstream). */
export interface StreamOwner {
  clientClosed(): void;
}

/** Told of a stream's end and of its idle timer (src/http2/server-session.ts: the session's counters). */
export interface StreamWatcher {
  streamClosed(res: Http2Response): void;
  streamIdle(res: Http2Response): void;
}

/** The response of a stream, on the stream itself: how the shared listeners below find it. */
const RESPONSE = Symbol('graylane.http2.response');
type TaggedStream = ServerHttp2Stream & { [RESPONSE]: Http2Response };

function onStreamClose(this: TaggedStream): void {
  const res = this[RESPONSE];
  res.watcher.streamClosed(res);
}

function onStreamTimeout(this: TaggedStream): void {
  const res = this[RESPONSE];
  res.watcher.streamIdle(res);
}

function onWantTrailers(this: TaggedStream): void {
  // An empty trailer list: Node ends the stream with an empty DATA frame instead.
  if (!this.destroyed) this.sendTrailers(this[RESPONSE].trailers ?? {});
}

/**
 * Fields HTTP/2 forbids (RFC 9113 §8.2.2), and `host` (a response has none; a request says it as
 * `:authority`); `te` is only allowed as `trailers` in a request. Lower-case: names are compared
 * after lower-casing. The upstream side (src/gateway/h2-pool.ts requestHeaders) drops them too.
 */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
  'host',
]);

/**
 * Fields Node refuses to send twice (its kSingleValueHeaders): an HTTP/1.1 upstream may repeat
 * one, which HTTP/1.1 passes on; here the first is kept, as a receiving Node or browser would.
 */
const SINGLE_VALUE: ReadonlySet<string> = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

/** The HTTP/2 header object of flat `[name, value, ...]` fields, without what HTTP/2 forbids. */
export function http2Fields(into: OutgoingHttpHeaders, fields: readonly string[]): OutgoingHttpHeaders {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 58 /* : */) continue;
    const value = fields[i + 1]!;
    const existing = into[name];
    if (existing === undefined) into[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else if (!SINGLE_VALUE.has(name)) into[name] = [existing as string, value];
  }
  return into;
}

export class Http2Response {
  /** Who produces this response; told if the client leaves first. */
  owner: StreamOwner | null = null;
  headSent = false;
  finished = false;
  /** The gateway reset the stream (not the client: no rapid-reset count). */
  resetByUs = false;
  /** The trailers end() was given, as HTTP/2 fields; null when none. */
  trailers: OutgoingHttpHeaders | null = null;
  /** When the stream opened (performance.now()): the session's rapid-reset count reads it. */
  readonly opened = performance.now();
  readonly #stream: ServerHttp2Stream;
  /** A HEAD request: the response never has a body. */
  readonly #headRequest: boolean;
  /** The head, held until the first body bytes or the end; null once handed to the stream. */
  #head: OutgoingHttpHeaders | null = null;
  #bodyless = false;
  /** The body's length as the upstream announced it, -1 when unknown. */
  #length = -1;
  /** The whole body, held with the head until end() (see the module comment); null otherwise. */
  #held: Buffer | null = null;
  #idleArmed = false;

  constructor(
    stream: ServerHttp2Stream,
    /** The request this answers. */
    readonly req: Http2Request,
    /** The request is a gRPC call: the gateway's own errors are answered as gRPC statuses (sendError). */
    readonly grpc: boolean,
    /** Told when the stream closes and when its idle timer fires. */
    readonly watcher: StreamWatcher,
  ) {
    this.#stream = stream;
    this.#headRequest = req.method === 'HEAD';
    (stream as TaggedStream)[RESPONSE] = this;
    stream.on('close', onStreamClose);
  }

  /** The client reset the stream or the connection is gone: nothing written reaches it. */
  get gone(): boolean {
    return this.#stream.destroyed;
  }

  /** The stream's RST_STREAM code once closed (NO_ERROR for a clean end). */
  get rstCode(): number | undefined {
    return this.#stream.rstCode;
  }

  /**
   * The response head. `fields` are `[name, value, ...]`; `length` the body's byte count or -1.
   * `close` and `reason` are HTTP/1.1's (a connection closes by GOAWAY here; HTTP/2 has no reason phrase).
   */
  writeHead(status: number, fields: readonly string[], length: number, _close?: boolean, _reason?: string): void {
    if (this.headSent) throw new Error('response head already written');
    this.headSent = true;
    this.#bodyless = this.#headRequest || status === 204 || status === 304;
    const head = http2Fields({ [constants.HTTP2_HEADER_STATUS]: status }, fields);
    if (length >= 0 && status !== 204) head['content-length'] = length;
    this.#head = head;
    this.#length = length;
  }

  /**
   * Body bytes; false when the stream's buffer is full (the client's window is spent): wait for
   * onDrain. `transient`: the chunk is valid only during the call, so it is copied (it is kept).
   */
  write(chunk: Buffer, transient = false): boolean {
    if (this.#bodyless || chunk.length === 0) return true;
    if (this.#head !== null) {
      if (this.#held === null && chunk.length === this.#length) {
        this.#held = transient ? Buffer.from(chunk) : chunk;
        return true;
      }
      // More than the announced length (never, from our upstream clients): send what was held, in order.
      this.#respond(false);
    }
    return this.#stream.write(transient ? Buffer.from(chunk) : chunk);
  }

  onDrain(fn: () => void): void {
    this.#stream.once('drain', fn);
  }

  /** Ends the response, with the upstream's trailers (`[name, value, ...]`) when it sent any. */
  end(trailers?: readonly string[] | null): void {
    if (this.finished) return;
    this.finished = true;
    const stream = this.#stream;
    if (stream.destroyed) return;
    if (trailers !== undefined && trailers !== null && trailers.length > 0 && !this.#bodyless) {
      this.trailers = http2Fields({}, trailers);
    }
    if (this.#head !== null) {
      const held = this.#held;
      if (held !== null) {
        // The whole body was held: head, body and END_STREAM together, trailers after it if any.
        this.#held = null;
        this.#respond(false, this.trailers !== null);
        stream.end(held);
        return;
      }
      // No body was written. Without trailers: one HEADERS frame with END_STREAM (an upstream's
      // gRPC trailers-only response arrives as a head alone and stays one). With trailers: the
      // head, then the trailers as their own HEADERS frame, as the upstream sent them; folding
      // them into the head would hand the client's gRPC library the trailing metadata as initial
      // metadata and the initial metadata as trailing (gRPC PROTOCOL-HTTP2: Trailers-Only is the
      // server's choice, not a proxy's).
      this.#respond(this.trailers === null);
      if (this.trailers === null) return;
    }
    stream.end();
  }

  /**
   * The response cannot be completed (the upstream failed mid-body). A gRPC call is ended with
   * UNAVAILABLE in its trailers, so the client sees a gRPC error; anything else gets RST_STREAM
   * INTERNAL_ERROR, the stream's equivalent of HTTP/1.1's cut connection (a truncated message,
   * never a wrong one).
   */
  destroy(): void {
    if (this.grpc && !this.finished && !this.#bodyless && !this.#stream.destroyed) {
      return this.end(['grpc-status', '14', 'grpc-message', encodeGrpcMessage('the upstream failed during the response')]);
    }
    this.reset(constants.NGHTTP2_INTERNAL_ERROR);
  }

  /** Resets the stream (RST_STREAM with `code`); an exchange still running is told when it closes. */
  reset(code: number): void {
    this.resetByUs = true;
    if (!this.#stream.destroyed) this.#stream.close(code);
  }

  /** The client must not stall longer than `ms` (a stalled upload, a window never reopened). */
  armIdle(ms: number): void {
    if (!this.#idleArmed) {
      this.#idleArmed = true;
      this.#stream.on('timeout', onStreamTimeout);
    }
    this.#stream.setTimeout(ms);
  }

  /**
   * Hands the head to the stream. `endStream`: no body follows. `trailers`: a body follows and
   * then trailers (default: a body follows and its end is not known yet, so wait for trailers).
   */
  #respond(endStream: boolean, trailers = true): void {
    const head = this.#head!;
    this.#head = null;
    const stream = this.#stream;
    if (endStream || this.#bodyless) {
      stream.respond(head, { endStream: true });
      return;
    }
    if (!trailers) {
      stream.respond(head);
      return;
    }
    const held = this.#held;
    stream.respond(head, { waitForTrailers: true });
    // `on`, not `once`: Node asks once per stream, and once() would wrap the listener per stream.
    stream.on('wantTrailers', onWantTrailers);
    if (held !== null) {
      this.#held = null;
      stream.write(held);
    }
  }
}
