/**
 * W3C Baggage (https://www.w3.org/TR/baggage/) helpers for the one member graylane owns,
 * `graylane-lane`. The header is a comma-separated list of members:
 *
 *     baggage: userId=alice, graylane-lane=beta;ttl=3, traceFlag=%E2%9C%93
 *              key OWS "=" OWS value *( OWS ";" OWS property ) , ...
 *
 * graylane reads, sets and removes its member and leaves every other member alone: edits splice the
 * original string, so other members, their properties, their encoding and the whitespace between
 * them stay byte-for-byte. A member is graylane's whichever way its key is spelled: keys are
 * compared percent-decoded, ignoring ASCII case and the whitespace around them (`graylane%2Dlane`,
 * `GrayLane-Lane`, ` graylane-lane =`), because receivers such as OpenTelemetry's propagator decode
 * keys; reading takes the first such member, writing replaces every one. Parsing is tolerant (a malformed member is skipped, never an exception),
 * because the header comes from outside. Reading and editing allocate nothing but the strings they
 * return, and there is no dependency: the gateway uses these on its hot path too.
 */

/** The baggage member that carries the lane. */
export const LANE_BAGGAGE_KEY = 'graylane-lane';
/** W3C limit on the whole header, in bytes. */
export const MAX_BAGGAGE_BYTES = 8192;
/** W3C limit on the number of list-members. */
export const MAX_BAGGAGE_MEMBERS = 180;

const COMMA = 0x2c;
const EQUALS = 0x3d;
const SEMICOLON = 0x3b;
const PERCENT = 0x25;
const SPACE = 0x20;
const TAB = 0x09;

/** Characters a member key (an RFC 9110 token) cannot hold that a tolerant split may leave in it. */
const NOT_IN_KEY = /[\s,;=]/;

/** One list-member, as found in the header. */
export interface BaggageMember {
  key: string;
  /** Percent-decoded; the raw value when it is not valid percent-encoding. */
  value: string;
  /** Everything from the first `;` on (`;ttl=3`), verbatim; '' when none. */
  properties: string;
  /** The member as written, without the surrounding whitespace. */
  raw: string;
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** Node's header value, or an array of repeated headers, as one list (RFC 9110 §5.3). */
export function joinHeader(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return value.length === 0 ? undefined : value.join(',');
}

/*
 * Members are walked with plain index loops, no objects: for each `from`, the member runs to the
 * next comma (`stop`), and [start, end) is it without the surrounding whitespace.
 */

/** First non-space index in [i, stop). */
function skipSpace(h: string, i: number, stop: number): number {
  while (i < stop && isSpace(h.charCodeAt(i))) i++;
  return i;
}

/** End of [start, stop) without trailing spaces. */
function trimEnd(h: string, start: number, stop: number): number {
  while (stop > start && isSpace(h.charCodeAt(stop - 1))) stop--;
  return stop;
}

/**
 * True when the member at [start, end) (no surrounding whitespace) is `key=...`: its key, the text
 * before the first `=` (a `;` before any `=` makes it no key-value member), is `key` once
 * percent-decoded and stripped of whitespace, ignoring ASCII case. OpenTelemetry's W3C propagator
 * percent-decodes keys and lets the last duplicate win, so `graylane%2Dlane=alpha` is a lane member
 * to it: every spelling a receiver could read as the key must be the same member here, or the
 * gateway would replace one and pass on another.
 */
function hasKey(h: string, start: number, end: number, key: string): boolean {
  // The usual spelling (graylane's own, the SDK's) is one native comparison.
  if (h.startsWith(key, start)) {
    let i = start + key.length;
    while (i < end && isSpace(h.charCodeAt(i))) i++;
    if (i < end && h.charCodeAt(i) === EQUALS) return true;
  }
  return keyEquals(h, start, end, key, true);
}

/**
 * h[from, to) decodes to `key` (see hasKey), in one pass that gives up at the first character
 * that differs (the usual case for other members' keys), allocating nothing. With `member`, the
 * key ends at a raw `=` and the text is a whole member (no `=` before the end or a `;`: no key);
 * without, h[from, to) is the key alone.
 */
function keyEquals(h: string, from: number, to: number, key: string, member: boolean): boolean {
  const n = key.length;
  let k = 0;
  for (let i = from; i < to; ) {
    let c = h.charCodeAt(i);
    i++;
    if (member) {
      if (c === EQUALS) return k === n;
      if (c === SEMICOLON) return false;
    }
    if (c === PERCENT && i + 1 < to) {
      const hi = hexValue(h.charCodeAt(i));
      const lo = hexValue(h.charCodeAt(i + 1));
      if (hi !== -1 && lo !== -1) {
        c = hi * 16 + lo;
        i += 2;
      }
    }
    if (isSpace(c)) {
      // Whitespace (raw or encoded) is allowed around the key, not inside it.
      if (k === 0 || k === n) continue;
      return false;
    }
    if (k === n || asciiLower(c) !== asciiLower(key.charCodeAt(k))) return false;
    k++;
  }
  return !member && k === n;
}

function asciiLower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * True when `raw`, a member's key as written, names `key` the way this module matches keys:
 * percent-decoded, whitespace around it ignored, ASCII case ignored.
 * @example isBaggageKey('GrayLane%2Dlane', 'graylane-lane') // true
 */
export function isBaggageKey(raw: string, key: string): boolean {
  return keyEquals(raw, 0, raw.length, key, false);
}

/** Percent-decodes a baggage value; a malformed escape leaves the value as it is. */
export function decodeBaggageValue(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Percent-encodes a value for baggage. encodeURIComponent escapes a superset of what W3C requires
 * (space, `"`, `,`, `;`, `\`, `%` and non-ASCII), which receivers decode all the same.
 */
export function encodeBaggageValue(value: string): string {
  return encodeURIComponent(value);
}

/**
 * The decoded value of member `key`, or undefined when absent. The first member whose key matches
 * wins; keys match percent-decoded and ignoring ASCII case (see hasKey), so this reads the member
 * the gateway replaces, whichever way it was spelled.
 *
 * On the gateway's hot path: it walks the members with indexOf from comma to comma and compares
 * each key in place, allocating nothing but the value it returns.
 * @example baggageValue('a=1, graylane-lane=beta;p=1', 'graylane-lane') // 'beta'
 */
export function baggageValue(header: string | undefined, key: string): string | undefined {
  if (header === undefined || key === '') return undefined;
  const at = findMember(header, key, 0);
  if (at === -1) return undefined;
  const eq = header.indexOf('=', at);
  const len = header.length;
  let end = eq + 1;
  while (end < len) {
    const c = header.charCodeAt(end);
    if (c === SEMICOLON || c === COMMA) break;
    end++;
  }
  let start = eq + 1;
  while (start < end && isSpace(header.charCodeAt(start))) start++;
  while (end > start && isSpace(header.charCodeAt(end - 1))) end--;
  return decodeBaggageValue(header.slice(start, end));
}

/**
 * Where the first member named `key` (see hasKey) starts, searching the members that begin at or
 * after index `from` (the header's start, or a comma), or -1.
 */
function findMember(header: string, key: string, from: number): number {
  // A key starts with its first letter in either case or with an escape: other members' keys
  // are ruled out by their first character without a call.
  const first = asciiLower(key.charCodeAt(0));
  for (;;) {
    const comma = header.indexOf(',', from);
    const stop = comma === -1 ? header.length : comma;
    const start = skipSpace(header, from, stop);
    const c = header.charCodeAt(start);
    if (start < stop && (asciiLower(c) === first || c === PERCENT) && hasKey(header, start, stop, key)) return start;
    if (comma === -1) return -1;
    from = comma + 1;
  }
}

/** The lane carried in baggage (`graylane-lane`), decoded, or undefined. */
export function baggageLane(header: string | undefined): string | undefined {
  return baggageValue(header, LANE_BAGGAGE_KEY);
}

/** The non-empty members as written, without surrounding whitespace (cold paths only: allocates). */
function members(h: string): string[] {
  const out: string[] = [];
  for (let from = 0; ; ) {
    const comma = h.indexOf(',', from);
    const stop = comma === -1 ? h.length : comma;
    const start = skipSpace(h, from, stop);
    const end = trimEnd(h, start, stop);
    if (end > start) out.push(h.slice(start, end));
    if (comma === -1) return out;
    from = comma + 1;
  }
}

/**
 * Every well-formed member in order (a member without `key=` is skipped). For inspection and tests;
 * the edit functions below do not need it.
 */
export function parseBaggage(header: string | undefined): BaggageMember[] {
  const out: BaggageMember[] = [];
  if (header === undefined) return out;
  for (const raw of members(header)) {
    const eq = raw.indexOf('=');
    const semi = raw.indexOf(';');
    if (eq <= 0 || (semi !== -1 && semi < eq)) continue;
    const key = raw.slice(0, eq).trimEnd();
    if (key === '' || NOT_IN_KEY.test(key)) continue;
    const valueEnd = semi === -1 ? raw.length : semi;
    out.push({
      key,
      value: decodeBaggageValue(raw.slice(eq + 1, valueEnd).trim()),
      properties: semi === -1 ? '' : raw.slice(semi),
      raw,
    });
  }
  return out;
}

/**
 * Rewrites the members named `key`: the first becomes `replacement` (or is cut when null), later ones
 * are cut, each with one adjacent comma. Everything else is copied verbatim. Null when no member has
 * the key.
 */
function rewriteMember(h: string, key: string, replacement: string | null): string | null {
  let out = '';
  let copied = 0;
  let found = false;
  for (let from = 0; ; ) {
    const comma = h.indexOf(',', from);
    const stop = comma === -1 ? h.length : comma;
    const start = skipSpace(h, from, stop);
    const end = trimEnd(h, start, stop);
    if (hasKey(h, start, end, key)) {
      if (!found && replacement !== null) {
        out += h.slice(copied, start) + replacement;
        copied = end;
      } else if (comma !== -1) {
        // Cut the member with the comma after it.
        out += h.slice(copied, from);
        copied = comma + 1;
      } else {
        // The last member goes with the comma before it.
        out += h.slice(copied, Math.max(copied, from - 1));
        copied = h.length;
      }
      found = true;
    }
    if (comma === -1) break;
    from = comma + 1;
  }
  if (!found) return null;
  out += h.slice(copied);
  return isBlank(out) ? '' : out;
}

/** Only commas and whitespace. */
function isBlank(h: string): boolean {
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c !== COMMA && !isSpace(c)) return false;
  }
  return true;
}

/**
 * `header` without any member named `key` (however spelled, see hasKey): the other members and the
 * text between them are kept as written. Returns the input itself when the key is absent, '' when nothing is left.
 */
export function withoutBaggageMember(header: string, key: string): string {
  if (key === '') return header;
  return rewriteMember(header, key, null) ?? header;
}

/** `header` without the `graylane-lane` member (see {@link withoutBaggageMember}). */
export function withoutBaggageLane(header: string): string {
  return withoutBaggageMember(header, LANE_BAGGAGE_KEY);
}

/**
 * Below this many characters a header can break neither W3C limit: 181 members need at least
 * 181 * 2 + 180 characters, and 540 UTF-16 units are at most 1,620 UTF-8 bytes.
 */
const SURELY_WITHIN_LIMITS = 3 * MAX_BAGGAGE_MEMBERS;

/**
 * `header` with member `key` set to `value` (percent-encoded): an existing member of that key is
 * replaced in place (its properties with it; later duplicates, and members whose key only decodes
 * to `key` such as `graylane%2Dlane` or `GRAYLANE-LANE`, are removed), otherwise the member is
 * appended. Other members are kept byte-for-byte. When the result would break the W3C limits
 * (8192 bytes, 180 members), whole members are dropped from the end of the others until it fits:
 * the member being set is the reason this header is written.
 *
 * @example withBaggageMember('a=1;p, b=2', 'graylane-lane', 'beta') // 'a=1;p, b=2,graylane-lane=beta'
 */
export function withBaggageMember(header: string | undefined, key: string, value: string): string {
  const member = `${key}=${needsEncoding(value) ? encodeBaggageValue(value) : value}`;
  if (header === undefined || isBlank(header)) return member;
  const out = replaceOnlyMember(header, key, member) ?? `${trimTrailingSeparators(header)},${member}`;
  return out.length <= SURELY_WITHIN_LIMITS ? out : fitLimits(out, key);
}

/**
 * `header` with its member `key` replaced by `member`; null when it has none. The usual case, one
 * such member, is one splice; duplicates go through rewriteMember, which removes them.
 */
function replaceOnlyMember(header: string, key: string, member: string): string | null {
  const at = findMember(header, key, 0);
  if (at === -1) return null;
  let stop = header.indexOf(',', at);
  if (stop === -1) stop = header.length;
  if (findMember(header, key, stop) !== -1) return rewriteMember(header, key, member);
  return header.slice(0, at) + member + header.slice(trimEnd(header, at, stop));
}

/** False for the usual lane names (letters, digits, `.`, `_`, `-`), which encode to themselves. */
function needsEncoding(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const plain =
      (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x2d;
    if (!plain) return true;
  }
  return false;
}

/** `header` with `graylane-lane=<lane>` set (see {@link withBaggageMember}). */
export function withBaggageLane(header: string | undefined, lane: string): string {
  return withBaggageMember(header, LANE_BAGGAGE_KEY, lane);
}

function trimTrailingSeparators(h: string): string {
  let end = h.length;
  while (end > 0) {
    const c = h.charCodeAt(end - 1);
    if (c !== COMMA && !isSpace(c)) break;
    end--;
  }
  return h.slice(0, end);
}

function byteLength(s: string): number {
  // Well-formed baggage is ASCII; count UTF-8 bytes only when it is not.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s);
  return s.length;
}

/**
 * The header within the W3C limits: other members are dropped from the end until it fits, and the
 * kept ones joined by `,` (their own text unchanged). Only long headers get here.
 */
function fitLimits(h: string, keep: string): string {
  // Members are at most commas + 1: most long headers leave here without being split.
  let commas = 0;
  for (let i = h.indexOf(','); i !== -1; i = h.indexOf(',', i + 1)) commas++;
  if (commas < MAX_BAGGAGE_MEMBERS && byteLength(h) <= MAX_BAGGAGE_BYTES) return h;
  const list = members(h);
  if (list.length <= MAX_BAGGAGE_MEMBERS && byteLength(h) <= MAX_BAGGAGE_BYTES) return h;
  let bytes = byteLength(list.join(','));
  for (let i = list.length - 1; i >= 0 && (list.length > MAX_BAGGAGE_MEMBERS || bytes > MAX_BAGGAGE_BYTES); i--) {
    const m = list[i]!;
    if (hasKey(m, 0, m.length, keep)) continue;
    list.splice(i, 1);
    bytes -= byteLength(m) + 1;
  }
  return list.join(',');
}
