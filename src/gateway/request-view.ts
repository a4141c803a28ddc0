/**
 * The part of a client request that mark and dispatch read, built without URL parsing: routing
 * matches the path checkRequest normalised (src/routing/path.ts), so nothing is decoded twice.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { needsHttp2 } from '../routing/dispatch.js';
import { withoutPathParameters } from '../routing/path.js';
import { headerValue, ObjectHeaders } from '../routing/request-values.js';
import type { HeaderLookup, RequestView } from '../routing/types.js';

/**
 * `Host` lower-cased without its port and without a trailing dot ('' when absent): `PROD.example.com`,
 * `prod.example.com:8080` and `prod.example.com.` (the root-anchored DNS name, which resolvers and
 * nginx treat as the same host) all match a `prod.example.com` route. Handles `[::1]:8080`.
 */
export function hostOf(host: string | undefined): string {
  if (host === undefined) return '';
  // Most requests repeat the last Host (the engine reuses an unchanged value's string, so this is
  // usually one reference compare): its answer costs no slice and no lower-casing again.
  if (host === lastHost) return lastHostOf;
  lastHost = host;
  lastHostOf = hostOfText(host);
  return lastHostOf;
}

let lastHost = '';
let lastHostOf = '';

function hostOfText(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
    if (end > 1 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  }
  const h = end === host.length ? host : host.slice(0, end);
  return h.toLowerCase();
}

/**
 * The RequestView of a request whose target is in origin form (`/path?query`) and normalised; the
 * caller has already checked that `url` starts with `/`. The path is the one routes and rules match:
 * without `;` parameters (see withoutPathParameters), which stay in the target forwarded upstream.
 */
export function requestView(url: string, headers: IncomingHttpHeaders): RequestView {
  return viewOf(url, new ObjectHeaders(headers));
}

/** requestView over any HeaderLookup: the gateway's, for both engines (HTTP/1.1 reads the parsed head). */
export function viewOf(url: string, headers: HeaderLookup): RequestView {
  const q = url.indexOf('?');
  return {
    host: hostOf(headerValue(headers, 'host')),
    path: withoutPathParameters(q === -1 ? url : url.slice(0, q)),
    query: q === -1 ? '' : url.slice(q + 1),
    headers,
    http2Only: needsHttp2(headerValue(headers, 'content-type')),
  };
}
