/**
 * Misbehaving upstreams for the fault tests, written on raw sockets so that each fault is exactly
 * the bytes (or the silence, or the reset) it claims to be. Each one counts the requests it saw.
 */
import net, { type AddressInfo } from 'node:net';

export interface FaultyUpstream {
  url: string;
  origin: string;
  port: number;
  /** Request heads received (one per request, however it ended). */
  requests: number;
  /** TCP connections accepted. */
  connections: number;
  close(): Promise<void>;
}

/** What the upstream does with each complete request head on a connection (`n` counts from 1 per connection). */
export type Behaviour = (socket: net.Socket, n: number, head: string) => void;

/** Answers 200 `ok` with a Content-Length (no body to HEAD) and keeps the connection open. */
export const OK: Behaviour = (socket, _n, head) => {
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n${head.startsWith('HEAD ') ? '' : 'ok'}`);
};

/**
 * A raw HTTP/1.1 upstream. Request bodies are not expected (GET/HEAD); a head is `...\r\n\r\n`.
 * Connections are reset (RST) on close() so nothing lingers.
 */
export async function startFaulty(behaviour: Behaviour, port = 0): Promise<FaultyUpstream> {
  const sockets = new Set<net.Socket>();
  const self = { requests: 0, connections: 0 } as FaultyUpstream;
  const server = net.createServer((socket) => {
    self.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        buffered = buffered.slice(Math.min(length, buffered.length));
        self.requests++;
        if (!socket.destroyed) behaviour(socket, ++n, head);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  self.port = (server.address() as AddressInfo).port;
  self.origin = `http://127.0.0.1:${self.port}`;
  self.url = self.origin;
  self.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.resetAndDestroy();
      server.close(() => resolve());
    });
  return self;
}
