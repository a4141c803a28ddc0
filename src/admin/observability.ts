/**
 * Admin routes for watching the process:
 *
 * ```
 * GET /metrics            Prometheus text format (prom-client's registry and content type)
 * GET /api/v1/overview    the Overview JSON (src/metrics/overview.ts), with the full history
 * GET /api/v1/stream      server-sent events: the Overview once a second; the first event has the
 *                         full history, each later one only the points added since
 * ```
 * All are reads: no token needed.
 */
import type { ServerResponse } from 'node:http';
import type { Observability } from '../metrics/observability.js';
import type { Overview } from '../metrics/overview.js';
import type { ApiRoute } from './server.js';

/** A stream client this far behind (bytes queued) is cut rather than buffered for without end. */
const MAX_STREAM_BACKLOG = 1 << 20;

export function observabilityRoutes(obs: Observability): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/metrics',
      access: 'read',
      async handle(_req, res) {
        const text = await obs.registry.metrics();
        res.writeHead(200, {
          'content-type': obs.registry.contentType,
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        });
        res.end(text);
        return { handled: true };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/overview',
      access: 'read',
      async handle() {
        return { body: await obs.feed.overview() };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/stream',
      access: 'read',
      async handle(req, res) {
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          // Reverse proxies (nginx) would otherwise buffer the stream.
          'x-accel-buffering': 'no',
        });
        // The browser's EventSource reconnects after this many ms when the connection drops.
        res.write('retry: 1000\n\n');
        let closed = false;
        let unsubscribe: (() => void) | null = null;
        req.raw.socket.setTimeout(0);
        res.on('close', () => {
          closed = true;
          unsubscribe?.();
        });
        const first = await obs.feed.overview();
        if (!closed) {
          send(res, first);
          // Subscribed only now, so no tick can overtake the full first event.
          unsubscribe = obs.feed.subscribe((o) => send(res, o));
        }
        return { handled: true };
      },
    },
  ];
}

function send(res: ServerResponse, overview: Overview): void {
  if (res.writableLength > MAX_STREAM_BACKLOG) {
    res.destroy();
    return;
  }
  // JSON.stringify never writes a raw newline, so one `data:` line holds the whole event.
  res.write(`data: ${JSON.stringify(overview)}\n\n`);
}
