/**
 * Reading sockets with `onread` (net.Socket's option): the kernel's bytes land in one buffer that
 * every connection shares, and a callback gets them. Node's default reading allocates a buffer per
 * read and sends it through the Readable machinery (push, 'data', a tick per read): about a tenth of
 * a proxied request's CPU in the bench rig (docs/benchmarks.md).
 *
 * One buffer is enough because reads run one at a time on this thread. The price: a read's bytes
 * are valid only during its callback; the next read of ANY connection overwrites them. Whoever keeps
 * bytes past the callback copies them.
 */
import net from 'node:net';

/** Where every `onread` socket of this process reads. */
export const READ_BUFFER = Buffer.alloc(64 * 1024);

/** `bytes` is a view of READ_BUFFER: valid only until the next read of any connection. */
export function isReadBufferView(bytes: Uint8Array): boolean {
  return bytes.buffer === READ_BUFFER.buffer;
}

/**
 * A connection's own read buffer, lent for one read (a large body's, client-connection.ts): its
 * bytes are handed on as they are, and the buffer is read into again only if whoever got them says
 * it kept nothing (a writer whose socket took every byte at once). Anything else keeps the buffer
 * out, and the next read gets a new one: the safe default for a consumer that says nothing.
 *
 * Reusing it matters for large bodies: a fresh 64 KiB per read is fresh memory the kernel's copy
 * faults in page by page, most of what a 1 MiB response costs (docs/benchmarks.md).
 */
let lent: ArrayBufferLike | null = null;
/** Views of the lent buffer were written through (and none kept) during the current read. */
let lentWritten = false;
let lentKept = false;

/** Lends `buf` for the read being handed on; returned() says whether it may be read into again. */
export function lend(buf: Buffer): void {
  lent = buf.buffer;
  lentWritten = false;
  lentKept = false;
}

/** The read is handled: true when its bytes reached a writer that kept none of them. */
export function returned(): boolean {
  const free = lentWritten && !lentKept;
  lent = null;
  return free;
}

/**
 * A writer tells what became of `chunk`: `kept` when it (or its socket's queue) holds the chunk
 * itself past this call. Chunks that are no view of a lent buffer are ignored.
 */
export function settled(chunk: Uint8Array, kept: boolean): void {
  if (lent === null || chunk.buffer !== lent) return;
  if (kept) lentKept = true;
  else lentWritten = true;
}

/**
 * A plain TCP connection accepted by a `pauseOnConnect` net.Server, made to read with `onread`.
 *
 * net.Server has no `onread` for the sockets it accepts, net.Socket has: the accepted socket's
 * handle is wrapped in a new net.Socket that reads with it, and `onBytes` gets each read as its
 * own copy (so the HTTP/1.1 engine may keep it, as it keeps Node's chunks). The accepted socket,
 * left without a handle, is destroyed when the new one closes: the server's count of connections,
 * which server.close() waits for, stays right.
 *
 * This leans on `socket._handle`, a field Node does not document. Where it is not the stream
 * handle expected (another Node), the accepted socket is returned as it is, resumed, and reads the
 * usual way ('data'): slower, never wrong. `reading` says which.
 */
export function readWithBuffer(
  accepted: net.Socket,
  allowHalfOpen: boolean,
  onBytes: (socket: net.Socket, chunk: Buffer) => boolean,
): { socket: net.Socket; userBuffer: boolean } {
  const internal = accepted as net.Socket & { _handle?: { useUserBuffer?: unknown; readStart?: unknown } | null };
  const handle = internal._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function' || typeof handle.readStart !== 'function') {
    accepted.resume();
    return { socket: accepted, userBuffer: false };
  }
  internal._handle = null;
  const socket: net.Socket = new net.Socket({
    handle,
    allowHalfOpen,
    readable: true,
    writable: true,
    onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => onBytes(socket, Buffer.from(buf.subarray(0, n))) },
  } as net.SocketConstructorOpts);
  socket.once('close', () => accepted.destroy());
  return { socket, userBuffer: true };
}
