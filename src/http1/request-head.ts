/**
 * The head of an HTTP/1.1 request (RFC 9112 §3, §5, §6), parsed strictly into offsets over the
 * received bytes. One RequestHead is reused for every request of a connection, so parsing a request
 * allocates only its method (interned for the common ones) and target strings.
 *
 * Refused, with the status a server answers (errors.ts): anything but `method SP target SP
 * HTTP/1.x CRLF`; an unknown method (the list llhttp knows) and CONNECT; a target that is not a
 * path (origin form), or has a byte outside visible ASCII or a `#`; a version other than 1.0 or 1.1 (505); malformed field lines (fields.ts); no Host
 * in HTTP/1.1, or two; a Content-Length that is not plain digits, or two of them; Content-Length
 * with Transfer-Encoding; Transfer-Encoding in HTTP/1.0, not ending in chunked, or with another
 * coding (501); an Expect other than 100-continue (417); the limits. That is at least everything
 * strict llhttp refuses, which the differential test (request-head.diff.test.ts) holds it to.
 */
import { METHODS } from 'node:http';
import { CR, equalsLower, HTAB, latin1, LF, SP, TARGET, TCHAR } from './chars.js';
import { E, type ParseError } from './errors.js';
import { connectionOptions, CONNECTION_CLOSE, CONNECTION_KEEP_ALIVE, CONNECTION_UPGRADE, Fields, scanFields } from './fields.js';
import { decimal } from './response-head.js';

export interface HeadLimits {
  /** Largest head (request line and field lines) in bytes. */
  maxHeaderBytes: number;
  /** Most header fields. */
  maxHeaders: number;
  /** Longest request target in bytes. */
  maxUrlBytes: number;
}

/** Methods by their bytes' latin1 string: interned, so comparing a method is comparing references. */
const KNOWN_METHODS = new Map(METHODS.map((m) => [m, m]));

export class RequestHead {
  method = '';
  target = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor = 1;
  readonly fields: Fields;
  /** Index of the Host field, -1 without one (HTTP/1.0). */
  host = -1;
  /** Body framing: a length (0 without a body), or chunked (contentLength is then -1). */
  contentLength = 0;
  chunked = false;
  /** The connection stays open after this exchange (RFC 9112 §9.3). */
  keepAlive = true;
  /** `Connection: upgrade` with an `Upgrade` field: the client asks to switch protocols. */
  upgrade = false;
  /** `Expect: 100-continue`. */
  expectContinue = false;
  /** Bytes of the head, from its first byte to the end of the empty line. */
  length = 0;

  constructor(readonly limits: Readonly<HeadLimits>) {
    this.fields = new Fields(limits.maxHeaders);
  }
}

/**
 * Parses the head buf[start, end), where `end` is just past its CRLF CRLF (findHeadEnd). Fills
 * `head` and returns null, or returns why the request is refused (the connection must then close:
 * after a refused head the framing of what follows is unknown).
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, head: RequestHead): ParseError | null {
  const limits = head.limits;
  if (end - start > limits.maxHeaderBytes) return E.HEAD_TOO_LARGE;
  let p = start;
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
  while (buf[p] === CR && buf[p + 1] === LF) p += 2;

  const methodStart = p;
  while (TCHAR[buf[p]!] === 1) p++;
  if (p === methodStart || buf[p] !== SP) return p === methodStart && methodStart === start ? E.NOT_HTTP : E.METHOD;
  const method = methodOf(buf, methodStart, p);
  if (method === null) return E.UNKNOWN_METHOD;
  if (method === 'CONNECT') return E.CONNECT; // a reverse proxy opens no tunnels on request

  const targetStart = ++p;
  // Origin form only (`/path?query`, RFC 9112 §3.2.1): absolute-form is for forward proxies, and
  // `*` names no resource a route could match.
  if (buf[p] !== 0x2f /* / */) return buf[p] === SP ? E.TARGET_EMPTY : E.TARGET_FORM;
  while (TARGET[buf[p]!] === 1) p++;
  if (buf[p] !== SP) return buf[p] === CR && buf[p + 1] === LF ? E.HTTP09 : E.TARGET;
  if (p - targetStart > limits.maxUrlBytes) return E.TARGET_TOO_LONG;
  const targetEnd = p++;

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF.
  if (buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 || buf[p + 4] !== 0x2f || buf[p + 6] !== 0x2e) return E.VERSION;
  const major = buf[p + 5]! - 0x30;
  const minor = buf[p + 7]! - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return E.VERSION;
  p += 8;
  if (buf[p] !== CR || buf[p + 1] !== LF) return buf[p] === LF ? E.BARE_LF : E.LINE_END;
  // llhttp knows 1.0, 1.1 and 2.0 (and 0.9): a 2.0 request line is a version it parses and this
  // listener does not serve (505); anything else is no HTTP version at all (400), as for llhttp.
  if (major !== 1 || minor > 1) return major === 2 && minor === 0 ? E.VERSION_UNSUPPORTED : E.VERSION;
  p += 2;

  const fields = head.fields;
  const bad = scanFields(buf, p, end, fields);
  if (bad !== null) return bad;

  head.method = method;
  head.target = latin1(buf, targetStart, targetEnd);
  head.minor = minor;
  head.length = end - start;
  return framing(buf, head);
}

function methodOf(buf: Buffer, start: number, end: number): string | null {
  const n = end - start;
  if (n === 3 && buf[start] === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
  if (n === 4 && buf[start] === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return 'POST';
  if (n > 11) return null; // the longest known method is UNSUBSCRIBE
  return KNOWN_METHODS.get(latin1(buf, start, end)) ?? null;
}

/** Reads Host, Content-Length, Transfer-Encoding, Connection, Upgrade and Expect into `head`. */
function framing(buf: Buffer, head: RequestHead): ParseError | null {
  const f = head.fields;
  let host = -1;
  let contentLength = -1;
  let te = false;
  let chunked = false;
  let close = false;
  let keepAliveToken = false;
  let upgradeToken = false;
  let upgradeField = false;
  let expectContinue = false;
  /** A coding this gateway does not decode: 501, unless the head is refused for a reason found later (CL with TE). */
  let unknownCoding: ParseError | null = null;
  /** A Transfer-Encoding field with no coding in it (RFC 9110 §5.6.1: empty list elements are ignored). */
  let teEmpty = false;
  for (let i = 0; i < f.count; i++) {
    const ns = f.nameStart(i);
    const ne = f.nameEnd(i);
    const vs = f.valueStart(i);
    const ve = f.valueEnd(i);
    switch (ne - ns) {
      case 4:
        if (equalsLower(buf, ns, ne, 'host')) {
          if (host !== -1) return E.HOST_TWICE;
          host = i;
        }
        break;
      case 6:
        if (equalsLower(buf, ns, ne, 'expect')) {
          if (!equalsLower(buf, vs, ve, '100-continue')) return E.EXPECTATION;
          expectContinue = true;
        }
        break;
      case 7:
        if (equalsLower(buf, ns, ne, 'upgrade')) upgradeField = true;
        break;
      case 10:
        if (equalsLower(buf, ns, ne, 'connection')) {
          const bits = connectionOptions(buf, vs, ve);
          if (bits & CONNECTION_CLOSE) close = true;
          if (bits & CONNECTION_KEEP_ALIVE) keepAliveToken = true;
          if (bits & CONNECTION_UPGRADE) upgradeToken = true;
        }
        break;
      case 14:
        if (equalsLower(buf, ns, ne, 'content-length')) {
          if (contentLength !== -1) return E.CONTENT_LENGTH_TWICE;
          contentLength = decimal(buf, vs, ve);
          if (contentLength < 0 || tabAfter(buf, ve)) return E.CONTENT_LENGTH;
        }
        break;
      case 17:
        if (equalsLower(buf, ns, ne, 'transfer-encoding')) {
          // Several fields form one list (RFC 9110 §5.3): `chunked` must be its last member and
          // appear once; any other coding is one this gateway does not decode (501, RFC 9112 §6.1).
          if (tabAfter(buf, ve)) return E.TE_SYNTAX;
          if (isEmptyList(buf, vs, ve)) {
            teEmpty = true;
            break;
          }
          te = true;
          const bad = codings(buf, vs, ve, chunked);
          if (bad === E.TE_CODING) unknownCoding ??= bad;
          else if (bad !== null) return bad;
          else chunked = true;
        }
        break;
    }
  }
  if (head.minor === 1 && host === -1) return E.HOST_MISSING;
  if (te) {
    if (head.minor === 0) return E.TE_HTTP10;
    if (contentLength !== -1) return E.CL_AND_TE;
    if (unknownCoding !== null) return unknownCoding;
  } else if (teEmpty) {
    return E.TE_SYNTAX; // Transfer-Encoding present, naming no coding at all
  }
  head.host = host;
  head.chunked = chunked;
  head.contentLength = chunked ? -1 : Math.max(0, contentLength);
  head.keepAlive = !close && (head.minor === 1 || keepAliveToken);
  head.upgrade = upgradeToken && upgradeField;
  head.expectContinue = expectContinue;
  return null;
}

/** The value is only whitespace and commas: a list with no element. */
function isEmptyList(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== SP && buf[i] !== HTAB && buf[i] !== 0x2c) return false;
  return true;
}

/**
 * True when the whitespace after a value (up to its line's CR) holds an HTAB. llhttp refuses that
 * after Content-Length and Transfer-Encoding (not after a space), and so does graylane: a framing
 * value is read exactly as the strictest reader would read it.
 */
export function tabAfter(buf: Uint8Array, valueEnd: number): boolean {
  for (let i = valueEnd; buf[i] !== CR; i++) if (buf[i] === HTAB) return true;
  return false;
}

/**
 * Checks one Transfer-Encoding field value: it must be `chunked`, once, last. Any other coding is
 * one this gateway does not decode (501, RFC 9112 §6.1), anything after chunked is 400 (§6.3).
 * `after`: an earlier field already ended in chunked, so every member here comes after it.
 */
export function codings(buf: Uint8Array, start: number, end: number, after: boolean): ParseError | null {
  let seenChunked = after;
  // Empty elements before the first coding are ignored (`, chunked`, RFC 9110 §5.6.1), as llhttp
  // does; after a coding a comma must introduce another (`chunked,` is refused).
  let s = start;
  while (s < end && (buf[s] === SP || buf[s] === HTAB || buf[s] === 0x2c)) s++;
  for (; ; s++) {
    // A member is required here: at the start and after every comma (no empty members, no trailing comma).
    while (s < end && (buf[s] === SP || buf[s] === HTAB)) s++;
    const t0 = s;
    while (s < end && TCHAR[buf[s]!] === 1) s++;
    if (s === t0) return E.TE_SYNTAX;
    const isChunked = equalsLower(buf, t0, s, 'chunked');
    while (s < end && (buf[s] === SP || buf[s] === HTAB)) s++;
    if (s < end && buf[s] !== 0x2c) return isChunked ? E.TE_SYNTAX : E.TE_CODING; // parameters: not ours to decode
    if (seenChunked) return E.TE_NOT_CHUNKED_LAST;
    if (!isChunked) return E.TE_CODING;
    seenChunked = true;
    if (s === end) return null;
  }
}
