/**
 * Byte classes of HTTP/1.1 (RFC 9110 §5.6.2, RFC 9112, RFC 3986), as lookup tables: one indexed
 * load per byte on the parser's hot loop.
 */

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0;
  return t;
}

const isAlnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** tchar: the bytes of a token (field names, methods, transfer codings, chunk extension names). */
export const TCHAR = table((c) => isAlnum(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)));

/**
 * Bytes of a field value: field-vchar (VCHAR, obs-text), SP and HTAB (RFC 9110 §5.5). No other
 * control byte, and not DEL: a CR, LF or NUL inside a value is where header injection starts.
 */
export const FIELD_VALUE = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/**
 * Bytes of a request target: visible ASCII only (RFC 3986 characters, `%` escapes included).
 * Stricter than llhttp, which also takes bytes >= 0x80: a raw non-ASCII byte in a path is
 * read differently by different servers, so it is refused rather than guessed. `#` is refused too:
 * a fragment is never part of a request target (RFC 9112 §3.2).
 */
export const TARGET = table((c) => c > 0x20 && c < 0x7f && c !== 0x23 /* # */);

/** Bytes of a reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9112 §4). */
export const REASON = FIELD_VALUE;

/** Bytes inside a quoted-string (qdtext, RFC 9110 §5.6.4), the backslash of a quoted-pair excluded. */
export const QDTEXT = table((c) => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80);

/** Value of a hex digit, or -1. */
export const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[0x41 + i] = 10 + i;
    t[0x61 + i] = 10 + i;
  }
  return t;
})();

/** ASCII letters folded to lower case, every other byte unchanged (field names are tchar: ASCII). */
export const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;

/** buf[a, a+n) and buf[b, b+n) are the same once ASCII letters are folded to lower case. */
export function sameFolded(buf: Uint8Array, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (LOWER[buf[a + k]!] !== LOWER[buf[b + k]!]) return false;
  return true;
}

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/**
 * True when buf[start, end) equals `lower` ignoring ASCII case. `lower` is lower-case letters,
 * digits and `-`; the bytes compared are already known to be tchar, and on tchar `| 0x20` only
 * folds upper-case letters onto lower-case ones for the characters `lower` can hold.
 */
export function equalsLower(buf: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if ((buf[start + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * True when the string `text` equals `lower` (lower-case letters, digits, `-`) ignoring ASCII case,
 * without the new string String#toLowerCase makes: header names are compared this way per field
 * of every request and response.
 */
export function equalsLowerText(text: string, lower: string): boolean {
  if (text.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/**
 * buf[start, end) as a string, one char per byte. Buffer#latin1Slice is what toString('latin1')
 * calls after its encoding dispatch; calling it directly skips that (measured in headers.ts).
 */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Latin1Buffer).latin1Slice(start, end);
}
