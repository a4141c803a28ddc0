/**
 * Protocol upgrades (WebSocket): routed, marked and dispatched like any request; tunnelled only once
 * the upstream has switched protocols.
 *
 * The HTTP/1.1 engine (src/http1) parses an upgrade request like any other and keeps its
 * connection: bytes the client sends after the head stay unread. The gateway sends the request
 * upstream through the endpoint's pool, with undici's `upgrade` option, so the connect and headers
 * timeouts apply as to any request (504), and then:
 * - the upstream answers `101` and switches to a protocol the client asked for: the engine lets go
 *   of the connection (Http1Connection.detach, which hands over the bytes read after the head), the
 *   101 is passed to the client and bytes are piped both ways until either side closes or nothing
 *   moves for `timeouts.tunnelIdle`;
 * - anything else (a 200, a 426, a 502 of the gateway's own...) is an ordinary response: written to
 *   the client as any other, after which the engine parses the next request on the connection
 *   (routed, normalised and logged like every request). Without this, a `200` to an upgrade
 *   request would leave a raw tunnel to that upstream for every later request on the connection.
 *
 * Not upgraded, but served as a plain request (its Upgrade and Connection fields are hop-by-hop
 * and not forwarded; RFC 9110 §7.8 lets a server ignore Upgrade):
 * `h2c` (HTTP/2 inside the tunnel would carry requests the gateway never sees: "h2c smuggling"),
 * an HTTP/1.0 request (§7.8: Upgrade must be ignored there), and a request with a body (its bytes
 * would otherwise be taken for the next request or the new protocol).
 *
 * `exposeLane` and visitor cookies do not apply to a 101. A tunnel does not depend on the snapshot,
 * so it survives reloads.
 */
import type { IncomingMessage } from 'node:http';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Http1Connection } from '../http1/index.js';
import { CLIENT_CLOSED, ProxyExchange } from './proxy.js';
import { latin1, type RawFields } from './headers.js';

/** A protocol token of RFC 9110 §7.8: `name` or `name/version`, each a token. */
const PROTOCOL = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?$/;

/**
 * The protocols of an `Upgrade` header the gateway will tunnel, joined by `, `: every listed
 * protocol but HTTP/2's (`h2c`, and `h2`, which RFC 9113 §3.2 forbids in Upgrade). '' when none is
 * left (the request is then served without upgrade); null when the header is not a list of
 * protocols.
 */
export function tunnelProtocols(upgrade: string | undefined): string | null {
  if (upgrade === undefined) return '';
  let out = '';
  for (const raw of upgrade.split(',')) {
    const protocol = raw.trim();
    if (protocol === '') continue;
    if (!PROTOCOL.test(protocol)) return null;
    const name = protocol.toLowerCase();
    if (name === 'h2c' || name === 'h2' || name.startsWith('h2c/') || name.startsWith('h2/')) continue;
    out = out === '' ? protocol : `${out}, ${protocol}`;
  }
  return out;
}

/**
 * The request head of `req` without its upgrade: `Upgrade` and `HTTP2-Settings` dropped, and the
 * `upgrade` and `http2-settings` options removed from `Connection` (its other options still name
 * hop-by-hop headers). Everything else, body framing included, is kept as the client sent it.
 * (Node's server needed this to parse an upgrade request again as a plain one; graylane's engine
 * serves it as one directly. Kept for the unit test that pins the rewrite.)
 */
export function requestHeadWithoutUpgrade(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade' || lower === 'http2-settings') continue;
    let value = raw[i + 1]!;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !/^(?:upgrade|http2-settings)$/i.test(t))
        .join(', ');
      if (value === '') continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/**
 * True when a 101 switches only to protocols the client asked for (RFC 9110 §7.8: "A server MUST
 * NOT switch to a protocol that was not indicated by the client"), compared without case.
 */
export function switchesToAsked(switched: string, asked: string): boolean {
  const wanted = asked.toLowerCase().split(',').map((p) => p.trim());
  let any = false;
  for (const raw of switched.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (!wanted.includes(p)) return false;
    any = true;
  }
  return any;
}

/** What an upgrade request brings to its exchange, for the tunnel it may become. */
export interface TunnelOptions {
  /** The protocols asked for, as sent upstream (see tunnelProtocols). */
  protocols: string;
  /** The client's connection, which becomes the tunnel's on a 101 (with the bytes read after the head). */
  connection: Http1Connection;
  /** An open tunnel with no byte in either direction for this long is closed. */
  idleMs: number;
}

/**
 * A proxied upgrade request. Until the upstream answers it is a ProxyExchange like any other (a
 * non-101 answer, a failure, a timeout or a client that leaves end it the same way); a 101 to a
 * protocol the client asked for turns it into a tunnel, whose access-log line (status 101) is
 * written when it closes. The observer is told of the 101 at once, with the handshake's duration.
 */
export class UpgradeExchange extends ProxyExchange {
  tunnel: TunnelOptions | null = null;

  onUpgrade(statusCode: number, rawHeaders: RawFields, upstream: Duplex): void {
    const options = this.tunnel!;
    if (this.done) {
      // The client left while the upstream was answering.
      upstream.destroy();
      return;
    }
    const head = switchingHead(statusCode, rawHeaders, options.protocols);
    if (head === null) {
      upstream.destroy();
      // Not what was asked for (or not valid HTTP): the answer is the gateway's 502.
      this.onError(Object.assign(new Error('the upstream switched to a protocol the client did not ask for'), { code: 'GRAYLANE_BAD_UPGRADE' }));
      return;
    }
    this.done = true;
    if (this.res.gone) {
      upstream.destroy();
      this.status = CLIENT_CLOSED;
      this.finish();
      return;
    }
    this.status = 101;
    this.sink.health.reportSuccess(this.endpoint.origin);
    // The connection is the tunnel's from here: the engine lets go of it, its response unwritten.
    const client = options.connection.socket;
    const early = options.connection.detach();
    this.finish(false);
    client.write(head, 'latin1');
    const tunnels = this.sink.tunnels;
    tunnels.set(client, { service: this.route.service.name, version: this.version });
    client.once('close', () => tunnels.delete(client));
    joinTunnel(client, upstream, early, options.idleMs, () => this.writeLog());
  }
}

/**
 * The 101 head passed to the client: the upstream's headers as received. Null when the status is
 * not 101, the 101 names no protocol or one the client did not ask for, or a header is not valid.
 */
function switchingHead(statusCode: number, rawHeaders: RawFields, asked: string): string | null {
  if (statusCode !== 101) return null;
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  let switched = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = latin1(rawHeaders[i]!);
    const value = latin1(rawHeaders[i + 1]!);
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      return null;
    }
    if (name.length === 7 && name.toLowerCase() === 'upgrade') switched = switched === '' ? value : `${switched}, ${value}`;
    head += `${name}: ${value}\r\n`;
  }
  return switchesToAsked(switched, asked) ? `${head}\r\n` : null;
}

/**
 * Pipes bytes both ways between the client and the upstream. An error or close on either side
 * closes both; so does `idleMs` without a byte in either direction (every byte is a read or a write
 * of the client socket, which is where the timer runs).
 */
function joinTunnel(client: Socket, upstream: Duplex, head: Buffer, idleMs: number, onEnd: () => void): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    upstream.destroy();
    client.destroy();
    onEnd();
  };
  upstream.on('error', end);
  upstream.on('close', end);
  client.on('error', end);
  client.on('close', end);
  client.on('timeout', end);
  client.setTimeout(idleMs);
  (upstream as Socket).setNoDelay?.(true);
  if (head.length > 0) upstream.write(head);
  upstream.pipe(client);
  client.pipe(upstream);
}
