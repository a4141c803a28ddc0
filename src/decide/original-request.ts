/**
 * The original request an edge proxy asks the decision listener about, rebuilt from the check
 * request it sends, as the RequestView that routes and marking read in the gateway (same host
 * folding, same path normalisation; src/gateway/request-view.ts, src/routing/path.ts).
 *
 * Where each proxy puts the original request (the headers it adds overwrite any a client sent;
 * every other client header is passed on unless said otherwise):
 *
 * | proxy | target (path?query) | host |
 * |---|---|---|
 * | `traefik` forwardAuth | `X-Forwarded-Uri` | `X-Forwarded-Host` |
 * | `apisix` forward-auth | `X-Forwarded-Uri` | `X-Forwarded-Host` (only the headers listed in `request_headers` are passed on) |
 * | `nginx` auth_request | `X-Original-URI` (`proxy_set_header X-Original-URI $request_uri`) | `Host` (`proxy_set_header Host $host`) |
 * | `ingress-nginx` auth-url | `X-Original-URL` (`$scheme://$http_host$request_uri`) | from that URL |
 * | `envoy` ext_authz (HTTP) | the check request's own target, `path_prefix` first | `Host` (only allowed_headers are passed on) |
 *
 * The proxy is configured (decide.proxy), never guessed from the headers present: nginx and Traefik
 * pass the client's headers on, so a client could otherwise send another proxy's `X-Forwarded-Uri`
 * and have a different path decided than the one the proxy routes. Each header read is refused
 * when it appears twice, for the same reason.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { hasEmptyLabel, isEmptyHost, isHostAndPort } from '../gateway/request-guard.js';
import { hostOf, requestView } from '../gateway/request-view.js';
import { normalizeTarget } from '../routing/path.js';
import type { RequestView } from '../routing/types.js';
import type { DecideProxy } from '../spec/types.js';

/** The check request as the listener received it. */
export interface CheckRequest {
  /** Its target (origin form). */
  url: string;
  /** Node's lower-cased header object: what marking reads (identity, cookies, app version...). */
  headers: IncomingHttpHeaders;
  /** `[name, value, ...]` as received, to see repeated fields Node would join or drop. */
  rawHeaders: readonly string[];
}

/** Why the original request cannot be rebuilt; the listener answers 400 with it. */
export interface CheckProblem {
  readonly problem: string;
}

/** How the listener reads check requests: decide.proxy, decide.pathPrefix and the URL limit. */
export interface CheckShape {
  proxy: DecideProxy;
  /** Envoy's ext_authz path_prefix ('' when none). */
  pathPrefix: string;
  /** limits.maxUrlBytes: the gateway's own limit applies to the original target. */
  maxUrlBytes: number;
}

/**
 * The RequestView of the original request, or why there is none.
 *
 * @example
 * originalRequest({ proxy: 'traefik', pathPrefix: '', maxUrlBytes: 8192 },
 *   { url: '/', headers: { 'x-forwarded-host': 'shop.example.com', 'x-forwarded-uri': '/cart?x=1' }, rawHeaders: [...] })
 * // { host: 'shop.example.com', path: '/cart', query: 'x=1', headers: {...} }
 */
export function originalRequest(shape: CheckShape, check: CheckRequest): RequestView | CheckProblem {
  const parts = originalParts(shape, check);
  if ('problem' in parts) return parts;
  const { target, host } = parts;
  if (target.charCodeAt(0) !== 47 /* / */) return { problem: `the original target must start with /, got ${quoted(target)}` };
  if (target.length > shape.maxUrlBytes) return { problem: 'the original target is longer than limits.maxUrlBytes' };
  if (host !== undefined && isEmptyHost(host)) return { problem: 'the original Host names no host (empty before the port)' };
  if (host !== undefined && hasEmptyLabel(host)) return { problem: 'the original Host has an empty label (.. or a leading dot)' };
  if (host !== undefined && !isHostAndPort(host)) return { problem: 'the original Host is not host[:port]' };
  const normalised = normalizeTarget(target);
  if (typeof normalised !== 'string') return { problem: normalised.reason };
  const view = requestView(normalised, check.headers);
  view.host = hostOf(host);
  return view;
}

/** The original target and host as the proxy sent them, before normalisation. */
function originalParts(shape: CheckShape, check: CheckRequest): { target: string; host: string | undefined } | CheckProblem {
  switch (shape.proxy) {
    case 'traefik':
    case 'apisix': {
      const target = single(check, 'x-forwarded-uri');
      const host = single(check, 'x-forwarded-host');
      if (target === null || host === null) return twice(target === null ? 'X-Forwarded-Uri' : 'X-Forwarded-Host');
      if (target === undefined) return missing('X-Forwarded-Uri', shape.proxy);
      return { target, host };
    }
    case 'nginx': {
      const target = single(check, 'x-original-uri');
      const host = single(check, 'host');
      if (target === null || host === null) return twice(target === null ? 'X-Original-URI' : 'Host');
      if (target === undefined) return missing('X-Original-URI', 'nginx');
      return { target, host };
    }
    case 'ingress-nginx': {
      const url = single(check, 'x-original-url');
      if (url === null) return twice('X-Original-URL');
      if (url === undefined) return missing('X-Original-URL', 'ingress-nginx');
      return splitAbsoluteUrl(url);
    }
    case 'envoy': {
      const host = single(check, 'host');
      if (host === null) return twice('Host');
      const target = withoutPrefix(check.url, shape.pathPrefix);
      if (target === null) return { problem: `the check request's path does not start with decide.pathPrefix ${shape.pathPrefix}/` };
      return { target, host };
    }
  }
}

/**
 * `http://shop.example.com:8080/cart?x=1` -> target `/cart?x=1`, host `shop.example.com:8080`.
 * ingress-nginx builds it from `$scheme://$http_host$request_uri`, so the target is already in
 * origin form after the authority.
 */
function splitAbsoluteUrl(url: string): { target: string; host: string } | CheckProblem {
  const scheme = url.indexOf('://');
  if (scheme <= 0) return { problem: `X-Original-URL must be an absolute URL (scheme://host/path), got ${quoted(url)}` };
  const start = scheme + 3;
  let end = start;
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  const host = url.slice(start, end);
  if (host.includes('@')) return { problem: 'X-Original-URL must not carry user information' };
  const rest = url.slice(end);
  return { target: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest, host };
}

/** `url` without Envoy's path_prefix; null when it does not start with it (a check request for something else). */
function withoutPrefix(url: string, prefix: string): string | null {
  if (prefix === '') return url;
  if (!url.startsWith(prefix)) return null;
  const rest = url.slice(prefix.length);
  // Envoy appends the original path, which starts with /: `/graylaneX` is not under `/graylane`.
  return rest.charCodeAt(0) === 47 /* / */ ? rest : null;
}

/**
 * The value of a header field that may appear once: undefined when absent, null when repeated
 * (Node would join repeats with `, ` or keep the first; either could decide a path the proxy does not route).
 */
function single(check: CheckRequest, name: string): string | undefined | null {
  return singleHeader(check.rawHeaders, name);
}

/** {@link single} over `[name, value, ...]`; `name` lower-case. */
export function singleHeader(raw: readonly string[], name: string): string | undefined | null {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) {
      if (value !== undefined) return null;
      value = raw[i + 1]!;
    }
  }
  return value;
}

function missing(header: string, proxy: DecideProxy): CheckProblem {
  return { problem: `${header} is missing: decide.proxy is ${proxy}, whose check requests carry the original request there` };
}

function twice(header: string): CheckProblem {
  return { problem: `more than one ${header} header` };
}

function quoted(s: string): string {
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);
}
