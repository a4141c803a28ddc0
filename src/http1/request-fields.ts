/**
 * A request's header fields read by name straight from the parser's offsets (request-head.ts), so
 * that the common request never builds Node's header object (header-object.ts): a dictionary-mode
 * object with one string per field, whose keyed loads and for-in were a few percent of a proxied
 * request's CPU. Routing reads `get(name)` (RequestView.headers is this object for HTTP/1.1), the
 * upstream rewrite (src/gateway/headers.ts upstreamRequestFields, renderFields) walks the fields in
 * order, and `lines()` renders the fields it passes on as the upstream's field lines straight from
 * the received bytes.
 *
 * Every answer is the header object's: `get(name)` returns exactly `headerObject(...)[name]`
 * (set-cookie an array, cookie joined with `; `, Node's first-only fields, the rest joined with
 * `, `, `__proto__` absent), which the property test (request-fields.test.ts) holds it to. Where
 * the fields cannot stand for the object one by one (a repeated name, a name the object would
 * enumerate out of order), `distinct` is false and the rewrite reads `object()` instead: that is
 * rare, and then costs what every request cost before.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { COLON, CR, LF, latin1, LOWER, sameFolded, SP } from './chars.js';
import { knownName, valueString, type KnownName } from './field-strings.js';
import { Fields } from './fields.js';
import { FIRST_ONLY, headerObject } from './header-object.js';

export class RequestFields {
  #buf: Buffer;
  #fields: Fields;
  /** The header object, once something needed it (see object()). */
  #object: IncomingHttpHeaders | null = null;
  /** distinct, computed on first use: -1 not yet, 0 false, 1 true. */
  #distinct = -1;
  /** The last look-up (routing reads the Cookie field for the identity and again for a rule). */
  #lastName = '';
  #lastValue: string | string[] | undefined = undefined;
  /** The known name name(i) found for field #knownAt: value(i), asked next, need not look again. */
  #knownAt = -1;
  #known: KnownName | null = null;

  /** `fields` are offsets into `buf` (the connection's RequestHead's: see keep()). */
  constructor(buf: Buffer, fields: Fields) {
    this.#buf = buf;
    this.#fields = fields;
  }

  /**
   * What Node's lower-cased header object holds under `name`, which is lower-case (as the
   * object's keys are: a name with an upper-case letter is never found).
   */
  get(name: string): string | string[] | undefined {
    if (name === this.#lastName) return this.#lastValue;
    const v = this.#object !== null ? this.#object[name] : this.#lookUp(name);
    this.#lastName = name;
    this.#lastValue = v;
    return v;
  }

  #lookUp(name: string): string | string[] | undefined {
    if (name === '__proto__') return undefined; // the object drops it (header-object.ts)
    const f = this.#fields;
    const buf = this.#buf;
    let first = -1;
    let joined: string | string[] | undefined;
    for (let i = 0; i < f.count; i++) {
      if (!sameName(buf, f.nameStart(i), f.nameEnd(i), name)) continue;
      if (first === -1) {
        first = i;
        continue;
      }
      // A repeated field (rare): joined as Node joins it.
      if (joined === undefined) {
        if (FIRST_ONLY.has(name)) break;
        joined = name === 'set-cookie' ? [this.value(first)] : this.value(first);
      }
      const v = this.value(i);
      if (typeof joined !== 'string') joined.push(v);
      else joined = `${joined}${name === 'cookie' ? '; ' : ', '}${v}`;
    }
    if (joined !== undefined) return joined;
    if (first === -1) return undefined;
    return name === 'set-cookie' ? [this.value(first)] : this.value(first);
  }

  /** How many fields there are. */
  get count(): number {
    return this.#fields.count;
  }

  /**
   * The fields, in order, are the header object's entries in its for-in order: no name appears
   * twice (ASCII case ignored) and none is one the object drops (`__proto__`) or enumerates first
   * (an array index: all digits). Then name(i) and value(i) read the object's entries without it.
   */
  get distinct(): boolean {
    if (this.#distinct === -1) this.#distinct = distinctNames(this.#buf, this.#fields) ? 1 : 0;
    return this.#distinct === 1;
  }

  /** Field i's name, lower-cased (common names cost no new string, field-strings.ts). */
  name(i: number): string {
    const f = this.#fields;
    const known = knownName(this.#buf, f.nameStart(i), f.nameEnd(i));
    this.#knownAt = i;
    this.#known = known;
    return known !== null ? known.lower : latin1(this.#buf, f.nameStart(i), f.nameEnd(i)).toLowerCase();
  }

  /** Field i's value (unchanged values of repeating fields cost no new string, field-strings.ts). */
  value(i: number): string {
    const f = this.#fields;
    const known = i === this.#knownAt ? this.#known : knownName(this.#buf, f.nameStart(i), f.nameEnd(i));
    return valueString(this.#buf, f.valueStart(i), f.valueEnd(i), known);
  }

  /**
   * Fields [from, to) as upstream field lines in one string: exactly what concatenating
   * `${name(i)}: ${value(i)}\r\n` for each gives (names lower-cased, values without the whitespace
   * around them), without a string per name or value. A line already in that form but for the case
   * of its name (one SP after the colon, nothing after the value: what clients send) is copied with
   * its neighbours of the same kind in one piece and its name lower-cased in the copy; any other
   * line is written byte by byte. The parser has refused every byte a field line must not hold.
   */
  lines(from: number, to: number): string {
    const buf = this.#buf;
    const f = this.#fields;
    let size = 0;
    for (let i = from; i < to; i++) size += f.nameEnd(i) - f.nameStart(i) + f.valueEnd(i) - f.valueStart(i) + 4;
    const out = scratchOf(size);
    let w = 0;
    let i = from;
    while (i < to) {
      if (!asRendered(buf, f, i)) {
        w = writeLine(out, w, buf, f, i++);
        continue;
      }
      // A run of lines in their rendered form, each starting where the one before ended.
      const start = f.nameStart(i);
      let end = f.valueEnd(i) + 2;
      let j = i + 1;
      while (j < to && f.nameStart(j) === end && asRendered(buf, f, j)) end = f.valueEnd(j++) + 2;
      buf.copy(out, w, start, end);
      for (let k = i; k < j; k++) lowerCase(out, w + f.nameStart(k) - start, w + f.nameEnd(k) - start);
      w += end - start;
      i = j;
    }
    return latin1(out, 0, w);
  }

  /** Node's header object of these fields, built on first use: for the rare reader that needs one. */
  object(): IncomingHttpHeaders {
    this.#object ??= headerObject(this.#buf, this.#fields);
    return this.#object;
  }

  /**
   * Keeps these fields past the head they were parsed from: the connection is about to parse its
   * next (pipelined) head into the same offsets. The field lines' bytes are copied too, so the
   * fields hold even if the received buffer is reused. Only for a request still in flight when
   * the next head arrives: a few hundred bytes and a few dozen numbers.
   */
  keep(): void {
    const f = this.#fields;
    const n = f.count;
    const own = new Fields(n);
    own.count = n;
    if (n > 0) {
      const start = f.nameStart(0);
      this.#buf = Buffer.from(this.#buf.subarray(start, f.valueEnd(n - 1)));
      for (let k = 0; k < 4 * n; k++) own.offsets[k] = f.offsets[k]! - start;
    }
    this.#fields = own;
  }
}

/**
 * Where lines() renders: one buffer for the process, grown to the largest rendering asked for
 * (at most a head). Free again as soon as lines() returns: its latin1 string is a copy.
 */
let scratch = Buffer.allocUnsafeSlow(2048);

function scratchOf(size: number): Buffer {
  if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratch.length));
  return scratch;
}

/**
 * Field i's line is `name: value\r\n` in the received bytes but for the case of its name: one SP
 * after the colon, the value's CR right after it (no trailing whitespace). A field kept past its
 * head (keep()) has no bytes after its last value: that line is not, and is written byte by byte.
 */
function asRendered(buf: Buffer, f: Fields, i: number): boolean {
  const nameEnd = f.nameEnd(i);
  return f.valueStart(i) === nameEnd + 2 && buf[nameEnd + 1] === SP && buf[f.valueEnd(i)] === CR;
}

/** Writes field i's line, rendered, at out[w]; returns the index after it. */
function writeLine(out: Buffer, w: number, buf: Buffer, f: Fields, i: number): number {
  for (let p = f.nameStart(i), end = f.nameEnd(i); p < end; p++) out[w++] = LOWER[buf[p]!]!;
  out[w++] = COLON;
  out[w++] = SP;
  const valueStart = f.valueStart(i);
  const valueEnd = f.valueEnd(i);
  buf.copy(out, w, valueStart, valueEnd);
  w += valueEnd - valueStart;
  out[w++] = CR;
  out[w++] = LF;
  return w;
}

function lowerCase(bytes: Uint8Array, start: number, end: number): void {
  for (let p = start; p < end; p++) bytes[p] = LOWER[bytes[p]!]!;
}

/** buf[start, end) is `name` once ASCII letters of the bytes are lower-cased. */
function sameName(buf: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if (LOWER[buf[start + i]!] !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** See RequestFields.distinct. Compares lengths first: most pairs of names differ in length. */
function distinctNames(buf: Uint8Array, f: Fields): boolean {
  for (let i = 0; i < f.count; i++) {
    const s = f.nameStart(i);
    const n = f.nameEnd(i) - s;
    if (allDigits(buf, s, s + n)) return false;
    if (n === 9 && sameName(buf, s, s + n, '__proto__')) return false;
    for (let j = 0; j < i; j++) {
      const t = f.nameStart(j);
      if (f.nameEnd(j) - t === n && sameFolded(buf, s, t, n)) return false;
    }
  }
  return true;
}

function allDigits(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  return true;
}
