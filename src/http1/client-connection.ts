/**
 * One keep-alive connection of graylane's HTTP/1.1 client: writes a request to an upstream and
 * reads its response, one exchange at a time (no pipelining, as undici's `pipelining: 1`).
 *
 * The request: its head (and a body given as bytes) leaves in one write; a streamed body follows
 * with backpressure (the body stream is paused while the socket's buffer is full), framed by its
 * Content-Length, or chunked when it has none. The response: its head is parsed as strictly as a
 * request head (response-head.ts: a refused head, or a head larger than `maxHeaderBytes`, is the
 * gateway's 502) and its body framed by Content-Length, chunked (chunked.ts) or the close (RFC 9112
 * §6.3); no body after HEAD or for 1xx, 204 and 304, whatever the upstream sends. Informational
 * responses are handed on and the final one read after them. A handler that returns false from
 * onData (its client is slow) pauses the socket until it calls `resume`: at most one socket read is
 * held, nothing else is buffered.
 *
 * A connection is reused only when the response was complete, length- or chunk-delimited, the
 * upstream did not say `close`, the request was not HEAD, its body was written to its end and
 * nothing followed the response: after anything else the framing of the next bytes is unknown
 * and the socket closes.
 *
 * The idle-close race (the upstream closes a kept-alive connection just as a request is written to
 * it) shows as a close or reset before any byte of the response: that error keeps the code undici
 * gives it (`UND_ERR_SOCKET`, ECONNRESET, EPIPE), which the exchange may retry (service `retry`).
 * A close after some of the response arrived is never retried (GRAYLANE_UPSTREAM_CLOSED).
 *
 * Timers: none per request. The pool's sweep (UpstreamSweep) checks each connection's one
 * deadline (connect, response head, body idle, keep-alive idle) every 100 ms.
 */
import { STATUS_CODES } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { equalsLowerText, latin1 } from './chars.js';
import { ChunkedDecoder, ChunkGather } from './chunked.js';
import type { ParseError } from './errors.js';
import { findHeadEnd } from './fields.js';
import { rawHeaders } from './header-object.js';
import { lend, READ_BUFFER, returned } from './read-buffer.js';
import { ResponseFields } from './response-fields.js';
import { parseResponseHead, ResponseHead } from './response-head.js';

/** A request as the pool takes it (the fields of undici's DispatchOptions that graylane uses). */
export interface UpstreamRequest {
  path: string;
  method: string;
  /** `[name, value, ...]`, or an object of them. No Connection, Transfer-Encoding, Keep-Alive, Upgrade or Expect: framing is the connection's. */
  headers?: readonly string[] | Readonly<Record<string, string | readonly string[] | undefined>> | null;
  /** Bytes (sent with the head) or a stream (sent after it, with backpressure). */
  body?: Readable | Uint8Array | string | null;
  /** Longest wait for the response head once the request is written, ms; 0 or absent: none. */
  headersTimeout?: number | null;
  /** Longest pause between two reads of the response body while the handler is reading, ms; 0 or absent: none. */
  bodyTimeout?: number | null;
  /** The protocols of an upgrade (`websocket`): sent with `Connection: upgrade`; a 101 hands the socket to onUpgrade. */
  upgrade?: string | null;
  /**
   * How many entries of `headers` (an array) the caller vouches for: names that are tokens and
   * values without CR, LF or NUL, because a strict parser read them or the gateway wrote them
   * (src/gateway/headers.ts). They are not checked again; the entries after them are.
   */
  checkedFields?: number;
  /**
   * Field lines the caller rendered and vouches for (as for checkedFields), written as they are
   * after Host and Connection and before the fields of `headers`: `name: value\r\n` each, never
   * Host, Content-Length or a field the connection writes (those stay in `headers`). The gateway
   * renders them from the client's bytes (src/gateway/headers.ts renderFields), which saves the
   * string per field and the walk over an array here. Read by graylane's pools only.
   */
  fieldLines?: string | null;
}

/**
 * undici's callback handler interface (the one ProxyExchange implements), so the exchange, mirror
 * and retries work over either pool.
 */
export interface UpstreamHandler {
  onConnect?(abort: (err?: Error) => void): void;
  /** Raw headers `[name, value, ...]` as latin1 strings (undici passes Buffers). False: pause until `resume` is called. */
  onHeaders?(statusCode: number, rawHeaders: string[], resume: () => void, statusText: string): boolean | void;
  /**
   * graylane's own: called instead of onHeaders for a final response (status >= 200) when the
   * handler has it. `fields` reads the parsed head in place (response-fields.ts), so a proxy
   * writes the lines it passes on without building strings per field; it is valid ONLY during the
   * call (the bytes may be READ_BUFFER's). Informational responses still go to onHeaders, a 101 to onUpgrade.
   */
  onResponseFields?(statusCode: number, fields: ResponseFields, resume: () => void, statusText: string): boolean | void;
  /**
   * A view of the received bytes, valid ONLY during the call: the buffer is reused for the next
   * read of any connection (READ_BUFFER). A handler that keeps bytes copies them. False: pause
   * until `resume`.
   */
  onData?(chunk: Buffer): boolean | void;
  onComplete?(trailers: string[]): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: string[], socket: Socket): void;
}

/** Where a pool's connections go: host, port, TLS. Parsed once per origin. */
export interface UpstreamEndpoint {
  tls: boolean;
  /** For net.connect (no IPv6 brackets). */
  host: string;
  port: number;
  /** The Host header when the request has none: the origin's host[:port]. */
  hostHeader: string;
  /** SNI name (not for IP addresses). */
  servername: string | undefined;
}

/** One request on its way through a pool: queued, on a connection, or ended. */
export class UpstreamCall {
  conn: Http1ClientConnection | null = null;
  /** Completed, failed or aborted: nothing more reaches the handler. */
  ended = false;
  constructor(
    readonly owner: CallOwner,
    readonly request: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}
  /** Handed to onConnect: ends the call with `err` (the upstream request is cut if it was sent). */
  readonly abort = (err?: Error): void => this.owner.abort(this, err ?? upstreamError('request aborted', 'UND_ERR_ABORTED'));
}

export interface CallOwner {
  abort(call: UpstreamCall, err: Error): void;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  readonly sweep: UpstreamSweep;
  /** The call ended with the response complete; `keepFor`: how long it may idle (ms), 0 when it must close. */
  released(conn: Http1ClientConnection, keepFor: number): void;
  /** The connection is gone (closed, failed, handed to a tunnel); `connectError` when it never connected. */
  closed(conn: Http1ClientConnection, connectError: Error | null): void;
  /** A kept-alive connection idle for `idleMs` was closed by the upstream as it was reused (the idle-close race). */
  raced(idleMs: number): void;
}

export interface ClientLimits {
  connectTimeoutMs: number;
  /** Idle keep-alive time, capped by the upstream's Keep-Alive hint. */
  keepAliveMs: number;
  /** Largest response head; larger is a 502 (undici's default, Node's maxHeaderSize, is 16 KiB). */
  maxHeaderBytes: number;
  /** Most fields in a response head. */
  maxHeaders: number;
}

const enum State {
  Connecting,
  Idle,
  /** Request written (or being written), waiting for the response head. */
  Head,
  Body,
  Closed,
}

const enum Deadline {
  None,
  Connect,
  Headers,
  Body,
  Idle,
}

/** How a request body is framed upstream. */
const enum BodyFraming {
  None,
  Length,
  Chunked,
}

/** undici's "other side closed": a close before any byte of the response (retried as a reset). */
const OTHER_SIDE_CLOSED = 'UND_ERR_SOCKET';
/** Methods whose request without a body still says `content-length: 0` (as undici does). */
const EXPECTS_PAYLOAD = new Set(['POST', 'PUT', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);
/** What a keep-alive hint is shortened by, so we close before the upstream does (undici's threshold). */
const HINT_MARGIN_MS = 1000;
const NO_TRAILERS: string[] = [];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function ignore(): void {}

export function upstreamError(message: string, code: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

function badResponse(err: ParseError): Error {
  return upstreamError(`the upstream's response was refused: ${err.reason}`, 'GRAYLANE_BAD_RESPONSE');
}

export class Http1ClientConnection {
  readonly socket: Socket;
  /** Sweep deadline (Date.now() ms), 0 when none. */
  deadline = 0;
  /**
   * Date.now() when this connection last had something to do (connected, was given a request,
   * read bytes, was resumed): deadlines are armed from it, one clock read per event rather than
   * one per deadline.
   */
  #clock = Date.now();
  #deadlineKind = Deadline.None;
  #state = State.Connecting;
  #call: UpstreamCall | null = null;
  #buf: Buffer | null = null;
  #pos = 0;
  #searchFrom = 0;
  /** A byte of the current response arrived (a close is then not the idle-close race). */
  #received = false;
  #paused = false;
  #running = false;
  readonly #head: ResponseHead;
  /** The view of #head handed to onResponseFields, bound to the bytes only during that call. */
  readonly #fields: ResponseFields;
  #chunked: ChunkedDecoder | null = null;
  #remaining = 0;
  /** The chunk data of the current read, gathered in place (the bytes are the connection's own: READ_BUFFER during its read, or a copy). */
  readonly #gather = new ChunkGather();
  #bodyTimeoutMs = 0;
  /** The request body stream being written, or null. */
  #body: Readable | null = null;
  #bodyFraming = BodyFraming.None;
  #bodyLeft = 0;
  #bodyDone = true;
  /** Requests this connection has carried (1 while serving its first). */
  requests = 0;
  /** When it was last parked idle (Date.now()). */
  idleSince = 0;
  /** How long it had idled when the current request was written on it (0 on a new connection). */
  #idledFor = 0;

  constructor(
    readonly owner: ConnectionOwner,
    readonly endpoint: UpstreamEndpoint,
    readonly limits: ClientLimits,
    first: UpstreamCall,
  ) {
    this.#head = new ResponseHead(limits.maxHeaders);
    this.#fields = new ResponseFields(this.#head);
    this.#call = first;
    first.conn = this;
    // TLS sockets read the default way (node:tls has no `onread`).
    const socket = (this.socket = endpoint.tls
      ? tls.connect({ host: endpoint.host, port: endpoint.port, servername: endpoint.servername, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host: endpoint.host, port: endpoint.port, onread: { buffer: this.#nextReadBuffer, callback: this.#onRead } }));
    socket.setNoDelay(true);
    socket.once(endpoint.tls ? 'secureConnect' : 'connect', this.#onConnect);
    if (endpoint.tls) socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', this.#onError);
    socket.on('drain', this.#onDrain);
    owner.sweep.add(this);
    this.#arm(Deadline.Connect, limits.connectTimeoutMs);
  }

  /** Sends `call` on this idle connection. */
  send(call: UpstreamCall): void {
    this.#call = call;
    call.conn = this;
    this.#clock = Date.now();
    this.#idledFor = this.#clock - this.idleSince;
    this.#write(call);
  }

  /** Parked in the pool's idle list for up to `ms`. */
  idle(ms: number): void {
    this.#state = State.Idle;
    this.#arm(Deadline.Idle, ms);
    this.idleSince = this.deadline - ms;
  }

  /** Ends the call on this connection with `err` and closes the connection (its state is unknown). */
  abort(call: UpstreamCall, err: Error): void {
    if (call === this.#call) this.#fail(err);
  }

  /** Closes the connection; the call on it, if any, ends with `err`. */
  close(err: Error = upstreamError('the connection pool closed', 'UND_ERR_DESTROYED')): void {
    this.#fail(err);
  }

  /** The handler has room again (the `resume` of onHeaders). */
  readonly resume = (): void => {
    if (!this.#paused || this.#state === State.Closed) return;
    this.#paused = false;
    this.socket.resume();
    this.#clock = Date.now();
    if (this.#deadlineKind === Deadline.Body) this.#arm(Deadline.Body, this.#bodyTimeoutMs);
    this.#run();
    if (this.#peerEnded && this.#state === State.Body) this.#endOfClose();
  };

  /** Called by the sweep when `deadline` passed. */
  expired(now: number): void {
    switch (this.#deadlineKind) {
      case Deadline.Connect:
        return this.#fail(upstreamError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT'), true);
      case Deadline.Headers:
        return this.#fail(upstreamError('no response head within timeouts.headers', 'UND_ERR_HEADERS_TIMEOUT'));
      case Deadline.Body:
        // A paused read waits for our client, whose own idle timer governs (as undici's body timeout).
        if (this.#paused) this.deadline = now + this.#bodyTimeoutMs;
        else this.#fail(upstreamError('the response body stalled for timeouts.idle', 'UND_ERR_BODY_TIMEOUT'));
        return;
      case Deadline.Idle:
        return this.#fail(upstreamError('idle', 'UND_ERR_CLOSED'));
    }
  }

  /** Arms the one deadline `ms` after #clock (none for 0, null or absent). */
  #arm(kind: Deadline, ms: number | null | undefined): void {
    this.#deadlineKind = kind;
    this.deadline = ms !== null && ms !== undefined && ms > 0 ? this.#clock + ms : 0;
  }

  readonly #onConnect = (): void => {
    if (this.#state !== State.Connecting) return;
    this.#clock = Date.now();
    this.#arm(Deadline.None, 0);
    const call = this.#call;
    if (call !== null && !call.ended) this.#write(call);
    else this.owner.released(this, this.limits.keepAliveMs);
  };

  // ---- the request ----

  #write(call: UpstreamCall): void {
    const req = call.request;
    this.requests++;
    this.#state = State.Head;
    this.#received = false;
    this.#peerEnded = false;
    this.#buf = null;
    this.#pos = 0;
    this.#searchFrom = 0;
    this.#bodyTimeoutMs = req.bodyTimeout ?? 0;
    let head: string;
    let bytes: Buffer | null = null;
    let stream: Readable | null = null;
    try {
      const body = req.body;
      if (body === null || body === undefined) {
        head = this.#head0(req, -2);
      } else if (typeof body === 'string' || body instanceof Uint8Array) {
        bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        head = this.#head0(req, bytes.length);
      } else {
        stream = body;
        head = this.#head0(req, -1);
      }
    } catch (err) {
      // Nothing was written: the connection is still good.
      this.#call = null;
      call.ended = true;
      this.owner.released(this, this.limits.keepAliveMs);
      call.handler.onError?.(err as Error);
      return;
    }
    const socket = this.socket;
    if (bytes !== null && bytes.length > 0) {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(bytes);
      socket.uncork();
    } else {
      socket.write(head, 'latin1');
    }
    if (stream === null) {
      this.#bodyDone = true;
      this.#arm(Deadline.Headers, req.headersTimeout);
      return;
    }
    this.#bodyDone = false;
    this.#arm(Deadline.None, 0);
    this.#body = stream;
    stream.on('data', this.#onBodyData);
    stream.on('end', this.#onBodyEnd);
    stream.on('error', this.#onBodyError);
    stream.on('close', this.#onBodyClose);
    if (stream.isPaused()) stream.resume();
  }

  /**
   * The request head. `bodyLength`: the body's bytes when given as bytes, -1 for a stream, -2 for
   * none. Throws (UND_ERR_INVALID_ARG, UND_ERR_REQ_CONTENT_LENGTH_MISMATCH) when it cannot be
   * written: a method or field name that is not a token, a value with CR, LF or NUL, a framing
   * field, or a Content-Length the body does not match.
   */
  #head0(req: UpstreamRequest, bodyLength: number): string {
    let host: string | null = null;
    let declared = -1;
    let fields = req.fieldLines ?? '';
    const h = req.headers;
    if (h !== null && h !== undefined) {
      if (Array.isArray(h)) {
        const flat = h as readonly string[];
        const checked = req.checkedFields ?? 0;
        for (let i = 0; i < flat.length; i += 2) {
          const r = i < checked ? fieldRole(flat[i]!) : this.#field(flat[i]!, flat[i + 1]!);
          if (r === 1) host = flat[i + 1]!;
          else if (r === 2) declared = contentLength(flat[i + 1]!);
          else fields += `${flat[i]}: ${flat[i + 1]}\r\n`;
        }
      } else {
        for (const name in h) {
          const v = (h as Record<string, string | readonly string[] | undefined>)[name];
          if (v === undefined) continue;
          for (const value of typeof v === 'string' ? [v] : v) {
            const r = this.#field(name, value);
            if (r === 1) host = value;
            else if (r === 2) declared = contentLength(value);
            else fields += `${name}: ${value}\r\n`;
          }
        }
      }
    }
    let framing: string;
    if (bodyLength === -1) {
      if (declared >= 0) {
        this.#bodyFraming = BodyFraming.Length;
        this.#bodyLeft = declared;
        framing = `content-length: ${declared}\r\n`;
      } else {
        this.#bodyFraming = BodyFraming.Chunked;
        framing = 'transfer-encoding: chunked\r\n';
      }
    } else {
      this.#bodyFraming = BodyFraming.None;
      const length = bodyLength === -2 ? 0 : bodyLength;
      if (declared !== -1 && declared !== length) {
        throw upstreamError('the request body does not match its Content-Length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
      }
      framing = length > 0 || EXPECTS_PAYLOAD.has(req.method) ? `content-length: ${length}\r\n` : '';
    }
    const upgrade = req.upgrade;
    let connection = 'connection: keep-alive\r\n';
    if (upgrade !== null && upgrade !== undefined) {
      if (BAD_VALUE.test(upgrade)) throw upstreamError('invalid upgrade value', 'UND_ERR_INVALID_ARG');
      connection = `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
    }
    if (host !== null && BAD_VALUE.test(host)) throw upstreamError('invalid host header', 'UND_ERR_INVALID_ARG');
    const path = req.path;
    if (path.length === 0 || BAD_PATH.test(path)) throw upstreamError('invalid request path', 'UND_ERR_INVALID_ARG');
    // The method opens the request line: anything but a token (RFC 9110 §9.1) could split it into
    // two requests. Both request engines refuse such a method already; undici checked it too.
    if (!TOKEN.test(req.method)) throw upstreamError('invalid request method', 'UND_ERR_INVALID_ARG');
    return `${req.method} ${path} HTTP/1.1\r\nhost: ${host ?? this.endpoint.hostHeader}\r\n${connection}${fields}${framing}\r\n`;
  }

  /** Checks one request field: 0 to write it as is, 1 for Host, 2 for Content-Length; throws for what must not be sent. */
  #field(name: string, value: string): 0 | 1 | 2 {
    if (!TOKEN.test(name)) throw upstreamError(`invalid header name ${JSON.stringify(name)}`, 'UND_ERR_INVALID_ARG');
    if (BAD_VALUE.test(value)) throw upstreamError(`invalid value of header ${name}`, 'UND_ERR_INVALID_ARG');
    return fieldRole(name);
  }

  readonly #onBodyData = (chunk: Buffer | string): void => {
    if (this.#state === State.Closed) return;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return;
    const socket = this.socket;
    let ok: boolean;
    if (this.#bodyFraming === BodyFraming.Chunked) {
      socket.cork();
      socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
      socket.write(data);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      this.#bodyLeft -= data.length;
      if (this.#bodyLeft < 0) {
        return this.#fail(upstreamError('the request body is longer than its Content-Length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'));
      }
      ok = socket.write(data);
    }
    if (!ok) this.#body?.pause();
  };

  readonly #onDrain = (): void => {
    const body = this.#body;
    if (body !== null && body.isPaused()) body.resume();
  };

  readonly #onBodyEnd = (): void => {
    if (this.#state === State.Closed || this.#body === null) return;
    if (this.#bodyFraming === BodyFraming.Chunked) {
      this.socket.write('0\r\n\r\n', 'latin1');
    } else if (this.#bodyLeft !== 0) {
      return this.#fail(upstreamError('the request body is shorter than its Content-Length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'));
    }
    this.#detachBody();
    this.#bodyDone = true;
    // The upstream's time to answer starts once it has the whole request (undici: the same).
    this.#clock = Date.now();
    if (this.#state === State.Head) this.#arm(Deadline.Headers, this.#call?.request.headersTimeout);
  };

  readonly #onBodyError = (err: Error): void => {
    if (this.#body !== null) this.#fail(err);
  };

  readonly #onBodyClose = (): void => {
    const body = this.#body;
    if (body !== null && !body.readableEnded) this.#fail(upstreamError('the request body was aborted', 'UND_ERR_ABORTED'));
  };

  #detachBody(): void {
    const body = this.#body;
    if (body === null) return;
    this.#body = null;
    body.off('data', this.#onBodyData);
    body.off('end', this.#onBodyEnd);
    body.off('error', this.#onBodyError);
    body.off('close', this.#onBodyClose);
    // A body left unfinished (an early response, a failure) is its owner's to end; its error then
    // must not become an uncaught exception for want of a listener.
    if (!body.readableEnded) body.on('error', ignore);
  }

  // ---- the response ----

  /**
   * A read into READ_BUFFER (plain TCP; read-buffer.ts): its bytes are valid only during this call,
   * so what is kept is copied (#keepUnread, a tunnel's bytes, what a handler keeps). True: read on
   * (pausing is done with socket.pause()).
   */
  readonly #onRead = (n: number, buf: Buffer): boolean => {
    // An upgraded socket is a tunnel's, read as a stream: its bytes are copied into it.
    if (this.#tunnel) return this.socket.push(Buffer.from(buf.subarray(0, n)));
    if (buf === READ_BUFFER) {
      this.#onData(buf.subarray(0, n));
      this.#keepUnread();
      return true;
    }
    // This connection's own buffer (a large body). A small read is copied to its size (so a slow
    // client's queue holds its bytes, not 64 KiB per read) and the buffer read into again. A large
    // one is lent as it is: read into again if the client's socket took it all at once (read-buffer.ts
    // lend), else the next read gets a new buffer.
    if (n < OWN_READ_MIN) {
      this.#onData(Buffer.from(buf.subarray(0, n)));
      return true;
    }
    lend(buf);
    try {
      this.#onData(buf.subarray(0, n));
    } finally {
      // Unread bytes (a paused handler, bytes past the body) still lie in it: it stays out too.
      const rest = this.#buf;
      this.#ownOut = !returned() || (rest !== null && this.#pos < rest.length && rest.buffer === buf.buffer);
    }
    return true;
  };

  /**
   * Where the next read goes (onread's buffer function, asked after each read): READ_BUFFER, or
   * while a large body is read, a buffer of this connection's own. A large body's bytes would
   * otherwise be copied out of READ_BUFFER by the writer that keeps them (a fresh 64 KiB per read:
   * a 1 MiB response cost 4x the CPU, page faults mostly); Node's own reading allocated a buffer
   * per read too, and hands it on the same way.
   */
  readonly #nextReadBuffer = (): Buffer => {
    if (!this.#readingLargeBody()) {
      // Not kept for the next large body: an idle connection holds no 64 KiB.
      this.#own = null;
      return READ_BUFFER;
    }
    if (this.#own === null || this.#ownOut) {
      this.#own = Buffer.allocUnsafe(READ_BUFFER.length);
      this.#ownOut = false;
    }
    return this.#own;
  };

  #own: Buffer | null = null;
  /** #own was handed on (a view of it may be kept): the next read needs a new one. */
  #ownOut = false;

  /** In a body with more than OWN_READ_MIN bytes to come, or of unknown length. */
  #readingLargeBody(): boolean {
    if (this.#state !== State.Body) return false;
    const framing = this.#head.framing;
    return framing === 'chunked' || framing === 'close' || (framing === 'length' && this.#remaining > OWN_READ_MIN);
  }

  /** The upgraded socket reads into the stream its tunnel consumes (#onRead). */
  #tunnel = false;

  /**
   * Bytes not consumed by the end of a read callback (a head in pieces, a paused handler) are
   * copied out of READ_BUFFER, which the next read of any connection overwrites.
   */
  #keepUnread(): void {
    const buf = this.#buf;
    if (buf === null || buf.buffer !== READ_BUFFER.buffer) return;
    if (this.#pos >= buf.length) {
      this.#buf = null;
      this.#pos = 0;
      return;
    }
    this.#buf = Buffer.from(buf.subarray(this.#pos));
    this.#searchFrom = Math.max(0, this.#searchFrom - this.#pos);
    this.#pos = 0;
  }

  readonly #onData = (chunk: Buffer): void => {
    const state = this.#state;
    if (state !== State.Head && state !== State.Body) {
      // Bytes nobody asked for (an idle connection, a response longer than it said): the framing
      // of whatever comes next is unknown.
      if (state !== State.Closed) this.#fail(upstreamError('the upstream sent bytes outside a response', 'GRAYLANE_BAD_RESPONSE'));
      return;
    }
    this.#received = true;
    const buf = this.#buf;
    if (buf === null || this.#pos >= buf.length) {
      this.#buf = chunk;
      this.#pos = 0;
      this.#searchFrom = 0;
    } else {
      const rest = buf.length - this.#pos;
      this.#buf = Buffer.concat([buf.subarray(this.#pos), chunk], rest + chunk.length);
      this.#searchFrom = Math.max(0, this.#searchFrom - this.#pos);
      this.#pos = 0;
    }
    this.#clock = Date.now();
    if (this.#deadlineKind === Deadline.Body) this.#arm(Deadline.Body, this.#bodyTimeoutMs);
    this.#run();
  };

  #run(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#paused && this.#buf !== null && this.#pos < this.#buf.length) {
        if (this.#state === State.Head) {
          if (!this.#readHead()) return;
        } else if (this.#state === State.Body) {
          this.#readBody();
        } else if (this.#state === State.Idle) {
          // The response ended and bytes followed it in the same read.
          return this.#fail(upstreamError('the upstream sent more than its response', 'GRAYLANE_BAD_RESPONSE'));
        } else {
          return;
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** Parses a response head if it is all here; false when more bytes are needed or the call ended. */
  #readHead(): boolean {
    const buf = this.#buf!;
    const start = this.#pos;
    const max = this.limits.maxHeaderBytes;
    const end = findHeadEnd(buf, start, Math.max(start, this.#searchFrom), buf.length);
    if (typeof end === 'object') return this.#refuse(end);
    if (end === -1) {
      if (buf.length - start > max) return this.#refuse(HEAD_TOO_LARGE);
      this.#searchFrom = Math.max(start, buf.length - 3);
      return false;
    }
    if (end - start > max) return this.#refuse(HEAD_TOO_LARGE);
    const call = this.#call!;
    const head = this.#head;
    const bad = parseResponseHead(buf, start, end, head, call.request.method);
    if (bad !== null) return this.#refuse(bad);
    this.#pos = end;
    this.#searchFrom = end;
    const statusText = reasonPhrase(buf, head.reasonStart, head.reasonEnd, head.status);
    const status = head.status;
    if (status === 101) {
      if (call.request.upgrade === null || call.request.upgrade === undefined) return this.#refuse(UNASKED_101);
      this.#upgrade(call, rawHeaders(buf, head.fields), statusText);
      return false;
    }
    const handler = call.handler;
    if (status < 200) {
      // Informational (100, 103...): handed on; the final response follows on the same connection.
      handler.onHeaders?.(status, rawHeaders(buf, head.fields), this.resume, statusText);
      return this.#call === call;
    }
    this.#state = State.Body;
    this.#remaining = head.contentLength;
    if (head.framing === 'chunked') (this.#chunked ??= new ChunkedDecoder(this.limits.maxHeaderBytes, 64)).reset();
    this.#arm(Deadline.Body, this.#bodyTimeoutMs);
    let more: boolean | void;
    if (handler.onResponseFields !== undefined) {
      const fields = this.#fields.bind(buf);
      try {
        more = handler.onResponseFields(status, fields, this.resume, statusText);
      } finally {
        fields.release();
      }
    } else {
      more = handler.onHeaders?.(status, rawHeaders(buf, head.fields), this.resume, statusText);
    }
    if (this.#call !== call) return false;
    if (more === false) this.#pause();
    if (head.framing === 'none' || (head.framing === 'length' && head.contentLength === 0)) {
      this.#complete(call, NO_TRAILERS);
      return false;
    }
    return true;
  }

  #readBody(): void {
    const call = this.#call!;
    const buf = this.#buf!;
    const framing = this.#head.framing;
    if (framing === 'chunked') {
      // The whole read is decoded first and its chunk data handed over in one onData call: one
      // write towards the client per read, not one per chunk (a million 1-byte chunks were a
      // million writes). Nothing is held beyond the read, as before.
      const gather = this.#gather;
      gather.reset();
      const r = this.#chunked!.decode(buf, this.#pos, buf.length, gather.sink);
      let more: boolean | void = true;
      if (gather.length > 0) {
        more = call.handler.onData?.(gather.view(buf));
        if (this.#call !== call) return;
      }
      // Data before a refused byte still goes first, as it did chunk by chunk.
      if (typeof r === 'object') return void this.#fail(badResponse(r));
      this.#pos = r === -1 ? buf.length : r;
      if (this.#chunked!.done) return this.#complete(call, trailerStrings(this.#chunked!));
      if (more === false) this.#pause();
      return;
    }
    let n = buf.length - this.#pos;
    if (framing === 'length' && n > this.#remaining) n = this.#remaining;
    const chunk = buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    this.#remaining -= n;
    const more = call.handler.onData?.(chunk);
    if (this.#call !== call) return;
    if (framing === 'length' && this.#remaining === 0) return this.#complete(call, NO_TRAILERS);
    if (more === false) this.#pause();
  }

  /** The response is complete: the connection goes back to the pool, or closes. */
  #complete(call: UpstreamCall, trailers: string[]): void {
    const head = this.#head;
    let keepFor = 0;
    // Not after HEAD (as undici): an upstream that sends a body anyway would have it read as the
    // next request's response, however late it arrives.
    const reusable = head.keepAlive && head.framing !== 'close' && call.request.method !== 'HEAD';
    if (reusable && this.#bodyDone && (this.#buf === null || this.#pos >= this.#buf.length)) {
      keepFor = this.limits.keepAliveMs;
      const hint = head.keepAliveHintMs;
      if (hint >= 0 && hint - HINT_MARGIN_MS < keepFor) keepFor = Math.max(0, hint - HINT_MARGIN_MS);
    }
    this.#detachBody();
    this.#call = null;
    call.ended = true;
    this.#buf = null;
    this.#pos = 0;
    this.#state = State.Idle;
    this.#arm(Deadline.None, 0);
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    this.owner.released(this, keepFor);
    call.handler.onComplete?.(trailers);
  }

  /** A 101 to an upgrade: the socket leaves the pool for the handler's tunnel, with the bytes read after the head. */
  #upgrade(call: UpstreamCall, raw: string[], _statusText: string): void {
    const socket = this.socket;
    const buf = this.#buf!;
    // A copy: the bytes may be in READ_BUFFER.
    const rest = this.#pos < buf.length ? Buffer.from(buf.subarray(this.#pos)) : null;
    this.#state = State.Closed;
    this.#call = null;
    call.ended = true;
    this.#buf = null;
    this.deadline = 0;
    this.owner.sweep.delete(this);
    socket.off('data', this.#onData);
    this.#tunnel = true;
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
    socket.off('error', this.#onError);
    socket.off('drain', this.#onDrain);
    socket.pause();
    if (rest !== null) socket.unshift(rest);
    this.owner.closed(this, null);
    if (call.handler.onUpgrade === undefined) return void socket.destroy();
    call.handler.onUpgrade(101, raw, socket);
  }

  #refuse(err: ParseError): false {
    this.#fail(badResponse(err));
    return false;
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.socket.pause();
  }

  // ---- the end ----

  readonly #onEnd = (): void => {
    if (this.#state === State.Body && this.#head.framing === 'close') {
      // Close-delimited: the close is the end of the body (never reused). Bytes still held for a
      // paused handler go first: the end is then completed on resume.
      this.#peerEnded = true;
      this.#endOfClose();
      return;
    }
    this.#closedByPeer(null);
  };

  /** The upstream ended a close-delimited body. */
  #peerEnded = false;

  #endOfClose(): void {
    const call = this.#call;
    if (call === null || this.#paused || (this.#buf !== null && this.#pos < this.#buf.length)) return;
    this.#complete(call, NO_TRAILERS);
  }

  readonly #onClose = (): void => {
    // A close-delimited body that ended while its handler was paused completes on resume.
    if (this.#peerEnded && this.#state === State.Body) return;
    this.#closedByPeer(null);
  };

  readonly #onError = (err: Error): void => {
    this.#closedByPeer(err);
  };

  /** The upstream closed or reset the connection. */
  #closedByPeer(err: Error | null): void {
    const state = this.#state;
    if (state === State.Closed) return;
    if (state === State.Connecting) return this.#fail(err ?? upstreamError('the connection closed while connecting', OTHER_SIDE_CLOSED), true);
    if (state === State.Idle) return this.#fail(upstreamError('idle connection closed', 'UND_ERR_CLOSED'));
    if (!this.#received) {
      // Nothing of the response arrived: the idle-close race, or an upstream that drops requests.
      // Keep undici's codes: the exchange may retry these (retry.on: reset).
      if (this.requests > 1) this.owner.raced(this.#idledFor);
      return this.#fail(err ?? upstreamError('other side closed', OTHER_SIDE_CLOSED));
    }
    this.#fail(upstreamError('the upstream closed the connection mid-response', 'GRAYLANE_UPSTREAM_CLOSED', err ?? undefined));
  }

  /** Closes the connection; the call on it, if any, ends with `err`. */
  #fail(err: Error, connectError = false): void {
    if (this.#state === State.Closed) return;
    this.#state = State.Closed;
    this.deadline = 0;
    this.#detachBody();
    this.owner.sweep.delete(this);
    this.socket.destroy();
    const call = this.#call;
    this.#call = null;
    this.owner.closed(this, connectError ? err : null);
    if (call !== null && !call.ended) {
      call.ended = true;
      call.handler.onError?.(err);
    }
  }
}

/** A field's role in the request head: 0 to write it as is, 1 for Host, 2 for Content-Length; throws for the connection's own fields. */
function fieldRole(name: string): 0 | 1 | 2 {
  switch (name.length) {
    case 4:
      return equalsLowerText(name, 'host') ? 1 : 0;
    case 14:
      return equalsLowerText(name, 'content-length') ? 2 : 0;
    case 6:
      return connectionField(name, 'expect');
    case 7:
      return connectionField(name, 'upgrade');
    case 10:
      return connectionField(name, 'connection') || connectionField(name, 'keep-alive');
    case 17:
      return connectionField(name, 'transfer-encoding');
    default:
      return 0;
  }
}

/** 0 unless `name` is the connection's own field `lower`, which is refused (throws). */
function connectionField(name: string, lower: string): 0 {
  if (equalsLowerText(name, lower)) throw upstreamError(`the ${lower} header is the connection's to write`, 'UND_ERR_INVALID_ARG');
  return 0;
}

/** Reads of at least this many bytes into a connection's own buffer are handed on without a copy. */
const OWN_READ_MIN = 16 * 1024;

const HEAD_TOO_LARGE: ParseError = Object.freeze({ status: 502, reason: 'the response head is larger than 16 KiB' });
const UNASKED_101: ParseError = Object.freeze({ status: 502, reason: 'a 101 to a request that did not ask to upgrade' });
/** A request target that could split the request line. */
const BAD_PATH = /[^\x21-\x7e]/;

/** A Content-Length value as the gateway passes it (plain digits); -1 otherwise (then refused). */
function contentLength(value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw upstreamError('invalid content-length header', 'UND_ERR_INVALID_ARG');
  return Number(value);
}

/** The reason phrase: the standard one's string when the bytes are it (nearly always), no new string. */
function reasonPhrase(buf: Buffer, start: number, end: number, status: number): string {
  const standard = STATUS_CODES[status];
  if (standard !== undefined && end - start === standard.length) {
    let i = 0;
    while (i < standard.length && buf[start + i] === standard.charCodeAt(i)) i++;
    if (i === standard.length) return standard;
  }
  return latin1(buf, start, end);
}

function trailerStrings(decoder: ChunkedDecoder): string[] {
  return decoder.trailers.count === 0 ? NO_TRAILERS : rawHeaders(decoder.trailerSection, decoder.trailers);
}

/** The deadlines of a pool set's connections, checked every `everyMs` (one timer for all). */
export class UpstreamSweep {
  readonly #connections = new Set<Http1ClientConnection>();
  #timer: NodeJS.Timeout | null = null;

  constructor(readonly everyMs = 100) {}

  add(c: Http1ClientConnection): void {
    this.#connections.add(c);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.tick(), this.everyMs);
      this.#timer.unref();
    }
  }

  delete(c: Http1ClientConnection): void {
    this.#connections.delete(c);
  }

  get size(): number {
    return this.#connections.size;
  }

  tick(): void {
    if (this.#connections.size === 0) return this.stop();
    const now = Date.now();
    for (const c of this.#connections) if (c.deadline !== 0 && c.deadline <= now) c.expired(now);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
