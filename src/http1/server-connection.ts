/**
 * One client connection of graylane's HTTP/1.1 server: reads request heads and bodies off any
 * connected stream socket (net or TLS), hands each request to the handler, and keeps the
 * connection's order.
 *
 * One request at a time, as nginx does: the next request on a keep-alive connection (pipelined or
 * not) is parsed once the previous response is complete and its body was read. Pipelined requests
 * are therefore answered in order, and a connection never holds more than one request's state.
 *
 * Reading stops (socket.pause) while a request body's consumer is full and while a response is
 * being produced with more bytes already received, so nothing is buffered without bound. Timers:
 * none per request. The server's sweep (Http1Sweep) checks deadlines once a second: a head must be
 * complete `headersTimeoutMs` after its first byte (408), and an idle keep-alive connection closes
 * after `keepAliveTimeoutMs`. Bodies and stalled responses are the handler's business
 * (socket.setTimeout), as they are today.
 *
 * The socket should come from a server created with `allowHalfOpen: true`, so that the connection,
 * not Node, decides what a client's FIN means: the end of an idle connection, or a client gone
 * mid-request (#onEnd).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { CR, SP, TCHAR } from './chars.js';
import { ChunkedDecoder, ChunkGather } from './chunked.js';
import { E, type ParseError } from './errors.js';
import { findHeadEnd, skipEmptyLines } from './fields.js';
import { RequestFields } from './request-fields.js';
import { parseRequestHead, RequestHead, type HeadLimits } from './request-head.js';
import { ResponseWriter } from './response-writer.js';

export interface ConnectionLimits extends HeadLimits {
  headersTimeoutMs: number;
}

/** Where a request's body goes; the connection calls it as bytes arrive. */
export interface BodySink {
  /** Body bytes (a view of the received buffer: copy to keep them past the call). False: stop reading until resumeBody(). */
  data(chunk: Buffer): boolean;
  /** The body ended (for chunked, after its trailers). */
  end(): void;
  /** The body will not complete: the client left or sent a malformed chunked coding. */
  error(err: Error): void;
}

export interface Http1Handler {
  /** A request. Its head (and `fields`) is read during this call; the body through `req.readBody()`. */
  onRequest(req: Http1Request, res: ResponseWriter): void;
  /** A head was refused (or did not arrive in time): answer `err.status`; the connection closes after. */
  onRefused(err: ParseError, res: ResponseWriter): void;
  /** The idle timer a response armed (ResponseWriter.armIdle) fired; without this handler the connection is cut. */
  onTimeout?(connection: Http1Connection): void;
}

/** A request as the handler sees it. */
export class Http1Request {
  method = '';
  target = '';
  minor = 1;
  /** Body framing: a length (0 without a body), or -1 for chunked. */
  contentLength = 0;
  /** Connection: upgrade with Upgrade (the handler decides what to do with it). */
  upgrade = false;
  expectContinue = false;
  /** The body has been read to its end (true at once without a body). */
  complete = true;
  /** Why the body was refused (a malformed chunked coding), or null: the client's fault, a 400. */
  bodyRefused: ParseError | null = null;
  /**
   * The header fields, looked up by name over the parsed offsets (request-fields.ts): what the
   * gateway and routing read, without building a header object.
   */
  readonly fields: RequestFields;

  constructor(
    readonly connection: Http1Connection,
    buf: Buffer,
    readonly head: RequestHead,
  ) {
    this.fields = new RequestFields(buf, head.fields);
  }

  /**
   * Node's lower-cased header object of this request, built on first use: for readers that need
   * the object itself (the hot path reads `fields`).
   */
  get headers(): IncomingHttpHeaders {
    return this.fields.object();
  }

  /** The connection is about to parse the next head over the offsets `fields` reads: they keep a copy. */
  keepHeaders(): void {
    this.fields.keep();
  }

  get hasBody(): boolean {
    return this.contentLength !== 0;
  }

  /** Starts delivering the body to `sink` (sends 100 Continue first when the client waits for it). */
  readBody(sink: BodySink): void {
    this.connection.readBody(this, sink);
  }

  /** The whole body as bytes when it is at most `max` bytes and already received; null: use readBody (Http1Connection.takeBody). */
  takeBody(max: number): Buffer | null {
    return this.connection.takeBody(this, max);
  }
}

const EMPTY = Buffer.alloc(0);
/** How long a connection we ended waits for the client's side to end too (nginx's lingering_timeout). */
const LINGER_MS = 5000;

/**
 * Requests of one connection in flight at once (pipelined): the next head is read while earlier
 * responses are still being produced, up to this many, as Node's server did; their responses are
 * held and written in order (ResponseWriter.hold).
 */
const MAX_PIPELINED = 8;

const enum State {
  /** Reading a head (earlier responses may still be in flight). */
  Head,
  /** Reading a request body. */
  Body,
  /** Reading nothing until the responses in flight are complete (a closing or upgrade request, the pipelining bound). */
  Waiting,
  Closed,
}

export class Http1Connection {
  /** Sweep deadline (ms since epoch, coarse), 0 when none. */
  deadline = 0;
  #state = State.Head;
  #buf: Buffer | null = null;
  /** Start of unread bytes in #buf. */
  #pos = 0;
  /** Where the head search resumes (a head arriving in pieces is scanned once). */
  #searchFrom = 0;
  #headStartedAt = 0;
  readonly #head: RequestHead;
  readonly #chunked: ChunkedDecoder;
  /** A chunked body's data of the current read, gathered in place (#readChunkedBytes). */
  readonly #gather = new ChunkGather();
  /** The last request parsed (whose body may be being read), and its response. */
  #request: Http1Request | null = null;
  #response: ResponseWriter | null = null;
  /** Responses in flight, in request order: the first writes, the others are held. */
  readonly #queue: ResponseWriter[] = [];
  /** An upgrade request parsed behind responses in flight: handed to the handler in its turn. */
  #deferred: Http1Request | null = null;
  /** The last request parsed lets the next one be read before its response is complete. */
  #pipelinable = false;
  #sink: BodySink | null = null;
  #bodyLeft = 0;
  #bodyDone = true;
  #paused = false;
  #running = false;
  /** Close instead of reading another request (the server drains). */
  #closing = false;
  readonly #listeners: [string, (...args: any[]) => void][];

  constructor(
    readonly socket: Socket,
    private readonly handler: Http1Handler,
    private readonly limits: () => Readonly<ConnectionLimits>,
    private readonly sweep: Http1Sweep,
  ) {
    const l = limits();
    this.#head = new RequestHead(l);
    this.#chunked = new ChunkedDecoder(l.maxHeaderBytes, l.maxHeaders);
    socket.setNoDelay(true);
    this.#listeners = [
      ['data', (chunk: Buffer) => this.#onData(chunk)],
      ['end', () => this.#onEnd()],
      ['close', () => this.#onClose()],
      ['error', () => socket.destroy()],
      ['timeout', () => (handler.onTimeout === undefined ? socket.destroy() : handler.onTimeout(this))],
    ];
    for (const [event, fn] of this.#listeners) socket.on(event, fn);
    sweep.add(this);
    this.deadline = sweep.now + l.headersTimeoutMs;
  }

  /** The response being written, or null between requests. */
  get response(): ResponseWriter | null {
    return this.#queue[0] ?? null;
  }

  /** Every response in flight, in order (the first is being written). */
  get responses(): readonly ResponseWriter[] {
    return this.#queue;
  }

  /** Waiting for a request with nothing of one received: closing now loses nothing. */
  get idle(): boolean {
    return this.#state === State.Head && this.#queue.length === 0 && (this.#buf === null || this.#pos >= this.#buf.length);
  }

  /**
   * Reads no further request: an idle connection ends now, a busy one after its current response
   * (whose head should say `Connection: close`). For draining.
   */
  closeWhenIdle(): void {
    this.#closing = true;
    if (this.idle) this.#end();
  }

  /**
   * Gives the socket up (a protocol switch: the connection becomes a tunnel). The connection stops
   * listening to it and forgets it; returns the bytes received after the current request's head,
   * which belong to the new protocol.
   */
  detach(): Buffer {
    const buf = this.#buf;
    const rest = buf === null || this.#pos >= buf.length ? EMPTY : buf.subarray(this.#pos);
    this.#state = State.Closed;
    this.#detached = true;
    this.#buf = null;
    this.#request = null;
    this.#response = null;
    this.#queue.length = 0;
    this.deadline = 0;
    this.sweep.delete(this);
    for (const [event, fn] of this.#listeners) this.socket.off(event, fn);
    this.socket.setTimeout(0);
    // Still paused if bytes followed the head: the new owner's pipe() resumes it.
    return rest;
  }

  /**
   * Bytes the socket read with `onread` (read-buffer.ts) rather than through its 'data' event:
   * the connection's own copy.
   */
  feed(chunk: Buffer): void {
    this.#onData(chunk);
  }

  /** The socket was handed over (detach): the bytes it reads are no longer this connection's. */
  get detached(): boolean {
    return this.#detached;
  }

  #detached = false;

  /** Called by the sweep when `deadline` passed. */
  expired(): void {
    if (this.#state === State.Head && this.#buf !== null && this.#pos < this.#buf.length) this.#refuse(E.HEAD_TIMEOUT);
    else this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#state === State.Closed) return;
    if (this.#buf === null || this.#pos >= this.#buf.length) {
      this.#buf = chunk;
      this.#pos = 0;
      this.#searchFrom = 0;
    } else {
      const rest = this.#buf.length - this.#pos;
      this.#buf = Buffer.concat([this.#buf.subarray(this.#pos), chunk], rest + chunk.length);
      this.#searchFrom = Math.max(0, this.#searchFrom - this.#pos);
      this.#pos = 0;
    }
    this.#run();
  }

  /**
   * Reads what can be read in the current state. Not re-entered: a body consumer that resumes
   * from inside its data() call (a stream's _read) only clears #paused, and the loop goes on.
   */
  #run(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      this.#loop();
    } finally {
      this.#running = false;
    }
  }

  #loop(): void {
    while (this.#buf !== null && this.#pos < this.#buf.length && !this.#paused) {
      if (this.#state === State.Head) {
        if (!this.#readHead()) return;
      } else if (this.#state === State.Body) {
        this.#readBodyBytes();
      } else {
        // Waiting (or closed): what follows waits until the responses in flight are complete.
        this.#pause();
        return;
      }
    }
  }

  /** Parses a head if it is all here; false when more bytes are needed or the connection is done. */
  #readHead(): boolean {
    const buf = this.#buf!;
    const start = skipEmptyLines(buf, this.#pos, buf.length);
    this.#pos = start;
    if (start === buf.length) return false;
    if (this.#headStartedAt === 0) {
      this.#headStartedAt = this.sweep.now;
      this.deadline = this.sweep.now + this.limits().headersTimeoutMs;
    }
    const end = findHeadEnd(buf, start, Math.max(start, this.#searchFrom), buf.length);
    if (typeof end === 'object') return this.#refuse(end);
    const head = this.#head;
    if (end === -1) {
      if (buf.length - start > head.limits.maxHeaderBytes) return this.#refuse(E.HEAD_TOO_LARGE);
      if (badMethodStart(buf, start)) return this.#refuse(E.METHOD);
      this.#searchFrom = Math.max(start, buf.length - 3);
      return false;
    }
    // The head's offsets are reused for this one: a request still in flight keeps its fields.
    this.#request?.keepHeaders();
    const bad = parseRequestHead(buf, start, end, head);
    if (bad !== null) return this.#refuse(bad);
    this.#pos = end;
    this.#searchFrom = end;
    this.#headStartedAt = 0;
    this.deadline = 0;

    const req = new Http1Request(this, buf, head);
    req.method = head.method;
    req.target = head.target;
    req.minor = head.minor;
    req.contentLength = head.contentLength;
    req.upgrade = head.upgrade;
    req.expectContinue = head.expectContinue;
    req.complete = head.contentLength === 0;
    this.#request = req;
    this.#bodyDone = req.complete;
    this.#bodyLeft = head.contentLength;
    if (head.chunked) this.#chunked.reset();
    const res = new ResponseWriter(this.socket, { minor: head.minor, head: head.method === 'HEAD', keepAlive: head.keepAlive }, this.#responseDone);
    this.#response = res;
    const queue = this.#queue;
    queue.push(res);
    if (queue.length > 1) res.hold();
    this.#pipelinable = head.keepAlive && !head.upgrade && !this.#closing && queue.length < MAX_PIPELINED;
    this.#state = req.complete ? this.#afterBody() : State.Body;
    // An upgrade may turn the connection into a tunnel: only once it is the first in line.
    if (head.upgrade && queue.length > 1) this.#deferred = req;
    else this.handler.onRequest(req, res);
    // Until the handler asks for the body (or took it whole: takeBody), nothing more is read.
    if (this.#state === State.Body && this.#sink === null) this.#pause();
    return true;
  }

  /** What follows a request whose body has been read: the next head, or waiting for the responses. */
  #afterBody(): State {
    return this.#pipelinable ? State.Head : State.Waiting;
  }

  /**
   * The whole body of `req`, when it is already here: a Content-Length of at most `max` bytes
   * whose bytes arrived with the head, and no `Expect: 100-continue`. It is taken at once, as a
   * view of the received bytes (never reused: each read is a new buffer), and the connection reads
   * on as if it had been streamed. Null otherwise: the body is then read with readBody().
   * Only during the handler's onRequest.
   */
  takeBody(req: Http1Request, max: number): Buffer | null {
    if (req !== this.#request || this.#state !== State.Body || this.#sink !== null || req.expectContinue) return null;
    const n = req.contentLength;
    const buf = this.#buf;
    if (n <= 0 || n > max || buf === null || buf.length - this.#pos < n) return null;
    const body = buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    this.#bodyLeft = 0;
    this.#bodyDone = true;
    req.complete = true;
    this.#state = this.#afterBody();
    return body;
  }

  /** The handler wants the body. */
  readBody(req: Http1Request, sink: BodySink): void {
    if (req !== this.#request || this.#sink !== null || req.complete) {
      if (req.complete) sink.end();
      return;
    }
    this.#sink = sink;
    if (req.expectContinue) this.#response!.writeInformational(100, []);
    this.resumeBody();
  }

  /** The body's consumer has room again. */
  resumeBody(): void {
    if (this.#state !== State.Body) return;
    this.#paused = false;
    this.socket.resume();
    this.#run();
  }

  #readBodyBytes(): void {
    const buf = this.#buf!;
    const sink = this.#sink!;
    const req = this.#request!;
    if (req.contentLength >= 0) {
      const n = Math.min(this.#bodyLeft, buf.length - this.#pos);
      const chunk = buf.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.#bodyLeft -= n;
      const more = sink.data(chunk);
      if (this.#bodyLeft === 0) this.#bodyComplete();
      else if (!more) this.#pause();
      return;
    }
    this.#readChunkedBytes(buf, sink, req);
  }

  /**
   * The chunked body's bytes of the current read. The whole read is decoded first and its chunk
   * data handed to the sink in one data() call: one write upstream per read, not one per chunk
   * (200,000 1-byte chunks were 200,000 chunks upstream). Gathering in place is safe because the
   * read is the connection's own: each read is its own Buffer (a copy out of READ_BUFFER,
   * read-buffer.ts, its bytes its own even when it lies in Node's buffer pool; Node's 'data'
   * chunks on TLS and h2c listeners, never reused) or a Buffer.concat of a split read, and only
   * this body's framing, decoded once, is overwritten; views handed on earlier (this body's data,
   * a body taken whole, the head's fields) lie outside it. A full sink pauses the connection after the read, as it did chunk by chunk: nothing beyond
   * the read is held.
   */
  #readChunkedBytes(buf: Buffer, sink: BodySink, req: Http1Request): void {
    const gather = this.#gather;
    gather.reset();
    const r = this.#chunked.decode(buf, this.#pos, buf.length, gather.sink);
    this.#pos = typeof r === 'number' && r !== -1 ? r : buf.length;
    // Data before a refused byte still goes first, as it did chunk by chunk.
    const more = gather.length === 0 || sink.data(gather.view(buf));
    // The sink was let go while it took the data (the response ended, the client left).
    if (this.#sink !== sink) return;
    if (typeof r === 'object') {
      // Malformed framing: nothing after it can be trusted. The handler answers 400 if it still can.
      this.#state = State.Waiting;
      this.#pipelinable = false;
      this.#response!.closeAfter = true;
      req.bodyRefused = r;
      sink.error(Object.assign(new Error(r.reason), { status: r.status }));
      return;
    }
    if (r !== -1) this.#bodyComplete();
    else if (!more) this.#pause();
  }

  #bodyComplete(): void {
    this.#bodyDone = true;
    this.#request!.complete = true;
    this.#state = this.#afterBody();
    const sink = this.#sink!;
    this.#sink = null;
    sink.end();
  }

  /** ResponseWriter.end() of the first response in line (a held one ends once released). */
  readonly #responseDone = (res: ResponseWriter): void => {
    if (res === this.#queue[0]) this.#afterResponse();
  };

  /**
   * The first response in line is complete. A response that ended before its request's body was
   * read closes the connection (reading the rest at the client's pace to keep the connection is not
   * worth it), and so does one that says so: the requests pipelined behind it are dropped
   * unanswered, as nothing after a closing answer may be served. Otherwise the next response goes
   * out, or, with none left, the next request is read.
   */
  #afterResponse(): void {
    const queue = this.#queue;
    const res = queue.shift()!;
    if (res === this.#response && !this.#bodyDone) {
      res.closeAfter = true;
      const sink = this.#sink;
      this.#sink = null;
      sink?.error(new Error('the response ended before the request body'));
    }
    if (res.closeAfter || (this.#closing && queue.length === 0)) {
      const dropped = queue.splice(0);
      this.#request = null;
      this.#response = null;
      this.#deferred = null;
      for (const r of dropped) r.owner?.clientClosed();
      return this.#end();
    }
    const next = queue[0];
    if (next !== undefined) {
      next.release();
      const deferred = this.#deferred;
      if (deferred !== null && next === this.#response) {
        this.#deferred = null;
        this.handler.onRequest(deferred, next);
      }
      return;
    }
    // The idle timer belonged to the exchanges (an upload, a slow reader); between requests the
    // sweep's keep-alive deadline governs.
    if (this.socket.timeout) this.socket.setTimeout(0);
    if (this.#state === State.Waiting) this.#state = State.Head;
    if (this.#state !== State.Head) return;
    this.#request = null;
    this.#response = null;
    if (this.#headStartedAt === 0) this.deadline = this.sweep.now + this.sweep.keepAliveTimeoutMs;
    this.#paused = false;
    this.socket.resume();
    this.#run();
  }

  #end(): void {
    this.#state = State.Closed;
    this.socket.end();
    // Read (and discard) until the client's FIN, which completes the close; a client that never
    // sends one is cut by the sweep.
    this.deadline = this.sweep.now + LINGER_MS;
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
  }

  #refuse(err: ParseError): false {
    this.#state = State.Closed;
    this.#pos = this.#buf?.length ?? 0;
    this.deadline = 0;
    const res = new ResponseWriter(this.socket, { minor: 1, head: false, keepAlive: false }, this.#responseDone);
    // Behind responses still in flight, the refusal waits its turn; the connection ends after it.
    const queue = this.#queue;
    queue.push(res);
    if (queue.length > 1) res.hold();
    this.handler.onRefused(err, res);
    res.end();
    return false;
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.socket.pause();
  }

  #onEnd(): void {
    // The client finished sending. Between requests (or mid-head) the connection just closes. With
    // a request in progress the client is taken as gone, as Node's server and nginx take it (a
    // 499): the exchange aborts its upstream request instead of holding it for nobody. The
    // 'close' that follows tells the body's consumer and the response's owner.
    if (this.idle) this.#end();
    else if (this.#state !== State.Closed || this.#queue.length > 0) this.socket.destroy();
  }

  #onClose(): void {
    const prev = this.#state;
    this.#state = State.Closed;
    this.sweep.delete(this);
    if (prev === State.Body) {
      const sink = this.#sink;
      this.#sink = null;
      sink?.error(new Error('the client closed the connection'));
    }
    // The responses' producers stop (the exchanges abort their upstream requests).
    const queue = this.#queue.splice(0);
    this.#response = null;
    for (const res of queue) if (!res.finished && res.owner !== null) res.owner.clientClosed();
  }
}

/** The deadlines of every connection of a server, checked once a second (one timer per server). */
export class Http1Sweep {
  /** Coarse clock: Date.now() at the last tick. */
  now = Date.now();
  readonly #connections = new Set<Http1Connection>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    public keepAliveTimeoutMs: number,
    everyMs = 1000,
  ) {
    this.#timer = setInterval(() => this.tick(), everyMs);
    this.#timer.unref();
  }

  add(c: Http1Connection): void {
    this.#connections.add(c);
  }

  delete(c: Http1Connection): void {
    this.#connections.delete(c);
  }

  get size(): number {
    return this.#connections.size;
  }

  /** The connections being served (a detached one, a tunnel, is no longer among them). */
  connections(): IterableIterator<Http1Connection> {
    return this.#connections.values();
  }

  tick(): void {
    const now = (this.now = Date.now());
    for (const c of this.#connections) if (c.deadline !== 0 && c.deadline <= now) c.expired();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * The bytes of an incomplete head already show that its method is not a token: a byte that is
 * neither tchar nor the SP after the method (CR: the start of an empty line still arriving). Such a
 * head can never become a request, so it is refused at once rather than held until
 * limits.headersTimeout, as llhttp does: a TLS ClientHello on a clear-text port (0x16 0x03...) is
 * then answered in one round trip. Only incomplete heads come here, not the hot path.
 */
function badMethodStart(buf: Buffer, start: number): boolean {
  let p = start;
  while (p < buf.length && TCHAR[buf[p]!] === 1) p++;
  if (p === buf.length) return false;
  const c = buf[p];
  return p === start ? c !== CR : c !== SP;
}
