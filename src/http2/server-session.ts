/**
 * graylane's HTTP/2 server side: one node:http2 server session per connection, each stream handed
 * to the handler as an Http2Request and its Http2Response.
 *
 * Sessions are made with `http2.performServerHandshake(socket)` on a socket the gateway's own
 * listener accepted (clear-text with prior knowledge, or TLS after ALPN chose `h2`), so one
 * listener and one drain serve both protocols and no Http2Server listens anywhere. (An
 * `http2.createServer()` fed by `server.emit('connection', socket)` builds the same session; it
 * only adds a server object and its listeners per connection.)
 *
 * Hostile input is bounded here (docs/reliability.md):
 * - header lists: `limits.maxHeaderBytes` (+ HPACK's 32 bytes per field, RFC 9113 §6.5.2) is
 *   SETTINGS_MAX_HEADER_LIST_SIZE, and more fields than `limits.maxHeaders` allows (+ the pseudo
 *   ones) are refused by Node with RST_STREAM ENHANCE_YOUR_CALM before any routing;
 * - concurrency: `limits.maxConcurrentStreams` is SETTINGS_MAX_CONCURRENT_STREAMS; streams past it
 *   are refused (REFUSED_STREAM) and a client that keeps opening them loses the session
 *   (Node's maxSessionRejectedStreams);
 * - rapid reset (CVE-2023-44487): streams the client resets within a second of opening them,
 *   before their response ended, are counted per session; past half of the streams (judged once
 *   PREMATURE_RESET_STREAMS streams have closed, or at half that many resets before), the session
 *   is ended with GOAWAY ENHANCE_YOUR_CALM, as Envoy does;
 * - CONTINUATION, SETTINGS and PING floods, invalid frames: nghttp2 (in Node) bounds them and
 *   ends the session (at most 8 CONTINUATION frames per header block; 1000 queued ACKs; Node's
 *   maxSessionInvalidFrames);
 * - a connection that never sends its preface gets `limits.headersTimeoutMs`, an idle session (no
 *   stream open) the keep-alive timeout, then GOAWAY.
 */
import http2, { constants, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { needsHttp2 as isGrpcCall } from '../routing/index.js';
import { Http2Request } from './request.js';
import { Http2Response, type StreamWatcher } from './response.js';

export interface Http2Limits {
  /** Largest header list, as HTTP/1.1's head size. */
  maxHeaderBytes: number;
  /** Most regular header fields in one request. */
  maxHeaders: number;
  /** Streams open at once per connection. */
  maxConcurrentStreams: number;
  /** Time a new connection gets to send its preface and SETTINGS. */
  headersTimeoutMs: number;
}

export interface Http2Handler {
  /** A request. Its headers are read during this call; the body through `req.body()`. */
  onStream(req: Http2Request, res: Http2Response): void;
  /** The idle timer a response armed (Http2Response.armIdle) fired; the handler decides. */
  onTimeout(req: Http2Request, res: Http2Response): void;
}

/**
 * Rapid reset: the session ends once the client has reset prematurely half of its streams, judged
 * over at least this many closed streams (Envoy's `premature_reset_total_stream_count`).
 */
export const PREMATURE_RESET_STREAMS = 500;
/** A reset this soon after the stream opened, before its response ended, counts as premature. */
export const PREMATURE_RESET_MS = 1000;
/** Fields beyond limits.maxHeaders Node's own count allows: the pseudo-header fields (at most 5). */
const PSEUDO_FIELDS = 5;
/** HPACK's per-field overhead in the header list size (RFC 9113 §6.5.2). */
const FIELD_OVERHEAD = 32;

/** The sessions of one gateway (every listener that speaks HTTP/2). */
export class Http2Sessions {
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #limits: () => Readonly<Http2Limits>;
  readonly #keepAliveMs: number;
  #closing = false;

  constructor(limits: () => Readonly<Http2Limits>, keepAliveMs: number) {
    this.#limits = limits;
    this.#keepAliveMs = keepAliveMs;
  }

  /** Open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Serves HTTP/2 on a connected socket (the client's preface is the first thing read from it);
   * `handler` is the listener's.
   */
  serve(socket: Socket, handler: Http2Handler): void {
    if (this.#closing) return void socket.destroy();
    const limits = this.#limits();
    const session = http2.performServerHandshake(socket, {
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderBytes + FIELD_OVERHEAD * limits.maxHeaders,
        enablePush: false,
        enableConnectProtocol: false,
      },
      maxHeaderListPairs: limits.maxHeaders + PSEUDO_FIELDS,
      // Responses carry the upstream's Date; Node's would be a second one.
      sendDate: false,
    } as http2.ServerOptions);
    this.#sessions.add(session);
    new SessionState(session, socket, handler, limits.headersTimeoutMs, this.#keepAliveMs, () => this.#sessions.delete(session));
  }

  /** Drain: GOAWAY to every session; streams in flight complete, then each session closes. */
  closeAll(): void {
    this.#closing = true;
    for (const session of this.#sessions) session.close();
  }

  /** The drain deadline: every session is cut. */
  destroyAll(): void {
    for (const session of [...this.#sessions]) session.destroy();
  }
}

function ignore(): void {}

/** One session's listeners and counters. */
class SessionState implements StreamWatcher {
  /** Streams open now. */
  #open = 0;
  /** Streams closed, and those the client reset prematurely (rapid reset). */
  #closed = 0;
  #premature = 0;
  #prefaceTimer: NodeJS.Timeout | null;
  readonly #remoteAddress: string | undefined;
  readonly #encrypted: boolean;

  constructor(
    readonly session: ServerHttp2Session,
    socket: Socket,
    readonly handler: Http2Handler,
    prefaceMs: number,
    keepAliveMs: number,
    onClose: () => void,
  ) {
    this.#remoteAddress = socket.remoteAddress;
    this.#encrypted = (socket as { encrypted?: boolean }).encrypted === true;
    session.on('error', ignore);
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => this.#onStream(stream, headers, flags));
    // A client that never says SETTINGS holds a socket: it gets the head timeout (slowloris).
    this.#prefaceTimer = setTimeout(() => session.destroy(), prefaceMs);
    this.#prefaceTimer.unref();
    session.once('remoteSettings', () => this.#clearPreface());
    session.setTimeout(keepAliveMs, () => {
      if (this.#open === 0) session.close();
    });
    session.once('close', () => {
      this.#clearPreface();
      onClose();
    });
  }

  #clearPreface(): void {
    if (this.#prefaceTimer !== null) clearTimeout(this.#prefaceTimer);
    this.#prefaceTimer = null;
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    stream.on('error', ignore);
    // Reset in the same read as its HEADERS (a rapid-reset burst): nothing to serve.
    if (stream.destroyed || stream.closed) return this.#count(true);
    this.#open++;
    const req = new Http2Request(stream, headers, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0, this.#remoteAddress, this.#encrypted);
    const res = new Http2Response(stream, req, isGrpcCall(req.headers['content-type']), this);
    this.handler.onStream(req, res);
  }

  /** StreamWatcher: a stream of this session closed. */
  streamClosed(res: Http2Response): void {
    this.#open--;
    const ended = res.finished;
    if (!ended || res.resetByUs) res.owner?.clientClosed();
    this.#count(!ended && !res.resetByUs && res.rstCode !== constants.NGHTTP2_NO_ERROR && performance.now() - res.opened < PREMATURE_RESET_MS);
  }

  /** StreamWatcher: the idle timer a response armed fired. */
  streamIdle(res: Http2Response): void {
    this.handler.onTimeout(res.req, res);
  }

  /** A stream closed; `premature`: reset by the client early. Ends the session on a rapid reset. */
  #count(premature: boolean): void {
    this.#closed++;
    if (!premature) return;
    this.#premature++;
    const twice = this.#premature * 2;
    if (this.#closed < PREMATURE_RESET_STREAMS ? twice < PREMATURE_RESET_STREAMS : twice < this.#closed) return;
    // (destroy(undefined, code) would send NO_ERROR: an undefined error takes its default, 0.)
    if (!this.session.destroyed) this.session.destroy(new Error('rapid reset: the client reset most of its streams'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}
