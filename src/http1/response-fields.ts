/**
 * The header fields of an upstream's final response as a proxy passes them on, read from the
 * parsed head's offsets instead of from an array of strings.
 *
 * The gateway's exchange used to receive `[name, value, ...]` strings, copy them into a second
 * array without the fields a proxy must not pass on, and render that into `name: value` CRLF per
 * field. Here the field lines the client gets are sliced from the received bytes: a run of lines
 * passed on whole is one string (one latin1 slice), so a typical response (Content-Type, Date,
 * Content-Length, Connection) costs one to three slices and no array.
 *
 * Not passed on, as src/gateway/headers.ts `clientResponseHeaders` (the array path, which HTTP/2
 * clients and undici's pool still take) does not pass them on either:
 * - Content-Length: the client's response writer frames the body itself (see contentLength);
 * - the hop-by-hop fields Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 *   Transfer-Encoding and Upgrade (RFC 9110 §7.6.1; isHopByHopResponseHeader);
 * - every field the upstream's Connection fields name (RFC 9110 §7.6.1), ASCII case ignored.
 *
 * The view lives in the connection's read buffer (read-buffer.ts: shared by every connection),
 * so it is valid only during the handler's `onResponseFields` call; a read after it throws.
 */
import { CR, equalsLower, HTAB, latin1, sameFolded, SP } from './chars.js';
import { rawHeaders } from './header-object.js';
import type { ResponseHead } from './response-head.js';

const UNBOUND = Buffer.alloc(0);
const CRLF = '\r\n';

export class ResponseFields {
  #buf: Buffer = UNBOUND;

  /** One per upstream connection, over its ResponseHead: reused for every response. */
  constructor(readonly head: ResponseHead) {}

  /** The head just parsed into `head` lies in `buf`: the view reads it until release(). */
  bind(buf: Buffer): this {
    this.#buf = buf;
    return this;
  }

  /** The bytes are about to be reused: any later read throws rather than read someone else's. */
  release(): void {
    this.#buf = UNBOUND;
  }

  /** The value of the upstream's Content-Length field (as parsed once, response-head.ts), -1 without one. */
  get contentLength(): number {
    this.#bytes();
    return this.head.declaredLength;
  }

  /** The fields as `[name, value, ...]` latin1 strings, every field included: what onHeaders gets. */
  toRaw(): string[] {
    return rawHeaders(this.#bytes(), this.head.fields);
  }

  /**
   * The field lines a proxy passes on, each `name: value` CRLF, in the upstream's order and
   * spelling: exactly what rendering clientResponseHeaders' array would give (the differential
   * test in test/gateway/response-fields.test.ts holds the two to the same bytes). Fields named in
   * `without` (lower-case) are left out too: the gateway's own, which it writes after these.
   *
   * A line already in that form (one SP after the colon, no whitespace after the value) is copied
   * with its neighbours in one slice. Copying is safe because the parser refused everything that
   * could make a line mean something else: obs-fold, a bare CR or LF, NUL and other control bytes
   * in a value, whitespace before the colon (fields.ts). A line with other optional whitespace
   * (`Name:value`, `Name:  value `, allowed by RFC 9110 §5.6.3) is rewritten without it, as the
   * array path writes it.
   */
  proxiedLines(without: readonly string[] = NONE): string {
    const buf = this.#bytes();
    const head = this.head;
    const f = head.fields;
    const named = head.connectionNames;
    let out = '';
    // The run of lines copied as they are, [runStart, runEnd); -1: none open.
    let runStart = -1;
    let runEnd = 0;
    for (let i = 0; i < f.count; i++) {
      const ns = f.nameStart(i);
      const ne = f.nameEnd(i);
      const vs = f.valueStart(i);
      const ve = f.valueEnd(i);
      const kept = !notForwarded(buf, ns, ne) && !(named && listedInConnection(buf, f, ns, ne)) && !oneOf(buf, ns, ne, without);
      if (kept && vs === ne + 2 && buf[ne + 1] === SP && buf[ve] === CR) {
        // `name: value` CRLF as it stands: the line ends where the next begins.
        if (runStart === -1) runStart = ns;
        runEnd = ve + 2;
        continue;
      }
      if (runStart !== -1) {
        out += latin1(buf, runStart, runEnd);
        runStart = -1;
      }
      if (kept) out += `${latin1(buf, ns, ne)}: ${latin1(buf, vs, ve)}${CRLF}`;
    }
    if (runStart !== -1) out += latin1(buf, runStart, runEnd);
    return out;
  }

  #bytes(): Buffer {
    if (this.#buf === UNBOUND) throw new Error("an upstream response's fields were read after its onResponseFields call: the bytes are gone");
    return this.#buf;
  }
}

/**
 * Content-Length and the hop-by-hop fields (RFC 9110 §7.6.1, plus Trailer): the name buf[ns, ne)
 * (tchar bytes) compared by length first, so most names cost one switch. The same list as
 * src/gateway/headers.ts isHopByHopResponseHeader, on bytes.
 */
function notForwarded(buf: Buffer, ns: number, ne: number): boolean {
  switch (ne - ns) {
    case 2:
      return equalsLower(buf, ns, ne, 'te');
    case 7:
      return equalsLower(buf, ns, ne, 'upgrade') || equalsLower(buf, ns, ne, 'trailer');
    case 10:
      return equalsLower(buf, ns, ne, 'connection') || equalsLower(buf, ns, ne, 'keep-alive');
    case 14:
      return equalsLower(buf, ns, ne, 'content-length');
    case 16:
      return equalsLower(buf, ns, ne, 'proxy-connection');
    case 17:
      return equalsLower(buf, ns, ne, 'transfer-encoding');
    default:
      return false;
  }
}

const NONE: readonly string[] = [];

/** The name buf[ns, ne) is one of `names` (lower-case), ASCII case ignored; compared by length first. */
function oneOf(buf: Buffer, ns: number, ne: number, names: readonly string[]): boolean {
  for (let k = 0; k < names.length; k++) {
    if (names[k]!.length === ne - ns && equalsLower(buf, ns, ne, names[k]!)) return true;
  }
  return false;
}

type Offsets = ResponseHead['fields'];

/** The name buf[ns, ne) is an element of one of the head's Connection fields (only read when one names something). */
function listedInConnection(buf: Buffer, f: Offsets, ns: number, ne: number): boolean {
  for (let j = 0; j < f.count; j++) {
    const cs = f.nameStart(j);
    if (f.nameEnd(j) - cs === 10 && equalsLower(buf, cs, cs + 10, 'connection') && listsName(buf, f.valueStart(j), f.valueEnd(j), ns, ne)) return true;
  }
  return false;
}

/**
 * The comma-separated list buf[start, end) has the element buf[ns, ne), ASCII case ignored.
 * Elements are trimmed as the array path trims them (String#trim: in a field value that is SP,
 * HTAB and NBSP 0xA0), and `close`, `keep-alive` and `upgrade` are connection options, not field
 * names (src/gateway/headers.ts connectionTokens): both paths remove the same fields.
 */
function listsName(buf: Buffer, start: number, end: number, ns: number, ne: number): boolean {
  const n = ne - ns;
  for (let s = start; s < end; ) {
    let e = s;
    while (e < end && buf[e] !== 0x2c) e++;
    const next = e + 1;
    let a = s;
    while (a < e && isTrimmed(buf[a]!)) a++;
    while (e > a && isTrimmed(buf[e - 1]!)) e--;
    if (e - a === n && sameFolded(buf, a, ns, n) && !equalsLower(buf, a, e, 'close') && !equalsLower(buf, a, e, 'keep-alive') && !equalsLower(buf, a, e, 'upgrade')) {
      return true;
    }
    s = next;
  }
  return false;
}

function isTrimmed(c: number): boolean {
  return c === SP || c === HTAB || c === 0xa0;
}
