/**
 * Raw-socket tools for the hostile-input tests: bytes go to the gateway exactly as written (no
 * client library to fix them up), and what comes back is parsed here, leniently, so a test can
 * say "one 400, then the connection was closed" or "two responses on one connection".
 */
import net from 'node:net';
import type { Gateway } from '../../src/gateway/server.js';

export interface RawResponse {
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  status: number;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
}

export interface RawResult {
  /** Everything received, latin1. */
  text: string;
  responses: RawResponse[];
  /** The server closed (or reset) the connection before the client gave up waiting. */
  closedByServer: boolean;
}

export interface RawOptions {
  /** Written one after the other, `gapMs` apart (default 0: one write). */
  chunks?: string[];
  gapMs?: number;
  /** Stop waiting once this many complete responses arrived (default: wait for the close). */
  responses?: number;
  /** Upper bound on waiting for the close or the responses; then the client ends the socket. Default 5 s. */
  waitMs?: number;
}

/**
 * Sends `data` (or opts.chunks) to the gateway on a fresh TCP connection and collects the answer
 * until the server closes the connection, `opts.responses` complete responses have arrived, or
 * `opts.waitMs` has passed.
 */
export function raw(gw: Gateway | number, data: string, opts: RawOptions = {}): Promise<RawResult> {
  const port = typeof gw === 'number' ? gw : gw.address.port;
  const chunks = opts.chunks ?? [data];
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      resolve({ text, responses: parseResponses(text, closedByServer), closedByServer });
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (opts.responses !== undefined && parseResponses(text, false).length >= opts.responses) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      chunks.forEach((chunk, i) => {
        timers.push(
          setTimeout(() => {
            if (!socket.destroyed) socket.write(chunk, 'latin1');
          }, i * (opts.gapMs ?? 0)),
        );
      });
    });
    timers.push(setTimeout(() => finish(false), opts.waitMs ?? 5000));
  });
}

/**
 * Complete responses in `text`: bodies framed by Content-Length or chunked; a response without
 * either (HTTP/1.0 style) is complete only once the connection closed.
 */
export function parseResponses(text: string, closed: boolean): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd === -1) break;
    const lines = text.slice(at, headEnd).split('\r\n');
    const m = /^(HTTP\/1\.[01]) (\d{3})/.exec(lines[0]!);
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = headEnd + 4;
    let body: string;
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (text.length < bodyStart + length) break;
      body = text.slice(bodyStart, bodyStart + length);
      at = bodyStart + length;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      body = '';
      let complete = false;
      for (;;) {
        const lineEnd = text.indexOf('\r\n', bodyStart);
        if (lineEnd === -1) break;
        const size = parseInt(text.slice(bodyStart, lineEnd), 16);
        if (size === 0) {
          const trailerEnd = text.indexOf('\r\n', lineEnd + 2);
          if (trailerEnd === -1) break;
          at = trailerEnd + 2;
          complete = true;
          break;
        }
        if (text.length < lineEnd + 2 + size + 2) break;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        bodyStart = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
    } else if ([204, 304].includes(Number(m[2])) || Number(m[2]) < 200) {
      body = '';
      at = bodyStart;
    } else {
      if (!closed) break;
      body = text.slice(bodyStart);
      at = text.length;
    }
    out.push({ version: m[1]!, status: Number(m[2]), headers, body });
  }
  return out;
}

/** An upstream on raw TCP that records every byte it receives, per connection. */
export interface RawUpstream {
  url: string;
  port: number;
  /** Everything received on each connection (latin1), in the order connections were accepted. */
  received: string[];
  /** Connections open right now. */
  open: number;
  /** Whether each connection (same index as `received`) has closed. */
  closed: boolean[];
  close(): Promise<void>;
}

/**
 * What the upstream does with each complete request head on a connection (`n` counts from 1 per
 * connection). Returning 'tunnel' switches the connection to echo mode: every later byte is sent
 * back prefixed with `echo:` (what a protocol after a 101 would do, without its framing).
 */
export type RawBehaviour = (socket: net.Socket, head: string, n: number) => 'tunnel' | void;

/** Starts a RawUpstream on 127.0.0.1. Request bodies with a Content-Length are skipped over. */
export async function startRawUpstream(behaviour: RawBehaviour): Promise<RawUpstream> {
  const sockets = new Set<net.Socket>();
  const self = { received: [] as string[], open: 0, closed: [] as boolean[] } as RawUpstream;
  const server = net.createServer((socket) => {
    const index = self.received.push('') - 1;
    self.closed.push(false);
    self.open++;
    sockets.add(socket);
    socket.on('close', () => {
      self.closed[index] = true;
      self.open--;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    let buffered = '';
    let n = 0;
    let tunnel = false;
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      self.received[index] += text;
      if (tunnel) {
        socket.write(`echo:${text}`, 'latin1');
        return;
      }
      buffered += text;
      let end: number;
      while (!tunnel && (end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const head = buffered.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        buffered = buffered.slice(end + 4 + Math.min(length, buffered.length - end - 4));
        if (socket.destroyed) return;
        if (behaviour(socket, head, ++n) === 'tunnel') {
          tunnel = true;
          if (buffered !== '') socket.write(`echo:${buffered}`, 'latin1');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.port = (server.address() as net.AddressInfo).port;
  self.url = `http://127.0.0.1:${self.port}`;
  self.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return self;
}

/** An access-log destination that keeps the records, parsed. */
export function accessLogCollector(): { records: { method: string; path: string; route: string; status: number; version: string }[]; write(line: string): boolean } {
  const records: { method: string; path: string; route: string; status: number; version: string }[] = [];
  return {
    records,
    write(line: string) {
      records.push(JSON.parse(line));
      return true;
    },
  };
}

/**
 * A client connection for conversations: write, then wait until what was received satisfies a
 * condition (or the connection closes, or `ms` passes).
 */
export interface RawConversation {
  /** Everything received so far (latin1). */
  readonly text: string;
  readonly closed: boolean;
  write(data: string): void;
  /** Resolves once `cond(text)` holds or the connection closed; rejects after `ms`. */
  until(cond: (text: string) => boolean, ms?: number): Promise<string>;
  destroy(): void;
}

export async function converse(port: number): Promise<RawConversation> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let text = '';
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  return {
    get text() {
      return text;
    },
    get closed() {
      return closed;
    },
    write: (data) => void socket.write(data, 'latin1'),
    until(cond, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (cond(text) || closed) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(text);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`not received within ${ms} ms; got: ${JSON.stringify(text.slice(0, 400))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    destroy: () => socket.destroy(),
  };
}

/** One request as a recording upstream read it off the wire. */
export interface RecordedRequest {
  /** The request line, exactly as received (`GET /internal/x HTTP/1.1`). */
  line: string;
  /** The header lines, exactly as received, in order (`baggage: a=1`). */
  headerLines: string[];
  /** The body bytes after de-chunking (latin1); '' without a body. */
  body: string;
}

export interface RecordingUpstream {
  url: string;
  port: number;
  /** Every request received, in order. */
  received: RecordedRequest[];
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/**
 * An upstream on a raw socket that records each request's request line and header lines exactly
 * as they arrived, request by request (RawUpstream records the bytes per connection) (no HTTP library to join, decode or lower-case them) and answers `200` with the
 * body `<name>`, keeping the connection alive. Bodies are read by Content-Length or chunked.
 */
export async function startRecordingUpstream(name: string): Promise<RecordingUpstream> {
  const sockets = new Set<net.Socket>();
  const self = { received: [] as RecordedRequest[], connections: 0 } as RecordingUpstream;
  const server = net.createServer((socket) => {
    self.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let request = takeRequest(buffered); request !== null; request = takeRequest(buffered)) {
        buffered = buffered.slice(request.used);
        self.received.push(request.request);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${name.length}\r\n\r\n${name}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.port = (server.address() as net.AddressInfo).port;
  self.url = `http://127.0.0.1:${self.port}`;
  self.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return self;
}

/** The first complete request in `text` and how many characters it used, or null when incomplete. */
function takeRequest(text: string): { request: RecordedRequest; used: number } | null {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const [line, ...headerLines] = text.slice(0, headEnd).split('\r\n');
  const header = (n: string) => headerLines.find((h) => h.slice(0, h.indexOf(':')).trim().toLowerCase() === n)?.slice(n.length + 1).trim();
  let at = headEnd + 4;
  let body = '';
  if (/chunked/i.test(header('transfer-encoding') ?? '')) {
    for (;;) {
      const lineEnd = text.indexOf('\r\n', at);
      if (lineEnd === -1) return null;
      const size = parseInt(text.slice(at, lineEnd), 16);
      if (size === 0) {
        const end = text.indexOf('\r\n\r\n', lineEnd);
        if (end === -1) return null;
        at = end + 4;
        break;
      }
      if (text.length < lineEnd + 2 + size + 2) return null;
      body += text.slice(lineEnd + 2, lineEnd + 2 + size);
      at = lineEnd + 2 + size + 2;
    }
  } else {
    const length = Number(header('content-length') ?? 0);
    if (text.length < at + length) return null;
    body = text.slice(at, at + length);
    at += length;
  }
  return { request: { line: line!, headerLines, body }, used: at };
}

/** The values of header `name` (case-insensitive) in a recorded request, one per line, as written. */
export function headerLinesOf(request: RecordedRequest, name: string): string[] {
  const out: string[] = [];
  for (const h of request.headerLines) {
    const colon = h.indexOf(':');
    if (h.slice(0, colon).toLowerCase() === name) out.push(h.slice(colon + 1).trim());
  }
  return out;
}
