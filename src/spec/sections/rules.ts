/**
 * The marking part of a route: rules (users, app version, path, header, cookie, query, percent) and
 * ingress-nginx style canaries.
 */
import { PARSED, RangeProblem, VersionBuffer, VersionRange } from '../app-version.js';
import type { AppVersionMatch, HeaderModifier, NamedMatch, NginxCanary, PathMatch, Rule, ValueSource } from '../types.js';
import { entries, has, list, num, rec, str, type NormalizeContext } from '../context.js';
import type { Path } from '../paths.js';
import { checkRegex } from '../regex-safety.js';

export function normalizeRule(raw: Record<string, unknown>, path: Path, index: number, ctx: NormalizeContext): Rule {
  const rule: Rule = { name: str(raw.name) ?? `rules[${index}]`, lane: str(raw.lane) ?? '' };
  ctx.checkLane([...path, 'lane'], raw.lane);

  if (has(raw, 'users')) rule.users = texts(ctx, [...path, 'users'], raw.users);
  if (has(raw, 'appVersion')) rule.appVersion = appVersion(ctx, [...path, 'appVersion'], rec(raw.appVersion));
  if (has(raw, 'path')) rule.path = pathMatch(ctx, [...path, 'path'], rec(raw.path));
  if (has(raw, 'header')) rule.header = namedMatch(ctx, [...path, 'header'], rec(raw.header), 'header');
  if (has(raw, 'cookie')) rule.cookie = namedMatch(ctx, [...path, 'cookie'], rec(raw.cookie), 'cookie');
  if (has(raw, 'query')) rule.query = namedMatch(ctx, [...path, 'query'], rec(raw.query), 'query');
  if (has(raw, 'percent')) rule.percent = percent(ctx, [...path, 'percent'], raw.percent);
  if (has(raw, 'headers')) rule.headers = headerModifier(ctx, [...path, 'headers'], rec(raw.headers));
  return rule;
}

export function normalizeCanary(raw: Record<string, unknown>, path: Path, ctx: NormalizeContext): NginxCanary {
  const canary: NginxCanary = { lane: str(raw.lane) ?? '' };
  ctx.checkLane([...path, 'lane'], raw.lane);
  const byHeader = str(raw.byHeader);
  if (byHeader !== undefined) canary.byHeader = byHeader.toLowerCase();
  const byHeaderValue = ctx.text([...path, 'byHeaderValue'], raw.byHeaderValue);
  if (byHeaderValue !== undefined) canary.byHeaderValue = byHeaderValue;
  const byHeaderPattern = regex(ctx, [...path, 'byHeaderPattern'], raw.byHeaderPattern);
  if (byHeaderPattern !== undefined) canary.byHeaderPattern = byHeaderPattern;
  const byCookie = str(raw.byCookie);
  if (byCookie !== undefined) canary.byCookie = byCookie;
  const weight = num(raw.weight);
  if (weight !== undefined) {
    const total = num(raw.weightTotal) ?? 100;
    if (weight > total) ctx.report([...path, 'weight'], 'out-of-range', `must be at most weightTotal (${total}), got ${weight}`);
    canary.weight = weight;
    canary.weightTotal = total;
  }
  return canary;
}

/**
 * `percent` of a rule or mirror: the schema checks 0..100; the unit is one of 10,000 buckets, so at
 * most two decimals.
 */
export function percent(ctx: NormalizeContext, path: Path, value: unknown): number {
  const p = num(value) ?? 0;
  const buckets = p * 100;
  if (!(Math.abs(buckets - Math.round(buckets)) <= 1e-6)) {
    ctx.report(path, 'invalid-value', `must have at most two decimals (0.01% is one of 10,000 buckets), got ${p}`);
  }
  return Math.round(buckets) / 100;
}

/** `header:x-user-id` -> { kind: 'header', name: 'x-user-id' }; header names lower-cased. */
export function valueSource(spec: string): ValueSource | undefined {
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  if (colon < 0 || name === '' || (kind !== 'header' && kind !== 'cookie' && kind !== 'query')) return undefined;
  return { kind, name: kind === 'header' ? name.toLowerCase() : name };
}

function appVersion(ctx: NormalizeContext, path: Path, raw: Record<string, unknown>): AppVersionMatch {
  const header = str(raw.header);
  const from: ValueSource =
    header !== undefined
      ? { kind: 'header', name: header.toLowerCase() }
      : str(raw.query) !== undefined
        ? { kind: 'query', name: str(raw.query)! }
        : { kind: 'cookie', name: str(raw.cookie) ?? '' };
  const match: AppVersionMatch = { from, prerelease: raw.prerelease === 'exclude' ? 'exclude' : 'include' };
  // Unquoted numbers are taken as written: `min: 2.10` is 2.10, not 2.1.
  for (const key of ['range', 'min', 'max'] as const) {
    const text = ctx.text([...path, key], raw[key]);
    if (text !== undefined) match[key] = text;
  }
  const pattern = regex(ctx, [...path, 'pattern'], raw.pattern);
  if (pattern !== undefined) {
    match.pattern = pattern;
    if (captureGroups(pattern) === 0) {
      ctx.report([...path, 'pattern'], 'invalid-value', `needs a capture group around the version, e.g. "MyApp/([0-9.]+)": its first group is the version`);
    }
  }
  // The very compiler the routing core uses, so what loads is what runs.
  if (match.range !== undefined || match.min !== undefined || match.max !== undefined) {
    try {
      VersionRange.compile(match);
      if (match.min !== undefined && match.max !== undefined && !minUpToMax(match.min, match.max, match.prerelease)) {
        ctx.report([...path, 'max'], 'invalid-value', `can never match: max ${match.max} is below min ${match.min}`);
      }
    } catch (err) {
      const key = err instanceof RangeProblem ? err.key : 'range';
      ctx.report([...path, key], key === 'range' ? 'bad-semver' : 'bad-version', (err as Error).message);
    }
  }
  return match;
}

/** min <= max, in the rule's own order: min satisfies [min, max] exactly when it is not above max. */
function minUpToMax(min: string, max: string, prerelease: AppVersionMatch['prerelease']): boolean {
  const b = new VersionBuffer();
  return b.parse(min) === PARSED && VersionRange.compile({ min, max, prerelease }).test(b);
}

/** How many capture groups a (valid) pattern has: an alternative matching '' makes every pattern match. */
function captureGroups(pattern: string): number {
  try {
    return new RegExp(`${pattern}|`).exec('')!.length - 1;
  } catch {
    return 0;
  }
}

/** A `%` not followed by two hex digits. */
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/**
 * A path string of a route or rule. Requests whose path has a `%` without two hex digits after it
 * are refused (docs/gateway.md#hostile-requests), so such a string could never match: reported.
 */
export function pathText(ctx: NormalizeContext, path: Path, value: unknown): string | undefined {
  const text = str(value);
  if (text !== undefined && BAD_ESCAPE.test(text)) {
    ctx.report(path, 'invalid-value', `"${text}" has a % not followed by two hex digits (%25 for a literal %): it could never match a request`);
  }
  return text;
}

function pathMatch(ctx: NormalizeContext, path: Path, raw: Record<string, unknown>): PathMatch {
  const match: PathMatch = {};
  const contains = pathText(ctx, [...path, 'contains'], raw.contains);
  if (contains !== undefined) match.contains = contains;
  const prefix = pathText(ctx, [...path, 'prefix'], raw.prefix);
  if (prefix !== undefined) match.prefix = prefix;
  const pattern = regex(ctx, [...path, 'regex'], raw.regex);
  if (pattern !== undefined) match.regex = pattern;
  return match;
}

function namedMatch(ctx: NormalizeContext, path: Path, raw: Record<string, unknown>, kind: ValueSource['kind']): NamedMatch {
  const name = str(raw.name) ?? '';
  const match: NamedMatch = { name: kind === 'header' ? name.toLowerCase() : name };
  const equals = ctx.text([...path, 'equals'], raw.equals);
  if (equals !== undefined) match.equals = equals;
  if (has(raw, 'in')) match.in = texts(ctx, [...path, 'in'], raw.in);
  const pattern = regex(ctx, [...path, 'pattern'], raw.pattern);
  if (pattern !== undefined) match.pattern = pattern;
  if (raw.present === true) match.present = true;
  return match;
}

function headerModifier(ctx: NormalizeContext, path: Path, raw: Record<string, unknown>): HeaderModifier {
  const headers: HeaderModifier = {};
  for (const op of ['set', 'add'] as const) {
    if (!has(raw, op)) continue;
    headers[op] = Object.fromEntries(
      entries(raw[op]).map(([name, value]) => [name.toLowerCase(), ctx.text([...path, op, name], value) ?? '']),
    );
  }
  if (has(raw, 'remove')) {
    headers.remove = list(raw.remove).flatMap((name) => (typeof name === 'string' ? [name.toLowerCase()] : []));
  }
  return headers;
}

/** A regex the schema let through as a string: compiled and screened here (see regex-safety.ts). */
function regex(ctx: NormalizeContext, path: Path, value: unknown): string | undefined {
  const pattern = str(value);
  if (pattern === undefined) return undefined;
  const problem = checkRegex(pattern);
  if (problem) ctx.report(path, problem.code, problem.message);
  return pattern;
}

/** A list of strings where unquoted numbers are taken as written (user ids, `in` values). */
function texts(ctx: NormalizeContext, path: Path, value: unknown): string[] {
  return list(value).flatMap((item, i) => {
    const text = ctx.text([...path, i], item);
    return text === undefined ? [] : [text];
  });
}
