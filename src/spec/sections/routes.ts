/**
 * Routes: match, service, identity and stickiness, rules, canaries, split and mirror; plus the
 * checks across routes (unique names, no two routes with the same match).
 */
import type { RouteMatch, RouteSpec, ValueSource, VisitorCookieSpec } from '../types.js';
import { bool, entries, has, list, num, rec, str, type NormalizeContext } from '../context.js';
import type { Path } from '../paths.js';
import { parseDuration } from '../units.js';
import { normalizeCanary, normalizeRule, pathText, percent, valueSource } from './rules.js';

export const DEFAULT_IDENTITY: readonly ValueSource[] = [{ kind: 'header', name: 'x-user-id' }];
export const DEFAULT_VISITOR_COOKIE: VisitorCookieSpec = { name: 'gl_vid', maxAgeMs: 30 * 86_400_000 };
/** Browsers cap cookie lifetimes at 400 days (RFC 6265bis); a longer one would only mislead. */
const MAX_COOKIE_AGE_MS = 400 * 86_400_000;

export function normalizeRoutes(data: Record<string, unknown>, ctx: NormalizeContext): RouteSpec[] {
  const routes = list(data.routes).map((raw, i) => normalizeRoute(rec(raw), i, ctx));
  checkUnique(routes, list(data.routes), ctx);
  return routes;
}

function normalizeRoute(raw: Record<string, unknown>, i: number, ctx: NormalizeContext): RouteSpec {
  const path = ['routes', i];
  const match = normalizeMatch(ctx, [...path, 'match'], rec(raw.match));
  const name = str(raw.name) ?? defaultRouteName(match, i);

  const service = str(raw.service) ?? '';
  ctx.checkService([...path, 'service'], raw.service);

  const identity = has(raw, 'identity')
    ? list(raw.identity).flatMap((s) => {
        const source = typeof s === 'string' ? valueSource(s) : undefined;
        return source ? [source] : [];
      })
    : DEFAULT_IDENTITY.map((s) => ({ ...s }));

  const route: RouteSpec = {
    name,
    match,
    service,
    trustLane: bool(raw.trustLane, false),
    identity,
    visitorCookie: visitorCookie(ctx, [...path, 'visitorCookie'], raw.visitorCookie),
    salt: ctx.text([...path, 'salt'], raw.salt) ?? name,
    rules: list(raw.rules).map((r, j) => normalizeRule(rec(r), [...path, 'rules', j], j, ctx)),
    canary: list(raw.canary).map((c, j) => normalizeCanary(rec(c), [...path, 'canary', j], ctx)),
    stickySplit: bool(raw.stickySplit, false),
  };
  if (str(raw.lane) !== undefined) {
    route.lane = str(raw.lane)!;
    ctx.checkLane([...path, 'lane'], raw.lane);
  }
  if (has(raw, 'split')) route.split = split(ctx, [...path, 'split'], rec(raw.split));
  if (has(raw, 'mirror')) {
    const mirror = rec(raw.mirror);
    ctx.checkLane([...path, 'mirror', 'lane'], mirror.lane);
    route.mirror = {
      lane: str(mirror.lane) ?? '',
      percent: has(mirror, 'percent') ? percent(ctx, [...path, 'mirror', 'percent'], mirror.percent) : 100,
    };
  }

  checkRuleNames(route, path, ctx);
  if (has(raw, 'identity') && identity.length === 0) {
    route.rules.forEach((rule, j) => {
      if (rule.users) {
        ctx.report([...path, 'rules', j, 'users'], 'invalid-value', 'can never match: the route has no identity sources (identity: [])');
      }
    });
  }
  return route;
}

function normalizeMatch(ctx: NormalizeContext, path: Path, raw: Record<string, unknown>): RouteMatch {
  const match: RouteMatch = {};
  const host = str(raw.host);
  if (host !== undefined) match.host = host.toLowerCase();
  const pathPrefix = pathText(ctx, [...path, 'pathPrefix'], raw.pathPrefix);
  if (pathPrefix !== undefined) match.pathPrefix = pathPrefix;
  const exact = pathText(ctx, [...path, 'path'], raw.path);
  if (exact !== undefined) match.path = exact;
  return match;
}

/** `prod.example.com/`, `/api`, `prod.example.com`, or `routes[3]` for a route that matches everything. */
function defaultRouteName(match: RouteMatch, i: number): string {
  const name = `${match.host ?? ''}${match.path ?? match.pathPrefix ?? ''}`;
  return name === '' ? `routes[${i}]` : name;
}

/** `true` or absent: on with the defaults; `false`: off (null); a mapping: defaults for what it leaves out. */
function visitorCookie(ctx: NormalizeContext, path: Path, raw: unknown): VisitorCookieSpec | null {
  if (raw === false) return null;
  const options = rec(raw);
  const maxAgeMs = parseDuration(options.maxAge) ?? DEFAULT_VISITOR_COOKIE.maxAgeMs;
  if (maxAgeMs === 0) ctx.report([...path, 'maxAge'], 'bad-duration', 'must be longer than 0');
  if (maxAgeMs > MAX_COOKIE_AGE_MS) ctx.report([...path, 'maxAge'], 'bad-duration', 'must be at most 400d (browsers cap cookie lifetimes there)');
  return { name: str(options.name) ?? DEFAULT_VISITOR_COOKIE.name, maxAgeMs };
}

function split(ctx: NormalizeContext, path: Path, raw: Record<string, unknown>): Record<string, number> {
  const weights = entries(raw).map(([lane, weight]): [string, number] => {
    ctx.checkLane([...path, lane], lane, 'key');
    return [lane, num(weight) ?? 0];
  });
  if (weights.length > 0 && weights.every(([, w]) => w === 0) && entries(raw).every(([, w]) => typeof w === 'number')) {
    ctx.report(path, 'zero-split', 'all weights are 0: give at least one lane a weight above 0 (or remove split to send everything to the fallback)');
  }
  return Object.fromEntries(weights);
}

function checkRuleNames(route: RouteSpec, path: Path, ctx: NormalizeContext): void {
  const seen = new Map<string, number>();
  route.rules.forEach((rule, j) => {
    const first = seen.get(rule.name!);
    if (first === undefined) seen.set(rule.name!, j);
    else ctx.report([...path, 'rules', j, 'name'], 'duplicate-name', `rule name "${rule.name}" is already used by rules[${first}]`);
  });
}

/**
 * Two routes with the same match: the second could never be chosen (the first route that matches
 * wins). Two routes with the same name: logs, metrics and explain could not tell them apart.
 */
function checkUnique(routes: RouteSpec[], raw: unknown[], ctx: NormalizeContext): void {
  const byMatch = new Map<string, number>();
  const byName = new Map<string, number>();
  routes.forEach((route, i) => {
    const key = matchKey(route.match);
    const sameMatch = byMatch.get(key);
    if (sameMatch !== undefined) {
      ctx.report(
        ['routes', i, 'match'],
        'duplicate-route',
        `same match as routes[${sameMatch}] (${describeMatch(route.match)}): this route would never be used`,
      );
    } else {
      byMatch.set(key, i);
    }
    const sameName = byName.get(route.name);
    if (sameName === undefined) {
      byName.set(route.name, i);
    } else if (has(rec(raw[i]), 'name')) {
      ctx.report(['routes', i, 'name'], 'duplicate-route', `route name "${route.name}" is already used by routes[${sameName}]`);
    } else if (sameMatch === undefined) {
      ctx.report(
        ['routes', i],
        'duplicate-route',
        `the default name "${route.name}" is already used by routes[${sameName}]; give one of them a name`,
      );
    }
  });
}

/** Absent pathPrefix and `pathPrefix: /` match the same requests. */
function matchKey(match: RouteMatch): string {
  const path = match.path !== undefined ? `=${match.path}` : `^${match.pathPrefix ?? '/'}`;
  return `${match.host ?? '*'} ${path}`;
}

function describeMatch(match: RouteMatch): string {
  const host = match.host ?? 'any host';
  const path = match.path !== undefined ? `path ${match.path}` : `pathPrefix ${match.pathPrefix ?? '/'}`;
  return `${host}, ${path}`;
}
