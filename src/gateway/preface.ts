/**
 * Which protocol a clear-text connection of an `h2c` listener speaks, read from its first bytes, as
 * Envoy's `codec_type: AUTO` does: a connection that opens with the HTTP/2 client preface
 * (RFC 9113 §3.4) is HTTP/2 with prior knowledge, anything else is HTTP/1.1. So HTTP/1.1 clients
 * (`fetch`, `http.request`, curl) and HTTP/2 ones (gRPC) share one port.
 *
 * The verdict comes as soon as the bytes seen differ from the preface, which for an HTTP/1.1
 * request is nearly always the first byte; only a connection whose bytes so far are a prefix of the
 * preface waits for more. `PRI` is a method llhttp knows, so the whole 24 bytes are compared, not a
 * prefix of them. The bytes read are put back on the socket (socket.unshift) before the engine that
 * takes the connection starts reading, so it sees them as the first ones received.
 *
 * Plain HTTP/1.1 listeners never come here: their connections go straight to the engine.
 */
import type { Socket } from 'node:net';

/** The client connection preface of HTTP/2, RFC 9113 §3.4. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const enum Protocol {
  /** The bytes so far are a prefix of the preface: wait for more. */
  Undecided,
  Http1,
  Http2,
}

/** What `bytes`, the first a client sent, say about its protocol. */
export function protocolOf(bytes: Buffer): Protocol {
  const n = Math.min(bytes.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== PREFACE[i]) return Protocol.Http1;
  return n === PREFACE.length ? Protocol.Http2 : Protocol.Undecided;
}

/** Where a connection goes once its protocol is known. */
export interface PrefaceRoutes {
  http1(socket: Socket): void;
  http2(socket: Socket): void;
}

/**
 * Reads the first bytes of connections until their protocol is known, then hands each to its
 * engine. One per gateway; it knows the connections still undecided, for the drain.
 */
export class PrefaceSniffer {
  /** Connections whose protocol is not known yet. */
  readonly #pending = new Set<Socket>();

  /**
   * Reads `socket` until its protocol is known, then calls `routes`. A connection whose first bytes
   * do not say within `timeoutMs` (limits.headersTimeout: a client that sends `PRI` and stops), or
   * that ends or fails first, is closed.
   */
  sniff(socket: Socket, timeoutMs: number, routes: PrefaceRoutes): void {
    let seen: Buffer | null = null;
    const onData = (chunk: Buffer): void => {
      seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
      const protocol = protocolOf(seen);
      if (protocol === Protocol.Undecided) return;
      stop();
      // Paused before the bytes go back, so none is emitted before the engine listens.
      socket.pause();
      socket.unshift(seen);
      seen = null;
      if (protocol === Protocol.Http2) return routes.http2(socket);
      routes.http1(socket);
      // The engine's 'data' listener does not resume a stream paused by hand.
      if (!socket.destroyed) socket.resume();
    };
    const onGone = (): void => {
      stop();
      socket.destroy();
    };
    const timer = setTimeout(onGone, timeoutMs);
    timer.unref();
    const stop = (): void => {
      clearTimeout(timer);
      this.#pending.delete(socket);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('error', onGone);
      socket.off('close', onGone);
    };
    this.#pending.add(socket);
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('error', onGone);
    socket.on('close', onGone);
  }

  /** The drain: connections that have not said what they speak have sent no request; they are closed. */
  destroyAll(): void {
    for (const socket of [...this.#pending]) socket.destroy();
  }
}
