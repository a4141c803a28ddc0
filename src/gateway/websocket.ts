/**
 * Protocol upgrades (WebSocket): matched, marked and dispatched like any request, then tunnelled.
 *
 * The gateway opens a TCP (or TLS) connection to the chosen endpoint, writes the request head
 * (the lane headers and X-Forwarded-* added, Upgrade and Connection kept) and then pipes bytes both
 * ways; the upstream's `101 Switching Protocols` and every frame after it pass through untouched,
 * so `exposeLane` and visitor cookies do not apply to upgrades. An error on either side closes
 * both. A tunnel does not depend on the snapshot, so it survives reloads.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../routing/types.js';
import { errorBody, STATUS, type GatewayErrorCode } from './errors.js';

/** Where and how to open one tunnel; built by the server after mark and dispatch. */
export interface TunnelPlan {
  /** Route and version names, for error bodies. */
  route: string;
  version: string;
  endpoint: Endpoint;
  /** Upstream request headers, `[name, value, ...]`, Upgrade and Connection included. */
  headers: readonly string[];
  connectMs: number;
  /** Called once: the upstream connection opened (true) or failed (false). */
  onConnectResult(ok: boolean): void;
  /** Called once when the tunnel (or the attempt) is over, with the status the client saw. */
  onEnd(status: number): void;
}

/**
 * Writes the gateway's own HTTP error answer on a raw client socket (an upgrade that cannot be
 * served) and closes it.
 */
export function rejectUpgrade(socket: Duplex, code: GatewayErrorCode, fields: Record<string, string | null>): void {
  const body = errorBody(code, fields);
  const status = STATUS[code];
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Opens the upstream connection for an upgrade request and joins the two sockets. `client` is the
 * socket Node's server hands to its 'upgrade' event, `head` the bytes already read after the
 * request head.
 */
export function openTunnel(req: IncomingMessage, client: Duplex, head: Buffer, plan: TunnelPlan): void {
  let requestText: string;
  try {
    requestText = requestHead(req, plan.endpoint.basePath, plan.headers);
  } catch {
    rejectUpgrade(client, 'bad_gateway', { route: plan.route, version: plan.version, endpoint: plan.endpoint.url });
    plan.onEnd(STATUS.bad_gateway);
    return;
  }
  const url = new URL(plan.endpoint.origin);
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const upstream: Socket = secure
    ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'] })
    : net.connect({ host, port });
  let connected = false;
  let ended = false;
  let status = 101;
  const end = () => {
    if (ended) return;
    ended = true;
    // The client left before the upstream answered the connect.
    if (!connected) status = 499;
    upstream.destroy();
    client.destroy();
    plan.onEnd(status);
  };

  upstream.setTimeout(plan.connectMs, () => {
    if (connected) return;
    status = STATUS.upstream_timeout;
    plan.onConnectResult(false);
    rejectUpgrade(client, 'upstream_timeout', { route: plan.route, version: plan.version, endpoint: plan.endpoint.url });
    ended = true;
    upstream.destroy();
    plan.onEnd(status);
  });
  upstream.once(secure ? 'secureConnect' : 'connect', () => {
    connected = true;
    // WebSockets are long-lived and may be quiet for minutes: no idle timeout on the tunnel.
    upstream.setTimeout(0);
    upstream.setNoDelay(true);
    plan.onConnectResult(true);
    upstream.write(requestText);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', () => {
    if (connected || ended) return end();
    status = STATUS.bad_gateway;
    plan.onConnectResult(false);
    ended = true;
    rejectUpgrade(client, 'bad_gateway', { route: plan.route, version: plan.version, endpoint: plan.endpoint.url });
    plan.onEnd(status);
  });
  upstream.on('close', end);
  client.on('error', end);
  client.on('close', end);
}

/**
 * The HTTP/1.1 request head sent upstream: request line, headers, blank line. Every header is
 * validated (no CR/LF smuggled in through a config value), as undici does on the HTTP path; an
 * invalid one throws.
 */
export function requestHead(req: IncomingMessage, basePath: string, headers: readonly string[]): string {
  let head = `${req.method} ${basePath}${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    validateHeaderName(headers[i]!);
    validateHeaderValue(headers[i]!, headers[i + 1]!);
    head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  return `${head}\r\n`;
}
