/**
 * The condition kinds of a rule, each compiled once into a predicate over one request's Subject.
 * Regexes, version ranges and user Sets are built here at compile time; the predicates themselves
 * allocate nothing per request (apart from what reading a decoded cookie/query value and a regex
 * match array need).
 */
import { describeProblem, PARSED, RangeProblem, VersionBuffer, VersionRange } from '../spec/app-version.js';
import type { AppVersionMatch, NamedMatch, PathMatch, StringMatch, ValueSource } from '../spec/types.js';
import { CompileError } from './errors.js';
import { readSource, type Subject } from './identity.js';
import { cookieValue, headerValue, queryValue } from './request-values.js';
import { BUCKETS, threshold } from './hash.js';
import type { ConditionCheck } from './types.js';
import { UserSet } from './user-set.js';

/** A compiled condition: `test` answers for one request, `text` says what it checks (for explain). */
export interface Condition {
  readonly test: (s: Subject) => boolean;
  readonly text: string;
  /**
   * For explain only: the same answer as `test` with what was read and compared (a version, a
   * bucket). Conditions without it are explained by `text` and `test`.
   */
  readonly explain?: (s: Subject) => ConditionCheck;
}

const quote = JSON.stringify;

/** Compiles a regex from the spec; no flags, so there is no `lastIndex` state between requests. */
export function compileRegex(source: string, keyPath: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw new CompileError(keyPath, `invalid regular expression ${quote(source)}`, { cause: err });
  }
}

/** A StringMatch as a test on one value (undefined = absent). `present: false` means "absent". */
export function compileStringMatch(
  m: StringMatch,
  keyPath: string,
): { test: (v: string | undefined) => boolean; text: string } {
  if (m.equals !== undefined) {
    const want = m.equals;
    return { test: (v) => v === want, text: `equals ${quote(want)}` };
  }
  if (m.in !== undefined) {
    const set = new Set(m.in);
    return { test: (v) => v !== undefined && set.has(v), text: `in [${m.in.map((x) => quote(x)).join(', ')}]` };
  }
  if (m.pattern !== undefined) {
    const re = compileRegex(m.pattern, `${keyPath}.pattern`);
    return { test: (v) => v !== undefined && re.test(v), text: `matches /${m.pattern}/` };
  }
  if (m.present !== undefined) {
    return m.present
      ? { test: (v) => v !== undefined, text: 'is present' }
      : { test: (v) => v === undefined, text: 'is absent' };
  }
  throw new CompileError(keyPath, 'needs one of equals, in, pattern, present');
}

/** `header: {name, ...}`: node's lower-cased header; for a multi-valued header any value may match. */
export function headerCondition(m: NamedMatch, keyPath: string): Condition {
  const name = m.name.toLowerCase();
  const match = compileStringMatch(m, keyPath);
  const t = match.test;
  return {
    text: `header ${name} ${match.text}`,
    test: (s) => {
      const v = s.req.headers.get(name);
      if (typeof v === 'string' || v === undefined) return t(v);
      if (v.length === 0) return t(undefined);
      for (let i = 0; i < v.length; i++) if (t(v[i])) return true;
      return false;
    },
  };
}

/** `cookie: {name, ...}`: scanned out of the Cookie header, not parsed into an object. */
export function cookieCondition(m: NamedMatch, keyPath: string): Condition {
  const name = m.name;
  const match = compileStringMatch(m, keyPath);
  const t = match.test;
  return { text: `cookie ${name} ${match.text}`, test: (s) => t(cookieValue(headerValue(s.req.headers, 'cookie'), name)) };
}

/** `query: {name, ...}`: scanned out of the raw query; only the found value is decoded. */
export function queryCondition(m: NamedMatch, keyPath: string): Condition {
  const name = m.name;
  const match = compileStringMatch(m, keyPath);
  const t = match.test;
  return { text: `query ${name} ${match.text}`, test: (s) => t(queryValue(s.req.query, name)) };
}

/** `path: {contains | prefix | regex}` on the normalised path without `;` parameters (RequestView.path), query excluded. */
export function pathCondition(m: PathMatch, keyPath: string): Condition {
  if (m.contains !== undefined) {
    const needle = m.contains;
    return { text: `path contains ${quote(needle)}`, test: (s) => s.req.path.includes(needle) };
  }
  if (m.prefix !== undefined) {
    const prefix = m.prefix;
    return { text: `path starts with ${quote(prefix)}`, test: (s) => s.req.path.startsWith(prefix) };
  }
  if (m.regex !== undefined) {
    const re = compileRegex(m.regex, `${keyPath}.regex`);
    return { text: `path matches /${m.regex}/`, test: (s) => re.test(s.req.path) };
  }
  throw new CompileError(keyPath, 'needs one of contains, prefix, regex');
}

/** `users`: the request's identity is in the list (100k ids is fine). Never mints a visitor id. */
export function usersCondition(users: readonly string[]): Condition {
  const set = new UserSet(users);
  return {
    text: `user in list (${set.size} ${set.size === 1 ? 'id' : 'ids'})`,
    test: (s) => {
      const id = s.id();
      return id !== undefined && set.has(id);
    },
  };
}

function sourceText(from: ValueSource): string {
  return `${from.kind} ${from.name}`;
}

/**
 * `appVersion: {from, pattern?, range?, min?, max?, prerelease}`: the value read (or the first
 * capture group of `pattern` in it) parsed as an app version (src/spec/app-version.ts: numeric dot
 * segments, optional `v`, `-tag` / `+build`) and compared with the range, all built here once. A
 * missing value, a pattern that finds nothing, or text that is no version does not match.
 *
 * Per request: the header/cookie/query read, the pattern's match array when there is a pattern, and
 * a scan of at most 64 characters into this condition's own buffer; nothing is cached.
 */
export function appVersionCondition(m: AppVersionMatch, keyPath: string): Condition {
  let range: VersionRange;
  try {
    range = VersionRange.compile(m);
  } catch (err) {
    const key = err instanceof RangeProblem ? err.key : 'range';
    throw new CompileError(`${keyPath}.${key}`, (err as Error).message, { cause: err });
  }
  const pattern = m.pattern === undefined ? undefined : compileRegex(m.pattern, `${keyPath}.pattern`);
  const from = m.from;
  const buffer = new VersionBuffer();
  const text = `app version (${sourceText(from)}${pattern === undefined ? '' : ` ~ /${m.pattern}/`}) ${range.text}`;
  return {
    text,
    test: (s) => {
      const v = versionText(readSource(s.req, from), pattern);
      return v !== undefined && buffer.parse(v) === PARSED && range.test(buffer);
    },
    explain: (s) => {
      const value = readSource(s.req, from);
      const check: ConditionCheck = { condition: text, holds: false, value: value ?? null };
      if (value === undefined) {
        check.problem = `no ${sourceText(from)}`;
      } else {
        const v = versionText(value, pattern);
        const code = v === undefined ? PARSED : buffer.parse(v);
        if (v === undefined) check.problem = `/${m.pattern}/ finds no version in it`;
        else if (code !== PARSED) check.problem = `${pattern === undefined ? '' : `${quote(v)} `}not a version: ${describeProblem(code, buffer)}`;
        else {
          check.version = buffer.normalized(range.mode);
          check.holds = range.test(buffer);
        }
      }
      const read = value === undefined ? '' : `read ${quote(clip(value))}: `;
      // The default ignores a prerelease tag: say so, or 2.4.0-beta.1 reading as 2.4.0 looks like a slip.
      const ignored = check.version !== undefined && range.mode === 'include' && buffer.tagTo > buffer.tagFrom ? ` (tag -${buffer.tag()} ignored)` : '';
      check.detail =
        check.version !== undefined
          ? `${read}version ${check.version}${ignored} ${check.holds ? 'satisfies' : 'does not satisfy'} ${range.text}`
          : `${read}${check.problem}`;
      return check;
    },
  };
}

/** A value as explain repeats it: long ones cut (the full value is in `value`). */
function clip(v: string): string {
  return v.length <= 80 ? v : `${v.slice(0, 77)}...`;
}

/** For explain: how a bucket compared with a threshold. */
export function bucketDetail(bucket: number, t: number): string {
  return bucket < t ? `bucket ${bucket} < ${t}: in` : `bucket ${bucket} >= ${t}: out`;
}

/** The version text of a value: the value itself, or the first capture group of `pattern` in it. */
function versionText(value: string | undefined, pattern: RegExp | undefined): string | undefined {
  if (value === undefined || pattern === undefined) return value;
  const found = pattern.exec(value);
  return found === null ? undefined : found[1];
}

/**
 * `percent`: the request's bucket is below `percent * 100`. 0 and 100 are decided without an
 * identity (so they never mint a visitor id).
 */
export function percentCondition(percent: number, keyPath: string): Condition {
  if (!(percent >= 0 && percent <= 100)) throw new CompileError(keyPath, `percent must be 0..100, got ${percent}`);
  const t = threshold(percent);
  const text = `percent ${percent} (bucket < ${t})`;
  if (t === 0) return { text, test: () => false };
  if (t >= BUCKETS) return { text, test: () => true };
  return {
    text,
    test: (s) => s.bucket() < t,
    explain: (s) => {
      const bucket = s.bucket();
      return { condition: text, holds: bucket < t, bucket, threshold: t, detail: bucketDetail(bucket, t) };
    },
  };
}
