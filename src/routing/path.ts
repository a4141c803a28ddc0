/**
 * The one form of a request path that routes, rules and the upstream all see.
 *
 * Routing matches strings, while upstreams resolve resources: if the two read a path differently, a
 * request can pass one route and land on another resource (`/public/../admin` passing a `/public`
 * route, `/%69nternal/x` missing an `/internal/` route that nginx or Envoy would have matched). So
 * the gateway normalises the path before matching and forwards the normalised path, like Envoy's
 * `normalize_path` + `merge_slashes` and nginx's own URI normalisation, in this order:
 *
 * 1. percent-encoded unreserved characters (ALPHA DIGIT `-` `.` `_` `~`) are decoded and the hex
 *    digits of the other encodings upper-cased (RFC 3986 §6.2.2.2 and §6.2.2.1: both forms name
 *    the same resource). Reserved encodings (`%2F`, `%3B`, `%25`...) stay encoded: decoding `%2F`
 *    would change the path's structure. A `%` not followed by two hex digits is refused (nginx
 *    answers 400 too): left alone, `%%36%39` would decode to a new `%69`, which the upstream would
 *    decode once more;
 * 2. then `.` and `..` segments are removed (§5.2.4; `..` stops at the root), so `%2E%2E` counts as
 *    `..` and `/public/%2E%2E/internal` is `/internal`; repeated slashes are merged;
 * 3. refused, because upstreams resolve them differently and no client needs them: a backslash; a
 *    dot segment behind an encoded slash, backslash or semicolon (`/a%2F..%2Fadmin`, `..%3B`); a
 *    dot segment with path parameters (`/public/..;/internal`, which Tomcat and Spring resolve to
 *    `/internal` after dropping `;`).
 *
 * Other `;` path parameters (`/login;jsessionid=1`) are forwarded as sent, but routes and rules match
 * the path without them ({@link withoutPathParameters}), the way servlet containers map requests:
 * otherwise `/internal;x=1/x` would miss an `/internal/` route and reach `/internal/x` on a
 * Tomcat upstream. The query is never touched.
 */
import { CompileError } from './errors.js';

/** Why a path cannot be normalised without guessing how the upstream decodes it. */
export interface PathProblem {
  readonly reason: string;
}

export const BAD_ESCAPE: PathProblem = Object.freeze({ reason: 'the path has a % not followed by two hex digits' });
export const BACKSLASH: PathProblem = Object.freeze({ reason: 'the path has a backslash: upstreams resolve it differently' });
export const HIDDEN_DOT_SEGMENT: PathProblem = Object.freeze({
  reason: 'the path has a dot segment behind an encoded slash, backslash or semicolon: upstreams resolve it differently',
});
export const DOT_SEGMENT_PARAMETERS: PathProblem = Object.freeze({
  reason: 'the path has a dot segment with ;parameters (..;): upstreams resolve it differently',
});

const PERCENT = 37;
const SLASH = 47;
const DOT = 46;
const SEMICOLON = 59;
const BACKSLASH_CODE = 92;
const HEX = '0123456789ABCDEF';

/**
 * The origin-form target (`/path?query`) with its path normalised (see the module comment), the
 * very same string when there is nothing to do, or the problem that makes it ambiguous.
 *
 * @example
 * normalizeTarget('/public/../admin?x=1') // '/admin?x=1'
 * normalizeTarget('/new%2Dch%65ckout')     // '/new-checkout'
 * normalizeTarget('/a%2f..%2fadmin')       // HIDDEN_DOT_SEGMENT
 */
export function normalizeTarget(url: string): string | PathProblem {
  const q = url.indexOf('?');
  const end = q === -1 ? url.length : q;
  if (!needsWork(url, end)) return url;
  const path = url.slice(0, end);
  const normalized = normalizePath(path);
  if (typeof normalized !== 'string' || normalized === path) return normalized === path ? url : normalized;
  return q === -1 ? normalized : normalized + url.slice(q);
}

/** The path (no query) normalised, or the problem that makes it ambiguous. */
export function normalizePath(path: string): string | PathProblem {
  if (path.includes('\\')) return BACKSLASH;
  const decoded = normalizePercentEncoding(path);
  if (decoded === null) return BAD_ESCAPE;
  const segments = decoded.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      // `/a/b/..` is `/a/`: a trailing dot segment leaves its directory's slash.
      if (last) out.push('');
      continue;
    }
    if (s === '' && !last) continue;
    if (isDotWithParameters(s)) return DOT_SEGMENT_PARAMETERS;
    if (hidesDotSegment(s)) return HIDDEN_DOT_SEGMENT;
    out.push(s);
  }
  return `/${out.join('/')}`;
}

/**
 * `text` with percent-encoded unreserved characters decoded and the hex digits of every other
 * encoding upper-cased (RFC 3986 §6.2.2); the same string when that changes nothing; null when a
 * `%` is not followed by two hex digits. Also applied to the path strings of routes and rules at
 * compile time, so `/new%2dcheckout` in a config means what a request for it means.
 */
export function normalizePercentEncoding(text: string): string | null {
  let i = text.indexOf('%');
  if (i === -1) return text;
  let out = '';
  let copied = 0;
  for (; i !== -1; i = text.indexOf('%', i)) {
    const a = text.charCodeAt(i + 1);
    const b = text.charCodeAt(i + 2);
    const hi = hexValue(a);
    const lo = hexValue(b);
    if (hi === -1 || lo === -1) return null;
    const c = hi * 16 + lo;
    if (isUnreserved(c)) {
      out += text.slice(copied, i) + String.fromCharCode(c);
      copied = i + 3;
    } else if (a > 0x60 || b > 0x60 /* a-f */) {
      out += `${text.slice(copied, i)}%${HEX[hi]}${HEX[lo]}`;
      copied = i + 3;
    }
    i += 3;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * A path string of a route or rule (`pathPrefix`, `path`, `contains`, `prefix`) in the form request
 * paths are compared in: percent-encoding normalised ({@link normalizePercentEncoding}).
 * @throws CompileError at `keyPath` when a `%` is not followed by two hex digits (no request path
 *   that has one is ever routed, so the pattern could never match).
 */
export function normalizedPattern(pattern: string, keyPath: string): string {
  const normalized = normalizePercentEncoding(pattern);
  if (normalized === null) {
    throw new CompileError(keyPath, `${JSON.stringify(pattern)} has a % not followed by two hex digits (write %25 for a literal %)`);
  }
  return normalized;
}

/**
 * The path that routes and rules match: `;parameters` cut from every segment (`/a;x=1/b;y` ->
 * `/a/b`), a segment left empty dropped unless it is the last (`/;jsessionid=1` -> `/`). The same
 * string when the path has no `;` (one scan, nothing allocated). Takes a normalised path.
 */
export function withoutPathParameters(path: string): string {
  if (path.indexOf(';') === -1) return path;
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const semi = s.indexOf(';');
    const name = semi === -1 ? s : s.slice(0, semi);
    if (name === '' && i !== segments.length - 1) continue;
    out.push(name);
  }
  return `/${out.join('/')}`;
}

/** True when the path (url[0, end)) has `/.`, `//`, `%` or `\`: only then can normalising change it. */
function needsWork(url: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH_CODE) return true;
    if (c === SLASH) {
      const next = url.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) return true;
    }
  }
  return false;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3). */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === DOT || c === 0x5f || c === 0x7e
  );
}

/** `.;x` or `..;x`: a dot segment once a servlet container has dropped its parameters. */
function isDotWithParameters(segment: string): boolean {
  if (segment.charCodeAt(0) !== DOT) return false;
  const semi = segment.indexOf(';');
  if (semi === -1) return false;
  return semi === 1 || (semi === 2 && segment.charCodeAt(1) === DOT);
}

const ENCODED_SEPARATOR = /%2F|%5C|%3B/;

/** A segment that holds `.` or `..` between encoded slashes, backslashes or semicolons (`a%2F..%2Fb`). */
function hidesDotSegment(segment: string): boolean {
  // Hex digits are upper-case by now (normalizePercentEncoding).
  if (!ENCODED_SEPARATOR.test(segment)) return false;
  for (const part of segment.split(ENCODED_SEPARATOR)) if (part === '.' || part === '..') return true;
  return false;
}
