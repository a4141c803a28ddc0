/**
 * One HTTP/2 stream's request, as the gateway reads it: the ClientRequest of src/gateway/proxy.ts
 * and the MirrorSource of src/gateway/mirror.ts (satisfied structurally), with a header object
 * shaped as HTTP/1.1's, so that routing, marking and the upstream header rewrite need not know
 * the protocol:
 * - `:authority` becomes `host` (HTTP/1.1 upstreams need it, and it is what routes match);
 * - the other pseudo-header fields are removed (`:method`, `:path` are method and target);
 * - repeated fields are joined as Node joins them for HTTP/1.1, Cookie with `; ` (RFC 9113
 *   §8.2.3), which Node's HTTP/2 header object already does.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Readable } from 'node:stream';
import { ObjectHeaders } from '../routing/request-values.js';

export class Http2Request {
  readonly method: string;
  /** The request target (`:path`); the gateway replaces it with its normalised form. */
  target: string;
  /** The request's fields without pseudo-header fields, `host` from `:authority`. */
  readonly headers: IncomingHttpHeaders;
  /** The same, as the gateway and routing look fields up (HTTP/1.1's engine reads its parsed head instead). */
  readonly fields: ObjectHeaders;
  /** The request carries a body (no END_STREAM on its HEADERS). */
  readonly hasBody: boolean;
  /** The body has been received to its end (true at once without one). */
  complete: boolean;
  /** The HTTP/2 engine refuses malformed framing itself (RST_STREAM): never set here. */
  readonly bodyRefused = null;
  /** What the access log shows. */
  readonly protocol = 'HTTP/2';
  /** `:scheme` as the client sent it. */
  readonly scheme: string;
  /** A Host field that names another authority than `:authority` (RFC 9113 §8.3.1 makes that malformed), or null. */
  readonly conflictingHost: string | null;
  /** Regular fields received (pseudo-header fields not counted), for limits.maxHeaders. */
  readonly fieldCount: number;

  constructor(
    readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    endStream: boolean,
    /** The connection's peer address (X-Forwarded-For). */
    readonly remoteAddress: string | undefined,
    /** The connection is TLS (X-Forwarded-Proto). */
    readonly encrypted: boolean,
  ) {
    this.method = headers[':method'] ?? '';
    this.target = headers[':path'] ?? '';
    this.scheme = headers[':scheme'] ?? '';
    const authority = headers[':authority'];
    const host = headers.host;
    this.conflictingHost = authority !== undefined && host !== undefined && !sameAuthority(host, authority) ? host : null;
    let count = 0;
    // Node's header object has a null prototype: own names only.
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 /* : */) delete headers[name];
      else count++;
    }
    if (authority !== undefined) headers.host = authority;
    this.fieldCount = count;
    this.headers = headers;
    this.fields = new ObjectHeaders(headers);
    this.hasBody = !endStream;
    this.complete = endStream;
  }

  /** The body as the Readable undici sends upstream (call once, only when hasBody). */
  body(): Readable {
    return new Http2Body(this);
  }
}

/**
 * `host` names the same authority as `:authority` (RFC 9113 §8.3.1): equal once ASCII letters are
 * folded, since host names are case-insensitive (RFC 3986 §6.2.2.1). Only ASCII: a non-ASCII byte
 * must match exactly (Unicode case mapping would let `\u212A`, the Kelvin sign, pass for `k`).
 * Allocation-free.
 */
function sameAuthority(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Setting bit 5 lower-cases A-Z; the pair differs only in case when both fold to one letter.
    const lower = x | 0x20;
    if (lower !== (y | 0x20) || lower < 0x61 || lower > 0x7a) return false;
  }
  return true;
}

/**
 * The request body, fed from the stream with backpressure both ways: when undici's side is full
 * the stream is paused, so Node stops acknowledging DATA and the client's flow-control window
 * closes (RFC 9113 §5.2); undici's next read resumes it. A separate stream, not the Http2Stream
 * itself, because undici destroys the body it was given when the upstream request fails, and the
 * client stream must outlive that to be answered.
 */
class Http2Body extends Readable {
  #started = false;

  constructor(private readonly req: Http2Request) {
    super();
  }

  override _read(): void {
    const stream = this.req.stream;
    if (this.#started) {
      stream.resume();
      return;
    }
    this.#started = true;
    stream.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    stream.once('end', () => {
      this.req.complete = true;
      this.push(null);
    });
    stream.once('close', () => {
      // Reset by the client (or the session went away) before the body ended.
      if (!this.req.complete) this.destroy(Object.assign(new Error('the client reset the stream during its request body'), { code: 'ECONNRESET' }));
    });
  }
}
