/**
 * Strings for the field names and values of parsed heads, with as few string allocations as the
 * bytes allow. Turning bytes into a string (Buffer#latin1Slice) is a native call and a new heap
 * string each time: about a dozen per proxied request, the largest share of the head work. Most
 * of them repeat from one request to the next:
 * - names: nearly every head uses the same few dozen names, in one of two spellings (`Content-Type`,
 *   `content-type`). A name found in the table below is that table's string, compared byte by
 *   byte, never sliced;
 * - values of the fields whose value rarely changes (Host, User-Agent, Accept, Server, Date,
 *   Content-Type...): the last value seen for that name is kept, and reused when the bytes are
 *   the same. Values that vary per request (Cookie, ids, lengths) are always sliced: comparing
 *   them would only add work.
 * The strings returned are exactly the bytes (latin1, one char per byte), as latin1Slice's are.
 */
import { latin1 } from './chars.js';

export interface KnownName {
  /** The spelling these bytes match exactly. */
  readonly text: string;
  /** Its lower-cased form (the key of a Node-style header object). */
  readonly lower: string;
  /** Index of the name (both spellings share it), for the value cache. */
  readonly slot: number;
  /** The value of this field tends to repeat: worth comparing to the last one. */
  readonly repeats: boolean;
}

/** Common names; `true`: values that repeat across requests (or responses) of a client or an upstream. */
const NAMES: readonly (readonly [string, boolean])[] = [
  ['Host', true],
  ['User-Agent', true],
  ['Accept', true],
  ['Accept-Encoding', true],
  ['Accept-Language', true],
  ['Accept-Ranges', true],
  ['Connection', true],
  ['Keep-Alive', true],
  ['Cookie', false],
  ['Set-Cookie', false],
  ['Content-Type', true],
  ['Content-Length', false],
  ['Content-Encoding', true],
  ['Transfer-Encoding', true],
  ['Cache-Control', true],
  ['Pragma', true],
  ['Referer', false],
  ['Origin', true],
  ['Authorization', false],
  ['Upgrade', true],
  ['Expect', true],
  ['Baggage', false],
  ['Traceparent', false],
  ['Tracestate', false],
  ['X-Forwarded-For', false],
  ['X-Forwarded-Proto', true],
  ['X-Forwarded-Host', true],
  ['X-Real-IP', false],
  ['X-Request-Id', false],
  ['X-Gray-Lane', true],
  ['Server', true],
  ['Date', true],
  ['Last-Modified', false],
  ['ETag', false],
  ['Expires', false],
  ['Vary', true],
  ['Location', false],
  ['Age', false],
  ['Sec-Fetch-Site', true],
  ['Sec-Fetch-Mode', true],
  ['Sec-Fetch-Dest', true],
];

/** Known names by length: both spellings of each name (as listed, and lower-case). */
const BY_LENGTH: KnownName[][] = [];
for (let slot = 0; slot < NAMES.length; slot++) {
  const [text, repeats] = NAMES[slot]!;
  const lower = text.toLowerCase();
  const list = (BY_LENGTH[text.length] ??= []);
  list.push({ text, lower, slot, repeats });
  if (lower !== text) list.push({ text: lower, lower, slot, repeats });
}

/** The last value seen per name slot (only for names whose values repeat). */
const lastValues: (string | undefined)[] = new Array(NAMES.length).fill(undefined);

/** buf[start, end) is exactly the bytes of `text` (latin1). */
function sameBytes(buf: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) {
    if (buf[start + i] !== text.charCodeAt(i)) return false;
  }
  return true;
}

/** The known name spelled exactly as buf[start, end), or null. */
export function knownName(buf: Uint8Array, start: number, end: number): KnownName | null {
  const list = BY_LENGTH[end - start];
  if (list === undefined) return null;
  const first = buf[start];
  for (let i = 0; i < list.length; i++) {
    const k = list[i]!;
    if (k.text.charCodeAt(0) === first && sameBytes(buf, start, end, k.text)) return k;
  }
  return null;
}

/** A field name as sent (case kept). */
export function nameString(buf: Buffer, start: number, end: number): string {
  return knownName(buf, start, end)?.text ?? latin1(buf, start, end);
}

/** A field name lower-cased (as Node's header objects key it). */
export function lowerNameString(buf: Buffer, start: number, end: number): string {
  const k = knownName(buf, start, end);
  return k !== null ? k.lower : latin1(buf, start, end).toLowerCase();
}

/** A field's value; `name` is its knownName (or null): values of repeating fields are reused when unchanged. */
export function valueString(buf: Buffer, start: number, end: number, name: KnownName | null): string {
  if (name === null || !name.repeats) return start === end ? '' : latin1(buf, start, end);
  const last = lastValues[name.slot];
  if (last !== undefined && sameBytes(buf, start, end, last)) return last;
  const value = latin1(buf, start, end);
  lastValues[name.slot] = value;
  return value;
}
