/**
 * Graceful shutdown of an HTTP server: stop accepting, let in-flight requests finish, close the
 * keep-alive connections as they fall idle, and cut whatever is left when the deadline passes.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface DrainOptions {
  /** How long in-flight requests get before every connection is cut. */
  drainMs: number;
  /** Resolves when no request is in flight any more. */
  idle: Promise<void>;
  /** Called at the deadline, after the server's own connections were cut: end what the server does not track (upgraded tunnels). */
  onDeadline(): void;
}

/**
 * Drains `server`: resolves once every connection is closed, at the latest shortly after
 * `drainMs`. The caller must already make responses ask clients to close (`Connection: close`),
 * so that busy keep-alive connections end after their current response.
 */
export async function drainServer(server: Server<typeof IncomingMessage, typeof ServerResponse<IncomingMessage>>, opts: DrainOptions): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Node 19+ also does this inside close(); explicit, since it is the point.
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), opts.drainMs);
  });
  const settled = opts.idle.then(() => {
    // The connections that served the last requests are idle now (or closing by themselves).
    server.closeIdleConnections();
    return closed.then(() => 'closed' as const);
  });
  // Upgraded tunnels (WebSockets) also hold the server open: they get until the deadline.
  if ((await Promise.race([settled, deadline])) === 'deadline') {
    server.closeAllConnections();
    opts.onDeadline();
  }
  clearTimeout(timer);
  await closed;
}
