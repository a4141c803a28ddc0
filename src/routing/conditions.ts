/**
 * The condition kinds of a rule, each compiled once into a predicate over one request's Subject.
 * Regexes, semver ranges and user Sets are built here at compile time; the predicates themselves
 * allocate nothing per request (apart from what reading a decoded cookie/query value needs).
 */
import semver from 'semver';
import type { AppVersionMatch, NamedMatch, PathMatch, StringMatch, ValueSource } from '../spec/types.js';
import { CompileError } from './errors.js';
import { readSource, type Subject } from './identity.js';
import { cookieValue, queryValue } from './request-values.js';
import { BUCKETS, threshold } from './hash.js';
import { UserSet } from './user-set.js';

/** A compiled condition: `test` answers for one request, `text` says what it checks (for explain). */
export interface Condition {
  readonly test: (s: Subject) => boolean;
  readonly text: string;
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
      const v = s.req.headers[name];
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
  return { text: `cookie ${name} ${match.text}`, test: (s) => t(cookieValue(s.req.headers.cookie, name)) };
}

/** `query: {name, ...}`: scanned out of the raw query; only the found value is decoded. */
export function queryCondition(m: NamedMatch, keyPath: string): Condition {
  const name = m.name;
  const match = compileStringMatch(m, keyPath);
  const t = match.test;
  return { text: `query ${name} ${match.text}`, test: (s) => t(queryValue(s.req.query, name)) };
}

/** `path: {contains | prefix | regex}` on the raw (not decoded) path, query excluded. */
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

/** Versions remembered per appVersion condition; when full, the memo starts over. */
const APP_VERSION_MEMO_SIZE = 1024;

function sourceText(from: ValueSource): string {
  return `${from.kind} ${from.name}`;
}

/**
 * `appVersion: {from, range}`: the value must be a strict semver version (`2.3.1`, `v2.3.1`,
 * `3.0.0-beta.1`; not `2.3` or `latest`: loose=false, no coercion) satisfying the range, parsed once
 * here. A missing or unparseable version does not match. Prereleases follow npm's rule: a prerelease
 * only satisfies a range that names a prerelease of the same major.minor.patch, so `3.0.0-beta.1`
 * satisfies `>=3.0.0-beta.0` but not `>=2.3.0`.
 *
 * Parsing a version costs ~0.6 µs, so answers are memoized per distinct version string (bounded:
 * app versions are few, and a client inventing new ones only resets the memo).
 */
export function appVersionCondition(m: AppVersionMatch, keyPath: string): Condition {
  let range: semver.Range;
  try {
    range = new semver.Range(m.range, { loose: false });
  } catch (err) {
    throw new CompileError(`${keyPath}.range`, `invalid semver range ${quote(m.range)}`, { cause: err });
  }
  const from = m.from;
  const memo = new Map<string, boolean>();
  return {
    text: `app version (${sourceText(from)}) satisfies ${quote(m.range)}`,
    test: (s) => {
      const v = readSource(s.req, from);
      if (v === undefined) return false;
      let ok = memo.get(v);
      if (ok === undefined) {
        const parsed = semver.parse(v, { loose: false });
        ok = parsed !== null && range.test(parsed);
        if (memo.size >= APP_VERSION_MEMO_SIZE) memo.clear();
        memo.set(v, ok);
      }
      return ok;
    },
  };
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
  return { text, test: (s) => s.bucket() < t };
}
