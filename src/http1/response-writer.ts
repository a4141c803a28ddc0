/**
 * The bytes of a response towards a client: the status line and fields, framed as the request and
 * the body allow (RFC 9112 §6), then the body.
 *
 * Framing is the writer's decision, not the caller's: the caller passes the fields it wants to send
 * (never Content-Length, Transfer-Encoding or Connection) and the body length when it knows it.
 * - no body: HEAD, 1xx, 204, 304 (a known length is still announced for HEAD and 304);
 * - a known length: Content-Length;
 * - unknown length: chunked to an HTTP/1.1 client, or delimited by closing the connection for
 *   HTTP/1.0 (which has no chunked coding);
 * - `Connection: close` whenever the connection will close after this response, `keep-alive` to an
 *   HTTP/1.0 client that asked for it.
 * The head is held until the first body bytes or the end, so head and first bytes leave in one write.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { latin1 } from './chars.js';
import { settled } from './read-buffer.js';

const CRLF = '\r\n';

/** Status lines with the standard reason phrase, built once per status. */
const STATUS_LINES: (string | undefined)[] = new Array<string | undefined>(600).fill(undefined);

/** `HTTP/1.1 <status> <reason>` CRLF; the standard reason when `reason` is absent. */
function statusLine(status: number, reason: string | undefined): string {
  const standard = STATUS_CODES[status];
  if ((reason !== undefined && reason !== standard) || !(status >= 100 && status < 600)) return `HTTP/1.1 ${status} ${reason ?? standard ?? 'Unknown'}${CRLF}`;
  let line = STATUS_LINES[status];
  if (line === undefined) line = STATUS_LINES[status] = `HTTP/1.1 ${status} ${standard ?? 'Unknown'}${CRLF}`;
  return line;
}

/** `[name, value, ...]` as field lines, `name: value` CRLF each (no check: the caller's fields are checked). */
export function fieldLines(flat: readonly string[]): string {
  let lines = '';
  for (let i = 0; i < flat.length; i += 2) lines += `${flat[i]}: ${flat[i + 1]}${CRLF}`;
  return lines;
}

/** Bodies up to this many bytes are written in one string with the head (or chunk framing). */
const SMALL_BODY = 2048;
/**
 * How many bytes of response may wait in the socket's buffer before write() tells the producer to
 * pause (Node's own high-water mark is 16 KiB). A large response then moves in a few large steps
 * instead of stop-and-go 16 KiB ones, which at 64 KiB bodies saved about a fifth of the proxy's CPU
 * per request (docs/benchmarks.md). The bound stays per connection: this, plus one chunk.
 */
const MAX_PENDING = 256 * 1024;
const LAST_CHUNK = '0\r\n\r\n';

export interface ResponseTarget {
  /** HTTP/1.minor of the request. */
  minor: number;
  /** The request was HEAD: never a body. */
  head: boolean;
  /** The connection may stay open after this response (the client allows it and we do). */
  keepAlive: boolean;
}

/** Told when the client connection closes before the response is complete (the exchange aborts upstream). */
export interface ResponseOwner {
  clientClosed(): void;
}

export class ResponseWriter {
  /** Who produces this response; told if the client leaves first. */
  owner: ResponseOwner | null = null;
  /** Headers sent (or held to be sent with the first bytes). */
  headSent = false;
  /** The response is complete. */
  finished = false;
  /** The connection must close after this response. */
  closeAfter = false;
  #socket: Socket;
  #target: ResponseTarget;
  #pendingHead: string | null = null;
  #chunked = false;
  #bodyless = false;
  /**
   * While the responses to earlier pipelined requests are being written, this one is held: its
   * bytes are kept (write() returns false, so its producer pauses after one chunk) and written in
   * order on release(). Null when not held, the usual case.
   */
  #held: Buffer[] | null = null;
  #heldInterim: string | null = null;
  #heldEnd = false;
  #onRelease: (() => void) | null = null;

  constructor(
    socket: Socket,
    target: ResponseTarget,
    /** Called once when end() completes the response (the connection may read the next request). */
    private readonly onEnd: ((res: ResponseWriter) => void) | null = null,
  ) {
    this.#socket = socket;
    this.#target = target;
    this.closeAfter = !target.keepAlive;
  }

  /**
   * An interim response (100 Continue, 103 Early Hints), written at once. HTTP/1.0 clients get none
   * (RFC 9110 §15.2).
   */
  writeInformational(status: number, fields: readonly string[]): void {
    if (this.headSent || this.#target.minor === 0) return;
    const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Informational'}${CRLF}${fieldLines(fields)}`;
    if (this.#held !== null) this.#heldInterim = (this.#heldInterim ?? '') + head + CRLF;
    else this.#socket.write(head + CRLF, 'latin1');
  }

  /**
   * The response head. `fields` is `[name, value, ...]` without framing fields; `length` is the
   * body's byte count, or -1 when unknown (streamed). `close` asks for the connection to end after.
   */
  writeHead(status: number, fields: readonly string[], length: number, close = false, reason?: string): void {
    this.writeHeadLines(status, fieldLines(fields), length, close, reason);
  }

  /**
   * writeHead with the fields already rendered: `lines` is `name: value` CRLF per field, without
   * framing fields, every byte already checked (a strict parser read them or the gateway wrote
   * them). The proxy passes an upstream's field lines this way, sliced from the bytes it read
   * (src/http1/response-fields.ts). Framing is added here exactly as for writeHead.
   */
  writeHeadLines(status: number, lines: string, length: number, close = false, reason?: string): void {
    if (this.headSent) throw new Error('response head already written');
    this.headSent = true;
    const t = this.#target;
    this.#bodyless = t.head || status < 200 || status === 204 || status === 304;
    let framing: string;
    if (status === 204 || (status < 200 && status !== 101)) framing = '';
    else if (length >= 0) framing = `content-length: ${length}${CRLF}`;
    else if (this.#bodyless) framing = '';
    else if (t.minor === 1) {
      framing = `transfer-encoding: chunked${CRLF}`;
      this.#chunked = true;
    } else {
      framing = ''; // HTTP/1.0: the close delimits the body
      close = true;
    }
    if (close) this.closeAfter = true;
    let head = statusLine(status, reason) + lines + framing;
    if (this.closeAfter) head += `connection: close${CRLF}`;
    else if (t.minor === 0) head += `connection: keep-alive${CRLF}`;
    this.#pendingHead = head + CRLF;
  }

  /**
   * Body bytes; false when the socket's buffer is full (wait for its 'drain'). `transient`: the
   * chunk is valid only during the call (a view of the upstream pool's shared read buffer,
   * src/http1/read-buffer.ts), so what is kept is copied; other chunks are kept as they are.
   */
  write(chunk: Buffer, transient = false): boolean {
    // Node's write() says false past 16 KiB waiting; the producer is asked to pause only past
    // MAX_PENDING. ('drain' still comes: it follows any write() that said false.)
    if (this.#held !== null) {
      // A copy: the producer may reuse its buffer once it is told to pause.
      this.#held.push(Buffer.from(chunk));
      settled(chunk, false);
      return false;
    }
    const ok = this.#write(chunk, transient);
    const socket = this.#socket;
    // A lent read buffer (read-buffer.ts) may be read into again once the kernel has every byte:
    // nothing waits in the socket's queue (a write that did not finish at once keeps its chunk
    // there). TLS is left out: what its layer keeps of a chunk is not the queue's to say.
    if (!transient) settled(chunk, socket.writableLength > 0 || (socket as { encrypted?: boolean }).encrypted === true);
    return ok || socket.writableLength < MAX_PENDING;
  }

  #write(chunk: Buffer, transient: boolean): boolean {
    if (this.#bodyless || chunk.length === 0) return this.#flushHead();
    const socket = this.#socket;
    const head = this.#pendingHead;
    this.#pendingHead = null;
    // Written as bytes, a chunk may wait in the socket's queue: a transient one is copied (see write()).
    if (!this.#chunked) {
      if (head === null) return chunk.length <= SMALL_BODY ? socket.write(latin1(chunk, 0, chunk.length), 'latin1') : socket.write(transient ? Buffer.from(chunk) : chunk);
      // A small body goes out in the head's string: one write of one string, which Node hands to
      // the kernel at once from the stack (no write request object, no vector). latin1 maps every
      // byte to one char and back, so the body's bytes are unchanged.
      if (chunk.length <= SMALL_BODY) return socket.write(head + latin1(chunk, 0, chunk.length), 'latin1');
      socket.cork();
      socket.write(head, 'latin1');
      const ok = socket.write(transient ? Buffer.from(chunk) : chunk);
      socket.uncork();
      return ok;
    }
    if (chunk.length <= SMALL_BODY) {
      return socket.write(`${head ?? ''}${chunk.length.toString(16)}${CRLF}${latin1(chunk, 0, chunk.length)}${CRLF}`, 'latin1');
    }
    socket.cork();
    socket.write(head === null ? `${chunk.length.toString(16)}${CRLF}` : `${head}${chunk.length.toString(16)}${CRLF}`, 'latin1');
    socket.write(transient ? Buffer.from(chunk) : chunk);
    const ok = socket.write(CRLF, 'latin1');
    socket.uncork();
    return ok;
  }

  /** Ends the response (the last chunk for a chunked body). */
  end(): void {
    if (this.finished) return;
    if (this.#held !== null) {
      this.#heldEnd = true;
      return;
    }
    this.finished = true;
    const head = this.#pendingHead;
    this.#pendingHead = null;
    const tail = this.#chunked && !this.#bodyless ? LAST_CHUNK : '';
    if (head !== null || tail !== '') this.#socket.write((head ?? '') + tail, 'latin1');
    this.onEnd?.(this);
  }

  /** The client connection is gone: nothing written now reaches it. */
  get gone(): boolean {
    return this.#socket.destroyed;
  }

  /** Calls `fn` once when the connection's buffer has drained after write() returned false. */
  onDrain(fn: () => void): void {
    if (this.#held !== null) this.#onRelease = fn;
    else this.#socket.once('drain', fn);
  }

  /** Holds this response until release(): a response before it on the connection is not complete. */
  hold(): void {
    this.#held ??= [];
  }

  /** Its turn: what it wrote while held goes out, in order; its producer is told to go on. */
  release(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    const socket = this.#socket;
    socket.cork();
    if (this.#heldInterim !== null) socket.write(this.#heldInterim, 'latin1');
    this.#heldInterim = null;
    for (const chunk of held) this.write(chunk);
    socket.uncork();
    if (this.#heldEnd) return this.end();
    const resume = this.#onRelease;
    this.#onRelease = null;
    // On the next tick: the producer (an upstream parser) must not be re-entered from inside
    // the callback of another response that ended this one's wait.
    if (resume !== null) {
      if (socket.writableNeedDrain) socket.once('drain', resume);
      else process.nextTick(resume);
    }
  }

  /**
   * Cuts the connection: the only honest signal left once a response head is out and its body
   * cannot be completed (the client sees a truncated message, never a wrong one).
   */
  destroy(): void {
    this.#socket.destroy();
  }

  /**
   * Arms the connection's idle timer for the rest of this exchange (a stalled upload, a client
   * not reading): the engine's 'timeout' handler decides. The connection disarms it when the
   * exchange ends.
   */
  armIdle(ms: number): void {
    if (this.#socket.timeout !== ms) this.#socket.setTimeout(ms);
  }

  #flushHead(): boolean {
    const head = this.#pendingHead;
    if (head === null) return true;
    this.#pendingHead = null;
    return this.#socket.write(head, 'latin1');
  }
}
