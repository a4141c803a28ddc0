/**
 * The head of an upstream's HTTP/1.1 response (RFC 9112 §4, §6.3), parsed as strictly as a
 * request head and into offsets the same way. A refused response is the gateway's 502: nothing
 * an upstream sends is passed on unless its framing is certain.
 *
 * Framing, in RFC 9112 §6.3's order: no body after HEAD or for 1xx, 204 and 304; chunked when
 * Transfer-Encoding is exactly `chunked`; otherwise Content-Length; otherwise until the upstream
 * closes. Refused: Content-Length with Transfer-Encoding, two Content-Lengths, a coding other than
 * chunked (the gateway would pass on bytes it cannot frame), a version other than 1.0/1.1.
 */
import { CR, equalsLower, LF, REASON, SP } from './chars.js';
import { E, type ParseError } from './errors.js';
import { connectionOptions, CONNECTION_CLOSE, CONNECTION_KEEP_ALIVE, CONNECTION_OTHER, Fields, scanFields } from './fields.js';
import { codings, tabAfter } from './request-head.js';

export class ResponseHead {
  status = 0;
  minor = 1;
  readonly fields: Fields;
  reasonStart = 0;
  reasonEnd = 0;
  /** Body framing: `none`, a length, chunked, or until the upstream closes the connection. */
  framing: 'none' | 'length' | 'chunked' | 'close' = 'none';
  contentLength = 0;
  /**
   * The value of the Content-Length field, -1 without one. Unlike contentLength it is kept when
   * the response has no body (HEAD, 304): a proxy still announces it (RFC 9110 §8.6).
   */
  declaredLength = -1;
  /**
   * A Connection field names an option other than close, keep-alive and upgrade: most likely a
   * field meant for this hop only, which a proxy removes (RFC 9110 §7.6.1; response-fields.ts).
   */
  connectionNames = false;
  /** The upstream keeps the connection open after this response. */
  keepAlive = true;
  /** The `timeout` of a Keep-Alive field (RFC 2068 §19.7.1.1, what servers announce their idle timeout with) in ms; -1 without one. */
  keepAliveHintMs = -1;
  /** Bytes of the head. */
  length = 0;

  constructor(maxHeaders: number) {
    this.fields = new Fields(maxHeaders);
  }
}

/**
 * Parses the head buf[start, end) (end just past CRLF CRLF) of the answer to a `method` request.
 * Returns null, or why it is refused (status 502).
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, head: ResponseHead, method: string): ParseError | null {
  let p = start;
  // "HTTP/1." DIGIT SP 3DIGIT [ SP reason-phrase ] CRLF
  if (buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 || buf[p + 4] !== 0x2f || buf[p + 5] !== 0x31 || buf[p + 6] !== 0x2e) return E.STATUS_LINE;
  const minor = buf[p + 7]! - 0x30;
  if ((minor !== 0 && minor !== 1) || buf[p + 8] !== SP) return E.STATUS_LINE;
  p += 9;
  const d0 = buf[p]! - 0x30;
  const d1 = buf[p + 1]! - 0x30;
  const d2 = buf[p + 2]! - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return E.STATUS_LINE;
  p += 3;
  let reasonStart = p;
  if (buf[p] === SP) {
    reasonStart = ++p;
    while (REASON[buf[p]!] === 1) p++;
  }
  const reasonEnd = p;
  if (buf[p] !== CR || buf[p + 1] !== LF) return E.STATUS_LINE;
  p += 2;
  if (scanFields(buf, p, end, head.fields) !== null) return E.RESPONSE_FIELDS;
  // HTTP/1.0 has no interim responses (RFC 9110 §15.2): an upstream sending one is confused.
  if (d0 === 1 && minor === 0) return E.STATUS_LINE;

  head.status = d0 * 100 + d1 * 10 + d2;
  head.minor = minor;
  head.reasonStart = reasonStart;
  head.reasonEnd = reasonEnd;
  head.length = end - start;
  return framing(buf, head, method);
}

function framing(buf: Buffer, head: ResponseHead, method: string): ParseError | null {
  const f = head.fields;
  let contentLength = -1;
  let te = false;
  let close = false;
  let keepAliveToken = false;
  let connectionNames = false;
  head.keepAliveHintMs = -1;
  for (let i = 0; i < f.count; i++) {
    const ns = f.nameStart(i);
    const ne = f.nameEnd(i);
    const n = ne - ns;
    if (n === 14 && equalsLower(buf, ns, ne, 'content-length')) {
      if (contentLength !== -1) return E.RESPONSE_FRAMING;
      contentLength = decimal(buf, f.valueStart(i), f.valueEnd(i));
      if (contentLength < 0 || tabAfter(buf, f.valueEnd(i))) return E.RESPONSE_FRAMING;
    } else if (n === 17 && equalsLower(buf, ns, ne, 'transfer-encoding')) {
      if (tabAfter(buf, f.valueEnd(i)) || codings(buf, f.valueStart(i), f.valueEnd(i), te) !== null) return E.RESPONSE_FRAMING;
      te = true;
    } else if (n === 10 && equalsLower(buf, ns, ne, 'connection')) {
      const bits = connectionOptions(buf, f.valueStart(i), f.valueEnd(i));
      if (bits & CONNECTION_CLOSE) close = true;
      if (bits & CONNECTION_KEEP_ALIVE) keepAliveToken = true;
      if (bits & CONNECTION_OTHER) connectionNames = true;
    } else if (n === 10 && equalsLower(buf, ns, ne, 'keep-alive')) {
      head.keepAliveHintMs = keepAliveTimeout(buf, f.valueStart(i), f.valueEnd(i));
    }
  }
  if (te && contentLength !== -1) return E.RESPONSE_FRAMING;
  const status = head.status;
  // An interim response that closes the connection leaves the final one nowhere to go: llhttp
  // reads nothing after it (found by `npm run fuzz`), so graylane refuses it outright.
  if (status < 200 && status !== 101 && close) return E.RESPONSE_FRAMING;
  head.keepAlive = !close && (head.minor === 1 || keepAliveToken);
  head.connectionNames = connectionNames;
  head.declaredLength = contentLength;
  head.contentLength = 0;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) {
    head.framing = 'none';
  } else if (te) {
    head.framing = 'chunked';
  } else if (contentLength !== -1) {
    head.framing = 'length';
    head.contentLength = contentLength;
  } else {
    head.framing = 'close';
    head.keepAlive = false;
  }
  return null;
}

/**
 * The `timeout=N` parameter of a Keep-Alive value (`timeout=5, max=100`) in ms, -1 without one.
 * Only a hint for how long an idle connection is kept: a malformed value is ignored, not refused.
 */
function keepAliveTimeout(buf: Uint8Array, start: number, end: number): number {
  for (let s = start; s < end; ) {
    while (s < end && (buf[s] === SP || buf[s] === 0x09 || buf[s] === 0x2c)) s++;
    let t = s;
    while (t < end && buf[t] !== 0x2c) t++;
    // `timeout=` then digits
    if (t - s > 8 && equalsLower(buf, s, s + 8, 'timeout=')) {
      let e = t;
      while (e > s + 8 && (buf[e - 1] === SP || buf[e - 1] === 0x09)) e--;
      const seconds = decimal(buf, s + 8, e);
      if (seconds >= 0) return seconds * 1000;
    }
    s = t;
  }
  return -1;
}

/** Plain decimal digits as a number; -1 when empty, not digits, or beyond 2^53. */
export function decimal(buf: Uint8Array, start: number, end: number): number {
  if (start === end || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
