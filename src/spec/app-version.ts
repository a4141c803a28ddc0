/**
 * App versions as apps send them, and the ranges an `appVersion` rule compares them with. Here in
 * spec/ because it defines what the config's `range`, `min` and `max` mean: the loader validates
 * with the same compiler the routing core runs per request.
 *
 * A version is `v`? then 1 to MAX_SEGMENTS numeric segments separated by dots, then optionally
 * `-tag` (a prerelease tag) and/or `+build`, both in semver's character set (`[0-9A-Za-z-]`
 * identifiers separated by dots). Segments compare as numbers, one by one, missing ones are 0:
 * `2.4` = `2.4.0`, `2.4.0.1234` > `2.4.0`, `2.04` = `2.4`. The build is ignored, as semver does.
 *
 * The prerelease tag follows one option of the rule:
 * - `include` (the default): the tag is ignored, a `2.4.0-beta.1` client is a 2.4.0 build and
 *   satisfies `>=2.4.0`. A range may not name a tag then (it would be ignored too), except semver's own
 *   `X-0` ("just below X"), which `<3` and `^2.3` are rewritten into.
 * - `exclude`: semver's (npm's) rule: tags order by semver precedence (`2.4.0-beta.1` < `2.4.0`), and a
 *   version with a tag satisfies a range only if one of the range's bounds names a tag on the very
 *   same numbers (`>=3.0.0-beta.0` lets `3.0.0-beta.2` in, `>=2.3.0` does not).
 *
 * Parsing is a single left-to-right scan with no regular expression (nothing to backtrack), bounded
 * by MAX_VERSION_CHARS; segments are at most MAX_SEGMENT_DIGITS digits, so every number is a safe
 * integer. A request parses into a VersionBuffer owned by its condition: no allocation unless the
 * version has a tag and the mode is `exclude`.
 */
import semver from 'semver';

/** The longest value parsed as a version; a longer one is no version (a real one is ~20 characters). */
export const MAX_VERSION_CHARS = 64;
/** At most this many numeric segments (`1.2.3.4.5.6.7.8`). */
export const MAX_SEGMENTS = 8;
/** Digits per segment: 15 digits stay below 2^53, so a segment is an exact number. */
export const MAX_SEGMENT_DIGITS = 15;

export type PrereleaseMode = 'include' | 'exclude';

/** Outcomes of VersionBuffer.parse: PARSED, or why the text is no version. */
export const PARSED = 0;
const EMPTY = 1;
const TOO_LONG = 2;
const NO_NUMBER = 3;
const TOO_MANY_SEGMENTS = 4;
const SEGMENT_TOO_LONG = 5;
const BAD_CHAR = 6;
const BAD_TAG = 7;

const DOT = 0x2e;
const HYPHEN = 0x2d;
const PLUS = 0x2b;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** `[0-9A-Za-z-]`: a character of a semver prerelease or build identifier. */
function isIdentChar(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === HYPHEN;
}

/**
 * A version parsed in place: a condition owns one and reuses it for every request (the gateway is
 * single-threaded and a condition's test runs to completion), so parsing allocates nothing.
 */
export class VersionBuffer {
  /** Numeric segments; only the first `count` are meaningful. */
  readonly segments: number[] = new Array<number>(MAX_SEGMENTS).fill(0);
  count = 0;
  /** The text last parsed, and where its prerelease tag is in it (tagFrom === tagTo: no tag). */
  text = '';
  tagFrom = 0;
  tagTo = 0;
  /** Where parsing stopped on a problem (for the explanation). */
  at = 0;

  /** Parses `text`: PARSED, or the code of the problem (see describeProblem). */
  parse(text: string): number {
    this.text = text;
    this.count = 0;
    this.tagFrom = this.tagTo = 0;
    const len = text.length;
    if (len === 0) return EMPTY;
    if (len > MAX_VERSION_CHARS) return TOO_LONG;
    const segments = this.segments;
    let count = 0;
    let c = text.charCodeAt(0);
    let i = c === 0x76 || c === 0x56 ? 1 : 0; // v, V
    for (;;) {
      const start = i;
      let value = 0;
      // Locals only in this loop: it is the whole per-request cost of a version.
      while (i < len && (c = text.charCodeAt(i)) >= 0x30 && c <= 0x39) {
        value = value * 10 + (c - 0x30);
        i++;
      }
      if (i === start || i - start > MAX_SEGMENT_DIGITS || count === MAX_SEGMENTS) {
        this.at = start;
        this.count = count;
        return i === start ? NO_NUMBER : i - start > MAX_SEGMENT_DIGITS ? SEGMENT_TOO_LONG : TOO_MANY_SEGMENTS;
      }
      segments[count++] = value;
      if (i === len) break;
      if (c === DOT) {
        i++;
        continue;
      }
      this.count = count;
      this.at = i;
      return this.parseSuffix(text, i, c);
    }
    this.count = count;
    return PARSED;
  }

  /** `-tag` and/or `+build` from `i` (where `c` is), to the end. */
  private parseSuffix(text: string, i: number, c: number): number {
    if (c === HYPHEN) {
      const end = scanIdentifiers(text, i + 1);
      if (end < 0) return BAD_TAG;
      this.tagFrom = i + 1;
      this.tagTo = end;
      if (end === text.length) return PARSED;
      i = end; // at `+`
    } else if (c !== PLUS) {
      return BAD_CHAR;
    }
    // `+build`: checked, then ignored.
    return scanIdentifiers(text, i + 1) === text.length ? PARSED : BAD_TAG;
  }

  /** The prerelease tag, '' when none. */
  tag(): string {
    return this.tagFrom === this.tagTo ? '' : this.text.slice(this.tagFrom, this.tagTo);
  }

  /** The version as compared, e.g. `2.4.0.1234` or `2.4.0-beta.1` (for explain). */
  normalized(mode: PrereleaseMode): string {
    let out = '';
    for (let i = 0; i < Math.max(this.count, 3); i++) out += `${i === 0 ? '' : '.'}${i < this.count ? this.segments[i] : 0}`;
    const tag = this.tag();
    return tag !== '' && mode === 'exclude' ? `${out}-${tag}` : out;
  }
}

/**
 * End of the dot-separated identifiers starting at `from` (stops at `+` or the end), or -1 when
 * there is none or one is empty or holds another character.
 */
function scanIdentifiers(text: string, from: number): number {
  let i = from;
  let identStart = from;
  for (;;) {
    const c = i < text.length ? text.charCodeAt(i) : -1;
    if (c === DOT || c === PLUS || c === -1) {
      if (i === identStart) return -1;
      if (c !== DOT) return i;
      identStart = i + 1;
    } else if (!isIdentChar(c)) {
      return -1;
    }
    i++;
  }
}

/** Why `buffer.parse(text)` returned `code`, in words. */
export function describeProblem(code: number, buffer: VersionBuffer): string {
  const at = `at character ${buffer.at + 1}`;
  switch (code) {
    case EMPTY:
      return 'empty';
    case TOO_LONG:
      return `longer than ${MAX_VERSION_CHARS} characters`;
    case NO_NUMBER:
      return `expected a number ${at}`;
    case TOO_MANY_SEGMENTS:
      return `more than ${MAX_SEGMENTS} numeric segments`;
    case SEGMENT_TOO_LONG:
      return `a segment longer than ${MAX_SEGMENT_DIGITS} digits ${at}`;
    case BAD_CHAR:
      return `unexpected ${JSON.stringify(buffer.text[buffer.at])} ${at} (a version is numbers separated by dots, then -tag or +build)`;
    default:
      return `malformed -tag or +build ${at} (dot-separated letters, digits and -)`;
  }
}

/** A version parsed for good (a bound, a test): its segments and its prerelease identifiers. */
export interface ParsedVersion {
  segments: number[];
  /** Prerelease identifiers; [] when none. */
  tag: string[];
}

/** Parses one version, e.g. a `min` of the config; throws an Error saying why it is none. */
export function parseVersion(text: string): ParsedVersion {
  const b = new VersionBuffer();
  const code = b.parse(text);
  if (code !== PARSED) throw new Error(`${JSON.stringify(text)} is not a version: ${describeProblem(code, b)}`);
  const tag = b.tag();
  return { segments: b.segments.slice(0, b.count), tag: tag === '' ? [] : tag.split('.') };
}

// --- comparing -------------------------------------------------------------------------------

const LT = 0;
const LE = 1;
const EQ = 2;
const GE = 3;
const GT = 4;
const OPERATORS: Record<string, number> = { '<': LT, '<=': LE, '': EQ, '=': EQ, '>=': GE, '>': GT };
const OPERATOR_TEXT = ['<', '<=', '=', '>=', '>'];

/** One bound: `>= 2.3.0`. `floor` marks semver's `X-0`, the lowest version of X ("just below X"). */
interface Bound {
  readonly op: number;
  readonly segments: readonly number[];
  readonly tag: readonly string[];
  readonly floor: boolean;
}

/** Segment by segment, missing ones 0: negative, 0 or positive like a sort comparator. */
function compareSegments(b: VersionBuffer, segments: readonly number[]): number {
  const n = b.count > segments.length ? b.count : segments.length;
  for (let i = 0; i < n; i++) {
    const x = i < b.count ? b.segments[i]! : 0;
    const y = i < segments.length ? segments[i]! : 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function isNumeric(id: string): boolean {
  for (let i = 0; i < id.length; i++) if (!isDigit(id.charCodeAt(i))) return false;
  return true;
}

/** semver's identifier order: numeric ones by value (any length) and below alphanumeric ones. */
function compareIdentifier(a: string, b: string): number {
  const an = isNumeric(a);
  const bn = isNumeric(b);
  if (an && bn) {
    const x = a.replace(/^0+(?=.)/, '');
    const y = b.replace(/^0+(?=.)/, '');
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** semver precedence of two prerelease tags ([] = a release, above every prerelease). */
function compareTags(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < a.length && i < b.length; i++) {
    const c = compareIdentifier(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function holds(op: number, c: number): boolean {
  switch (op) {
    case LT:
      return c < 0;
    case LE:
      return c <= 0;
    case EQ:
      return c === 0;
    case GE:
      return c >= 0;
    default:
      return c > 0;
  }
}

/**
 * A compiled `appVersion` comparison: semver range sets (`||`), each a list of bounds that must all
 * hold, with `min` / `max` added to every set. Built once at compile time.
 */
export class VersionRange {
  private constructor(
    private readonly sets: readonly (readonly Bound[])[],
    readonly mode: PrereleaseMode,
    /** What it checks, for explain: `>=2.3.0 <3 and <= 2.9`. */
    readonly text: string,
  ) {}

  /**
   * @throws Error naming what is wrong: a range that is no semver range, a min or max that is no
   *   version, or a tag in a range or bound while prereleases are included (it would be ignored).
   */
  static compile(m: { range?: string; min?: string; max?: string; prerelease?: PrereleaseMode }): VersionRange {
    const mode = m.prerelease ?? 'include';
    const extra: Bound[] = [];
    const texts: string[] = [];
    if (m.range !== undefined) texts.push(m.range);
    for (const [key, op] of [['min', GE], ['max', LE]] as const) {
      const text = m[key];
      if (text === undefined) continue;
      let v: ParsedVersion;
      try {
        v = parseVersion(text);
      } catch (err) {
        throw new RangeProblem(key, (err as Error).message);
      }
      if (v.tag.length > 0 && mode === 'include') throw new RangeProblem(key, tagIgnored(text));
      extra.push({ op, segments: v.segments, tag: v.tag, floor: false });
      texts.push(`${OPERATOR_TEXT[op]}${text}`);
    }
    if (texts.length === 0) throw new RangeProblem('range', 'needs a range, a min or a max');
    const sets = m.range === undefined ? [extra] : semverSets(m.range, mode).map((set) => [...set, ...extra]);
    return new VersionRange(sets, mode, texts.join(' and '));
  }

  /** Whether the parsed version in `b` satisfies the range. Allocation-free in `include` mode. */
  test(b: VersionBuffer): boolean {
    const exclude = this.mode === 'exclude';
    const tagged = exclude && b.tagTo > b.tagFrom;
    const tag = tagged ? b.tag().split('.') : NO_TAG;
    for (let s = 0; s < this.sets.length; s++) {
      if (exclude ? this.testExcluding(this.sets[s]!, b, tag, tagged) : testIncluding(this.sets[s]!, b)) return true;
    }
    return false;
  }

  /** semver's rule (npm's testSet): every bound holds, and a tagged version needs a tagged bound on its numbers. */
  private testExcluding(set: readonly Bound[], b: VersionBuffer, tag: readonly string[], tagged: boolean): boolean {
    let allowed = !tagged;
    for (let i = 0; i < set.length; i++) {
      const bound = set[i]!;
      let c = compareSegments(b, bound.segments);
      if (c === 0) {
        c = compareTags(tag, bound.tag);
        if (tagged && bound.tag.length > 0) allowed = true;
      }
      if (!holds(bound.op, c)) return false;
    }
    return allowed;
  }
}

const NO_TAG: readonly string[] = [];

/** Tags ignored: `X-0` is just below X, so it compares as "below" where the numbers are equal. */
function testIncluding(set: readonly Bound[], b: VersionBuffer): boolean {
  for (let i = 0; i < set.length; i++) {
    const bound = set[i]!;
    let c = compareSegments(b, bound.segments);
    if (c === 0 && bound.floor) c = 1;
    if (!holds(bound.op, c)) return false;
  }
  return true;
}

/** A problem with one key of an appVersion condition: `key` is `range`, `min` or `max`. */
export class RangeProblem extends Error {
  constructor(
    readonly key: 'range' | 'min' | 'max',
    message: string,
  ) {
    super(message);
    this.name = 'RangeProblem';
  }
}

function tagIgnored(what: string): string {
  return (
    `names a prerelease tag (${what}), but with prerelease: include (the default) tags are ignored: ` +
    'a 2.4.0-beta.1 client counts as 2.4.0. Write the numbers only, or set prerelease: exclude to compare tags as semver does'
  );
}

/** A semver range (`^2.3`, `1.x || >=2.5`) as bound sets, through the semver package's own parser. */
function semverSets(range: string, mode: PrereleaseMode): Bound[][] {
  let parsed: semver.Range;
  try {
    parsed = new semver.Range(range, { loose: false });
  } catch {
    throw new RangeProblem(
      'range',
      `not a valid semver range: ${JSON.stringify(range)} (examples: >=2.3.0, ^3, 1.x || >=2.5.0 <3; for a bound with more than three segments use min / max)`,
    );
  }
  return parsed.set.map((set) =>
    set.flatMap((c): Bound[] => {
      if (c.value === '') return []; // `*`: any version
      const v = c.semver as semver.SemVer;
      const tag = v.prerelease.map(String);
      const floor = tag.length === 1 && tag[0] === '0';
      if (mode === 'include' && tag.length > 0 && !floor) throw new RangeProblem('range', tagIgnored(v.version));
      const op = OPERATORS[c.operator];
      if (op === undefined) throw new RangeProblem('range', `unknown operator ${JSON.stringify(c.operator)} in ${JSON.stringify(range)}`);
      return [{ op, segments: [v.major, v.minor, v.patch], tag, floor }];
    }),
  );
}
