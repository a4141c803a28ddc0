/**
 * Checks a client request must pass before it is routed, and the one rewrite routing relies on.
 *
 * Node's parser (llhttp, strict mode) already refuses what could smuggle a second request: both
 * Content-Length and Transfer-Encoding, a repeated or malformed Content-Length, Transfer-Encoding
 * other than a final `chunked`, `chunked` twice, obs-fold, bare LF, control bytes and NUL. It
 * answers those with 400 and closes the connection, before the gateway sees anything. Left to check
 * here:
 *
 * - the version: HTTP/1.0 and HTTP/1.1 only (505 otherwise);
 * - limits: a target over `maxUrlBytes` is 414, more than `maxHeaders` header fields is 431
 *   (the head's total size is Node's `maxHeaderSize`, which answers 431 by itself);
 * - Host: more than one is 400 (RFC 9112 §3.2); Node would keep the first and drop the rest. An
 *   empty host (`:80`, `:`, `[]`, an empty value) is 400: an http URI with an empty host is invalid
 *   and its recipient must reject it (RFC 9110 §4.2.1), as nginx does. A host name with an empty
 *   label (`a..b`, `.a`) is 400 too (nginx refuses it as well): it names no host, yet an upstream
 *   could read it as one. A single trailing dot is the same host (request-view.ts);
 * - Transfer-Encoding: llhttp accepts codings before the final `chunked` (`gzip, chunked`), removes
 *   only the chunking and hands over the still-coded bytes, which the upstream would take for the
 *   body. RFC 9112 §6.1: a coding the server does not understand is 501, and the connection is
 *   closed. graylane understands `chunked` alone;
 * - the path: normalised (src/routing/path.ts); what cannot be normalised without guessing how the
 *   upstream decodes is 400.
 *
 * Everything runs per request, so the common case costs a few comparisons per header field and one
 * scan of the path for `/.`, `//`, `%` and `\`; only a path that has one of them is rebuilt.
 */
import type { IncomingMessage, Server } from 'node:http';
import { TARGET } from '../http1/chars.js';
import { normalizeTarget } from '../routing/path.js';
import { DEFAULT_LIMITS } from '../spec/sections/gateway.js';
import type { LimitsSpec, Spec } from '../spec/types.js';
import type { GatewayErrorCode } from './errors.js';

/** Why a request is refused before routing. */
export interface Refusal {
  code: Extract<GatewayErrorCode, 'bad_request' | 'uri_too_long' | 'headers_too_large' | 'version_not_supported' | 'not_implemented'>;
  reason: string;
  /** Close the connection after the answer, even when the request had no body left to read. */
  close?: boolean;
}

const TOO_LONG: Refusal = { code: 'uri_too_long', reason: 'the request target is longer than limits.maxUrlBytes' };
const TOO_MANY: Refusal = { code: 'headers_too_large', reason: 'more header fields than limits.maxHeaders' };
const VERSION: Refusal = { code: 'version_not_supported', reason: 'only HTTP/1.0 and HTTP/1.1 are served on this listener' };
const TWO_HOSTS: Refusal = { code: 'bad_request', reason: 'more than one Host header' };
const EMPTY_HOST: Refusal = { code: 'bad_request', reason: 'the Host names no host (empty before the port; RFC 9110 §4.2.1)' };
const EMPTY_LABEL: Refusal = { code: 'bad_request', reason: 'the Host has an empty label (.. or a leading dot)' };
const BAD_HOST: Refusal = { code: 'bad_request', reason: 'the Host is not host[:port] (RFC 3986 §3.2.2, §3.2.3)' };
const UNKNOWN_CODING: Refusal = {
  code: 'not_implemented',
  reason: 'Transfer-Encoding other than chunked alone (gzip, deflate, identity...) is not supported',
  close: true,
};
const CHUNKED_TWICE: Refusal = { code: 'bad_request', reason: 'Transfer-Encoding names chunked more than once', close: true };

/**
 * The request target to route and forward (`url` itself, or its normalised form), or why the
 * request is refused. `url` is the origin-form target (it starts with `/`).
 */
export function checkRequest(req: IncomingMessage, url: string, limits: Readonly<LimitsSpec>): string | Refusal {
  // llhttp also parses `HTTP/2.0` request lines and HTTP/0.9 (`GET /`, no headers, so no Host).
  if (req.httpVersionMajor !== 1) return VERSION;
  if (url.length > limits.maxUrlBytes) return TOO_LONG;
  const raw = req.rawHeaders;
  // The server's maxHeadersCount is one above the limit, so one field too many is still seen here.
  if (raw.length > 2 * limits.maxHeaders) return TOO_MANY;
  let hosts = 0;
  let chunked = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) {
      if (++hosts > 1) return TWO_HOSTS;
      const host = raw[i + 1]!;
      if (isEmptyHost(host)) return EMPTY_HOST;
      if (hasEmptyLabel(host)) return EMPTY_LABEL;
      if (!isHostAndPort(host)) return BAD_HOST;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      // Several Transfer-Encoding lines are one list (RFC 9110 §5.3).
      const n = chunkedCodings(raw[i + 1]!);
      if (n === -1) return UNKNOWN_CODING;
      if ((chunked += n) > 1) return CHUNKED_TWICE;
    }
  }
  const target = normalizeTarget(url);
  return typeof target === 'string' ? target : { code: 'bad_request', reason: target.reason };
}

/**
 * What the HTTP/1.1 engine leaves to the gateway (src/http1 already refused, before the gateway
 * saw the request, everything checkRequest checks above and everything strict llhttp refuses): the
 * Host's form, and the path's normalisation. Returns the target to route and forward, or why the
 * request is refused.
 */
export function checkTarget(host: string | undefined, url: string): string | Refusal {
  if (host !== undefined) {
    if (isEmptyHost(host)) return EMPTY_HOST;
    if (hasEmptyLabel(host)) return EMPTY_LABEL;
    if (!isHostAndPort(host)) return BAD_HOST;
  }
  const target = normalizeTarget(url);
  return typeof target === 'string' ? target : { code: 'bad_request', reason: target.reason };
}

/**
 * How many `chunked` codings a Transfer-Encoding field value lists (case-insensitive, whitespace
 * and empty list elements ignored, RFC 9110 §5.6.1), or -1 when it lists any other coding.
 */
export function chunkedCodings(value: string): number {
  let n = 0;
  for (const element of value.split(',')) {
    const coding = element.trim();
    if (coding === '') continue;
    if (coding.length !== 7 || coding.toLowerCase() !== 'chunked') return -1;
    n++;
  }
  return n;
}

/**
 * The Host names no host: nothing before the port (`:80`, `:`), empty brackets, or nothing at all.
 * RFC 3986's grammar allows an empty reg-name, but an http URI with one is invalid (RFC 9110
 * §4.2.1). An empty port is no such case: `example.com:` is example.com on the default port
 * (RFC 3986 §3.2.3, RFC 9110 §4.2.3).
 */
export function isEmptyHost(host: string): boolean {
  const c = host.charCodeAt(0);
  return host.length === 0 || c === 58 /* : */ || (c === 91 /* [ */ && host.charCodeAt(1) === 93 /* ] */);
}

/** The host name (port ignored) starts with a dot or has two in a row; `[v6]` literals have none. */
export function hasEmptyLabel(host: string): boolean {
  const c = host.charCodeAt(0);
  if (c === 46 /* . */) return true;
  if (c === 91 /* [ */) return false;
  const dots = host.indexOf('..');
  if (dots === -1) return false;
  const colon = host.indexOf(':');
  return colon === -1 || dots < colon;
}

/** Bytes of a reg-name (RFC 3986 §3.2.2): unreserved, sub-delims and `%` of pct-encoded. */
const REG_NAME = (() => {
  const t = new Uint8Array(128);
  for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%") t[c.charCodeAt(0)] = 1;
  return t;
})();

/**
 * True when a Host value is `host [":" port]`: a reg-name or IPv4 address, or an IP literal in
 * brackets, then only digits after the colon. Anything else is refused: routing reads the name
 * before the first colon, while an upstream building a URL from the header may read another host
 * (`prod.example.com:@evil.example` is evil.example to a URL parser).
 */
export function isHostAndPort(host: string): boolean {
  let i = 0;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close === -1) return false;
    for (i = 1; i < close; i++) {
      const c = host.charCodeAt(i);
      // IPv6 and IPvFuture: hex digits, dots, colons, and the few letters IPvFuture adds.
      if (!(c === 58 || c === 46 || (c < 128 && REG_NAME[c] === 1))) return false;
    }
    i = close + 1;
  } else {
    for (; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (c >= 128 || REG_NAME[c] !== 1) return false;
    }
  }
  if (i === host.length) return true;
  if (host.charCodeAt(i) !== 58) return false;
  for (i++; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The spec's limits, or the defaults for a Spec built in code without them. */
export function limitsOf(spec: Spec): Readonly<LimitsSpec> {
  return spec.limits ?? DEFAULT_LIMITS;
}

/**
 * Applies the limits a running server can change (on start and on every reload). `maxHeadersCount`
 * is one above the limit: Node silently drops fields past it, and checkRequest must see the extra
 * one to refuse the request instead of forwarding it truncated.
 */
export function applyServerLimits(server: Pick<Server, 'headersTimeout' | 'maxHeadersCount'>, limits: Readonly<LimitsSpec>): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.maxHeadersCount = limits.maxHeaders + 1;
}

/** What checkHttp2Request reads of an HTTP/2 request (src/http2's Http2Request is one). */
export interface Http2RequestHead {
  readonly method: string;
  readonly target: string;
  readonly headers: { readonly host?: string | undefined };
  readonly fieldCount: number;
  readonly conflictingHost: string | null;
}

const CONNECT: Refusal = { code: 'not_implemented', reason: 'CONNECT is not proxied' };
const NOT_ORIGIN_FORM: Refusal = { code: 'bad_request', reason: 'the :path must start with / (origin form)' };
const PATH_BYTES: Refusal = { code: 'bad_request', reason: 'the :path has a byte outside visible ASCII, or a fragment' };
const NO_AUTHORITY: Refusal = { code: 'bad_request', reason: 'the request has neither :authority nor Host' };
const OTHER_HOST: Refusal = { code: 'bad_request', reason: 'Host names another authority than :authority (RFC 9113 §8.3.1)' };

/**
 * What HTTP/1.1's engine refuses in a head that HTTP/2's framing layer (nghttp2) leaves to the
 * gateway: CONNECT (HTTP/2 has no other place for a tunnel, and graylane opens none), a target not
 * in origin form (`*`) or with a byte HTTP/1.1's target refuses (a fragment, non-ASCII), too long a
 * target or too many fields, no authority, and a Host beside
 * `:authority` that names another one. Null when the request may be routed.
 */
export function checkHttp2Request(req: Http2RequestHead, limits: Readonly<LimitsSpec>): Refusal | null {
  if (req.method === 'CONNECT') return CONNECT;
  if (req.fieldCount > limits.maxHeaders) return TOO_MANY;
  if (req.target.length > limits.maxUrlBytes) return TOO_LONG;
  if (req.target.charCodeAt(0) !== 47 /* / */) return NOT_ORIGIN_FORM;
  if (!isTargetText(req.target)) return PATH_BYTES;
  if (req.headers.host === undefined) return NO_AUTHORITY;
  if (req.conflictingHost !== null) return OTHER_HOST;
  return null;
}

/**
 * The :path holds only what HTTP/1.1's engine takes in a request target (chars.ts TARGET: visible
 * ASCII, no `#`). nghttp2 lets a fragment and bytes >= 0x80 through; forwarded, `/admin#x` would be
 * routed as that path while most upstreams read `/admin` (RFC 9112 §3.2.1: no fragment in origin-form).
 */
function isTargetText(target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c > 0xff || TARGET[c] !== 1) return false;
  }
  return true;
}
