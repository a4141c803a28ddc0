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
 * - Trailers: a response with a body is sent with `waitForTrailers`, and end(trailers) sends them
 *   as the stream's last HEADERS frame (none: Node ends the stream with an empty DATA frame).
 * - Backpressure: write() returns false once the stream's buffer is full, which happens when the
 *   client's flow-control window is spent; 'drain' resumes the producer (the upstream).
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { encodeGrpcMessage } from './grpc.js';

/** Told when the client leaves before the response is complete (the exchange aborts upstream). */
export interface StreamOwner {
  clientClosed(): void;
}

/**
 * Fields HTTP/2 forbids in a response, and `host` (meaningless there); `te` is only allowed as
 * `trailers` in a request. Lower-case: names are compared after lower-casing.
 */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
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
  readonly #stream: ServerHttp2Stream;
  /** A HEAD request: the response never has a body. */
  readonly #headRequest: boolean;
  /** The head, held until the first body bytes or the end; null once handed to the stream. */
  #head: OutgoingHttpHeaders | null = null;
  #bodyless = false;
  #trailers: OutgoingHttpHeaders | null = null;

  constructor(
    stream: ServerHttp2Stream,
    headRequest: boolean,
    /** The request is a gRPC call: the gateway's own errors are answered as gRPC statuses (sendError). */
    readonly grpc: boolean,
  ) {
    this.#stream = stream;
    this.#headRequest = headRequest;
  }

  /** The client reset the stream or the connection is gone: nothing written reaches it. */
  get gone(): boolean {
    return this.#stream.destroyed;
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
  }

  /** Body bytes; false when the stream's buffer is full (the client's window is spent): wait for onDrain. */
  write(chunk: Buffer): boolean {
    if (this.#bodyless || chunk.length === 0) return true;
    if (this.#head !== null) this.#respond(false);
    return this.#stream.write(chunk);
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
      this.#trailers = http2Fields({}, trailers);
    }
    if (this.#head !== null) {
      // No body was written. Without trailers: one HEADERS frame with END_STREAM (an upstream's
      // gRPC trailers-only response arrives as a head alone and stays one). With trailers: the
      // head, then the trailers as their own HEADERS frame, as the upstream sent them; folding
      // them into the head would hand the client's gRPC library the trailing metadata as initial
      // metadata and the initial metadata as trailing (gRPC PROTOCOL-HTTP2: Trailers-Only is the
      // server's choice, not a proxy's).
      this.#respond(this.#trailers === null);
      if (this.#trailers === null) return;
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
    this.#stream.setTimeout(ms);
  }

  #respond(endStream: boolean): void {
    const head = this.#head!;
    this.#head = null;
    const stream = this.#stream;
    if (endStream || this.#bodyless) {
      stream.respond(head, { endStream: true });
      return;
    }
    stream.respond(head, { waitForTrailers: true });
    stream.once('wantTrailers', () => {
      // An empty trailer list: Node ends the stream with an empty DATA frame instead.
      if (!stream.destroyed) stream.sendTrailers(this.#trailers ?? {});
    });
  }
}
