/**
 * Header field lines (RFC 9112 §5): `name ":" OWS value OWS CRLF`, parsed into offsets over the
 * received bytes, not into strings. Used for request heads, response heads and chunked trailers.
 *
 * Strict on purpose (a lenient parser is where request smuggling starts): a name is one or more
 * tchar followed at once by the colon (whitespace before it is refused, RFC 9112 §5.1); a line
 * starting with whitespace (obs-fold) is refused (§5.2); a value holds no control byte but HTAB;
 * every line ends in CRLF.
 */
import { COLON, CR, equalsLower, FIELD_VALUE, HTAB, LF, SP, TCHAR } from './chars.js';
import { E, type ParseError } from './errors.js';

/** Offsets of parsed fields: for field i, name [4i, 4i+1), value [4i+2, 4i+3) (value without OWS). */
export class Fields {
  readonly offsets: Uint32Array;
  count = 0;

  constructor(readonly max: number) {
    this.offsets = new Uint32Array(4 * (max + 1));
  }

  nameStart(i: number): number {
    return this.offsets[4 * i]!;
  }
  nameEnd(i: number): number {
    return this.offsets[4 * i + 1]!;
  }
  valueStart(i: number): number {
    return this.offsets[4 * i + 2]!;
  }
  valueEnd(i: number): number {
    return this.offsets[4 * i + 3]!;
  }
}

/**
 * Parses the field lines of buf[p, end), where `end` is just past the CRLF of the empty line that
 * closes the section (the caller found it). Fills `fields`; returns null, or why the section is
 * refused. More than `fields.max` fields is TOO_MANY_FIELDS.
 */
export function scanFields(buf: Buffer, p: number, end: number, fields: Fields): ParseError | null {
  const offsets = fields.offsets;
  const last = end - 2; // the empty line's CR
  let n = 0;
  while (p < last) {
    const nameStart = p;
    while (TCHAR[buf[p]!] === 1) p++;
    if (buf[p] !== COLON) {
      const c = buf[nameStart];
      return p === nameStart && (c === SP || c === HTAB) ? E.OBS_FOLD : c === LF || buf[p] === LF ? E.BARE_LF : E.FIELD_NAME;
    }
    if (p === nameStart) return E.FIELD_NAME;
    const nameEnd = p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const valueStart = p;
    // Up to the line's CR in one tight loop: CR is not a value byte, so the loop stops there or at
    // a byte that has no place in a value. (A native indexOf per line cost more than the loop for
    // the short values of real heads.)
    while (FIELD_VALUE[buf[p]!] === 1) p++;
    if (buf[p] !== CR) return buf[p] === LF ? E.BARE_LF : E.FIELD_VALUE;
    const cr = p;
    let valueEnd = cr;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    if (buf[p + 1] !== LF) return E.LINE_END;
    p += 2;
    if (n === fields.max) return E.TOO_MANY_FIELDS;
    const o = 4 * n++;
    offsets[o] = nameStart;
    offsets[o + 1] = nameEnd;
    offsets[o + 2] = valueStart;
    offsets[o + 3] = valueEnd;
  }
  fields.count = n;
  return p === last ? null : E.LINE_END;
}

const TERMINATOR = Buffer.from('\r\n\r\n');

/**
 * Where a head ends: the index just past its CRLF CRLF, or -1 when it has not all arrived, or
 * BARE_LF when a line ends in a bare LF (such a head would never end: refuse it at once). The head
 * starts at `start`; the search starts at `from` (the previous end of data minus 3, or `start`), so
 * a head arriving in pieces is scanned once in all. `end` is the end of the data, `buf.length` or less.
 */
export function findHeadEnd(buf: Buffer, start: number, from: number, end: number): number | ParseError {
  const i = buf.indexOf(TERMINATOR, from);
  if (i !== -1 && i + 4 <= end) return i + 4;
  for (let lf = buf.indexOf(LF, from); lf !== -1 && lf < end; lf = buf.indexOf(LF, lf + 1)) {
    if (lf === start || buf[lf - 1] !== CR) return E.BARE_LF;
  }
  return -1;
}

/**
 * Skips the empty lines (CRLF) a client may send before a request line (RFC 9112 §2.2: a server
 * SHOULD ignore at least one, e.g. after a POST body some clients end with an extra CRLF). Returns
 * the new start; it may equal `end` (nothing but empty lines so far).
 */
export function skipEmptyLines(buf: Uint8Array, start: number, end: number): number {
  while (start + 1 < end && buf[start] === CR && buf[start + 1] === LF) start += 2;
  return start;
}

/** Options of a Connection field (RFC 9110 §7.6.1) that framing reads, as bits. */
export const CONNECTION_CLOSE = 1;
export const CONNECTION_KEEP_ALIVE = 2;
export const CONNECTION_UPGRADE = 4;
/** Any other option: the name of a field the message's sender means for this hop only (RFC 9110 §7.6.1). */
export const CONNECTION_OTHER = 8;

/** The CONNECTION_* bits of the Connection value buf[start, end). */
export function connectionOptions(buf: Uint8Array, start: number, end: number): number {
  let bits = 0;
  for (let s = start; s < end; ) {
    while (s < end && (buf[s] === SP || buf[s] === HTAB || buf[s] === 0x2c)) s++;
    let t = s;
    while (t < end && buf[t] !== 0x2c && buf[t] !== SP && buf[t] !== HTAB) t++;
    if (equalsLower(buf, s, t, 'close')) bits |= CONNECTION_CLOSE;
    else if (equalsLower(buf, s, t, 'keep-alive')) bits |= CONNECTION_KEEP_ALIVE;
    else if (equalsLower(buf, s, t, 'upgrade')) bits |= CONNECTION_UPGRADE;
    else if (t > s) bits |= CONNECTION_OTHER;
    s = t;
  }
  return bits;
}
