/**
 * A tiny HTTP/2 frame writer and reader for hostile-input tests (RFC 9113 §4, §6): raw frames on a
 * socket, HPACK only as literal fields (RFC 7541 §6.2) and indexed references (§6.1).
 */
import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const enum T {
  DATA = 0,
  HEADERS = 1,
  RST_STREAM = 3,
  SETTINGS = 4,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}
export const END_STREAM = 0x1;
export const END_HEADERS = 0x4;
export const ACK = 0x1;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1), the prefix's high bits `mask`. */
function int(n: number, prefix: number, mask: number): Buffer {
  const max = (1 << prefix) - 1;
  if (n < max) return Buffer.from([mask | n]);
  const out = [mask | max];
  n -= max;
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([int(b.length, 7, 0), b]);
}

/** Literal fields without indexing, new names (RFC 7541 §6.2.2). */
export function literal(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0]), str(n), str(v)]));
}

/** A literal field with incremental indexing (§6.2.1): it enters the dynamic table at index 62. */
export function indexedLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), str(name), str(value)]);
}

/** A reference to table entry `index` (§6.1). */
export function indexed(index: number): Buffer {
  return int(index, 7, 0x80);
}

/** The pseudo-header fields of a GET to `/` on `authority`. */
export function request(authority = 'x.test', path = '/', method = 'GET'): [string, string][] {
  return [
    [':method', method],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
  ];
}

/** What the server sent on a raw connection, read as frames. */
export interface Peer {
  socket: net.Socket;
  /** The first GOAWAY's error code once one arrived. */
  goaway: number | null;
  /** Every GOAWAY's error code, in order. */
  goaways: number[];
  /** RST_STREAM error codes received, by code. */
  resets: Map<number, number>;
  /** HEADERS frames received (responses). */
  headers: number;
  /** Every frame received, in order: type, flags, stream and payload length. */
  frames: { type: number; flags: number; stream: number; length: number }[];
  closed: boolean;
  /**
   * The socket error the connection ended with (`ECONNRESET`, `EPIPE`: the server reset it), or
   * null. A reset can discard what the server sent last (a GOAWAY) before this side read it.
   */
  error: string | null;
  /** Resolves when the connection closed (either side). */
  done: Promise<void>;
  write(b: Buffer): Promise<void>;
}

/**
 * A raw HTTP/2 connection: preface and an empty SETTINGS sent (unless `greet` is false: the caller
 * writes them), server frames parsed as they arrive.
 */
export async function connectRaw(port: number, greet = true): Promise<Peer> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buf: Buffer = Buffer.alloc(0);
  let resolveDone!: () => void;
  const peer: Peer = {
    socket,
    goaway: null,
    goaways: [],
    resets: new Map(),
    headers: 0,
    frames: [],
    closed: false,
    error: null,
    done: new Promise<void>((r) => (resolveDone = r)),
    write: (b) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        if (socket.write(b)) resolve();
        else {
          const go = (): void => {
            socket.off('close', go);
            socket.off('drain', go);
            resolve();
          };
          socket.once('drain', go);
          socket.once('close', go);
        }
      }),
  };
  socket.on('error', (err: NodeJS.ErrnoException) => (peer.error ??= err.code ?? err.message));
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3]!;
      const payload = buf.subarray(9, 9 + len);
      peer.frames.push({ type, flags: buf[4]!, stream: buf.readUInt32BE(5) & 0x7fffffff, length: len });
      if (type === T.GOAWAY) {
        peer.goaways.push(payload.readUInt32BE(4));
        peer.goaway ??= peer.goaways[0]!;
      }
      else if (type === T.RST_STREAM) {
        const code = payload.readUInt32BE(0);
        peer.resets.set(code, (peer.resets.get(code) ?? 0) + 1);
      } else if (type === T.HEADERS) peer.headers++;
      buf = buf.subarray(9 + len);
    }
  });
  socket.once('close', () => {
    peer.closed = true;
    resolveDone();
  });
  if (greet) await peer.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0)]));
  return peer;
}
