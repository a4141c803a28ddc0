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
