/**
 * Header rewriting between client and upstream, in both directions.
 *
 * Requests: hop-by-hop headers are dropped (RFC 9110 §7.6.1: Connection and every header it names,
 * Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade; also Trailer, and Expect, which
 * Node's server already answered with 100-continue). The lane header and its aliases sent by the
 * client, also spelled with `_` for `-`, are always dropped and the gateway writes its own with the
 * lane it decided. The lane also travels as the `graylane-lane` member of W3C `baggage` (full-link
 * gray for OpenTelemetry-instrumented services): the decided lane replaces any member the client
 * sent (a user cannot put themself into a gray lane; on a trusting route the member was the lane's
 * source anyway), and every other member is kept byte-for-byte (src/lanes/baggage.ts).
 * X-Forwarded-For is appended to, X-Forwarded-Proto and X-Forwarded-Host are set (the client's,
 * also spelled with `_` for `-`, are not passed on). Host is passed on as the client sent it, so
 * virtual hosts and absolute URLs built by the upstream keep working (as nginx
 * `proxy_set_header Host $host` would).
 *
 * Responses: hop-by-hop headers and Content-Length are dropped (the engine frames the body itself,
 * announcing the upstream's length when it has one, see responseLength); optionally the lane and
 * version are exposed, and a new visitor id cookie is appended after any upstream Set-Cookie.
 *
 * Both directions produce the flat `[name, value, name, value...]` arrays that undici and the
 * engine's response writer take without building an object. A response from graylane's own
 * HTTP/1.1 pool to an HTTP/1.1 client skips the arrays: the same fields are left out over the
 * upstream's bytes (src/http1/response-fields.ts) and clientResponseLines appends the gateway's
 * lines, byte for byte what the arrays would have written (test/gateway/response-fields.test.ts).
 * A request to that pool skips them too: renderFields renders its fields as text from the client's
 * bytes, the same bytes upstream (test/gateway/upstream-fields.test.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { LANE_BAGGAGE_KEY, encodeBaggageValue, joinHeader, withBaggageLane } from '@graylane/lanes';
import { equalsLowerText } from '../http1/chars.js';
import { ObjectHeaders } from '../routing/request-values.js';
import type { HeaderModifier } from '../spec/types.js';

/** The W3C baggage member graylane writes and reads the lane from. */
export const BAGGAGE_LANE_KEY = LANE_BAGGAGE_KEY;

/**
 * The mark of a mirrored copy (src/gateway/mirror.ts), so upstreams can tell copies from real
 * traffic. Only copies carry it: a client's is dropped, unless the route trusts incoming lanes (the
 * client is then a gateway in front, whose copies stay copies).
 */
export const MIRROR_HEADER = 'x-graylane-mirror';

/** Response headers added when the spec's `exposeLane` is on. */
export const EXPOSE_LANE_HEADER = 'x-gray-lane';
export const EXPOSE_VERSION_HEADER = 'x-gray-version';
/**
 * Both, which an upstream's response must not carry to the client when the gateway exposes the
 * lane: the gateway's word on which lane and version served is the only one the client gets.
 */
export const EXPOSED_FIELDS: readonly string[] = [EXPOSE_LANE_HEADER, EXPOSE_VERSION_HEADER];

/** A rule's header modifier with lower-cased names, flattened once. */
export interface CompiledModifier {
  /** Client headers not to pass on: `remove` plus the names `set` replaces. */
  drop: ReadonlySet<string>;
  /** `[name, value, ...]` written after the client's headers. */
  write: readonly string[];
}

const compiledModifiers = new WeakMap<HeaderModifier, CompiledModifier>();

/**
 * The compiled form of a rule's `headers` modifier. Cached per modifier object, so the work is done
 * once per snapshot, not per request.
 */
export function compileModifier(mod: HeaderModifier): CompiledModifier {
  let c = compiledModifiers.get(mod);
  if (c === undefined) {
    const drop = new Set<string>();
    const write: string[] = [];
    for (const name of mod.remove ?? []) drop.add(name.toLowerCase());
    for (const [name, value] of Object.entries(mod.set ?? {})) {
      drop.add(name.toLowerCase());
      write.push(name.toLowerCase(), value);
    }
    for (const [name, value] of Object.entries(mod.add ?? {})) write.push(name.toLowerCase(), value);
    c = { drop, write };
    compiledModifiers.set(mod, c);
  }
  return c;
}

/** Inputs of {@link upstreamRequestHeaders} that are not the client's headers. */
export interface ForwardContext {
  /** Lower-cased lane header names (snapshot.laneHeaders); all are written with `lane`. */
  laneHeaders: readonly string[];
  lane: string;
  /**
   * The route trusts incoming lanes. Trust decides the lane (mark), and the decided lane then
   * replaces incoming lane headers and the baggage member either way; here it decides whether the
   * client's mirror mark (MIRROR_HEADER) is passed on.
   */
  trustLane: boolean;
  modifier: CompiledModifier | null;
  /** The client's address, appended to X-Forwarded-For. */
  clientAddress: string;
  proto: 'http' | 'https';
}

/**
 * The upstream request headers for a client request, as a flat `[name, value, ...]` array.
 * `headers` is Node's lower-cased header object of the client request.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, ctx: ForwardContext): string[] {
  const out: string[] = [];
  const connectionListed = connectionTokens(headers.connection);
  let forwardedFor: string | undefined;
  let baggage: string | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    switch (roleOf(name, connectionListed, ctx)) {
      case Role.Keep:
        if (typeof value === 'string') out.push(name, value);
        else for (let i = 0; i < value.length; i++) out.push(name, value[i]!);
        break;
      case Role.ForwardedFor:
        forwardedFor = Array.isArray(value) ? value.join(', ') : value;
        break;
      case Role.Baggage:
        baggage = joinHeader(value);
        break;
    }
  }
  return withGatewayFields(out, forwardedFor, headers.host, baggage, ctx);
}

/**
 * What upstreamRequestFields reads of a client request's fields: HTTP/1.1's RequestFields
 * (src/http1/request-fields.ts), which reads them from the parsed head without a header object.
 */
export interface OrderedFields {
  get(name: string): string | string[] | undefined;
  /** The fields in order are the header object's entries in order (each name once); false: read object(). */
  readonly distinct: boolean;
  readonly count: number;
  /** Field i's lower-cased name. */
  name(i: number): string;
  value(i: number): string;
  /** Fields [from, to) as one string of field lines: `${name(i)}: ${value(i)}\r\n` for each. */
  lines(from: number, to: number): string;
  object(): IncomingHttpHeaders;
}

/**
 * upstreamRequestHeaders(fields.object(), ctx), without the object: when each name appears once
 * (nearly every request) the fields, in order, are the object's entries, each a single string
 * (`set-cookie`'s one-element array is written as that one field). Otherwise (a repeated name)
 * the object is built and rewritten, which joins repeats as it always did.
 */
export function upstreamRequestFields(fields: OrderedFields, ctx: ForwardContext): string[] {
  if (!fields.distinct) return upstreamRequestHeaders(fields.object(), ctx);
  const out: string[] = [];
  const connectionListed = connectionTokens(fields.get('connection') as string | undefined);
  let forwardedFor: string | undefined;
  let baggage: string | undefined;
  for (let i = 0; i < fields.count; i++) {
    const name = fields.name(i);
    switch (roleOf(name, connectionListed, ctx)) {
      case Role.Keep:
        out.push(name, fields.value(i));
        break;
      case Role.ForwardedFor:
        forwardedFor = fields.value(i);
        break;
      case Role.Baggage:
        baggage = fields.value(i);
        break;
    }
  }
  return withGatewayFields(out, forwardedFor, fields.get('host') as string | undefined, baggage, ctx);
}

/**
 * A client request's header fields as the gateway reads them: HTTP/1.1's, over the parsed head
 * (OrderedFields), or HTTP/2's, over Node's header object (ObjectHeaders).
 */
export type ClientFields = OrderedFields | ObjectHeaders;

/** The upstream request headers for a client request of either engine (see upstreamRequestHeaders). */
export function forwardHeaders(fields: ClientFields, ctx: ForwardContext): string[] {
  return fields instanceof ObjectHeaders ? upstreamRequestHeaders(fields.object, ctx) : upstreamRequestFields(fields, ctx);
}

/** What the rewrite does with a client field. */
const enum Role {
  /** Passed on as it is. */
  Keep,
  /** Not passed on. */
  Drop,
  /** Appended to (withGatewayFields). */
  ForwardedFor,
  /** Passed on with the lane merged in (withGatewayFields). */
  Baggage,
}

/** The Role of the client field `name` (lower-cased); `connectionListed`: the names its Connection field lists. */
function roleOf(name: string, connectionListed: string[] | null, ctx: ForwardContext): Role {
  const drop = ctx.modifier === null ? null : ctx.modifier.drop;
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'expect':
    // An upgrade's protocols are written by the request engine (undici's `upgrade` option), which
    // then also sends `Connection: upgrade` (src/gateway/websocket.ts).
    case 'upgrade':
    case 'x-forwarded-proto':
    case 'x-forwarded-host':
      return Role.Drop;
    case 'x-forwarded-for':
      return Role.ForwardedFor;
    case MIRROR_HEADER:
      // A real request marked as a copy could skip side effects an upstream skips for copies.
      if (!ctx.trustLane) return Role.Drop;
      break;
    case 'baggage':
      // Written after the client's fields with the lane merged in (repeated lines are one list).
      if ((drop !== null && drop.has(name)) || (connectionListed !== null && connectionListed.includes(name))) return Role.Drop;
      return Role.Baggage;
  }
  const laneHeaders = ctx.laneHeaders;
  if (laneHeaders.includes(name)) return Role.Drop;
  // CGI-style servers (WSGI, Rack, PHP) read `x_gray_lane` as `X-Gray-Lane` (both become
  // HTTP_X_GRAY_LANE), and a joined or last-wins HTTP_X_FORWARDED_PROTO would carry the client's
  // `x_forwarded_proto` beside the gateway's: that spelling of a field the gateway writes is
  // dropped too. Names with `_` are rare.
  if (name.indexOf('_') !== -1 && isGatewayField(name.replaceAll('_', '-'), laneHeaders)) return Role.Drop;
  if (connectionListed !== null && connectionListed.includes(name)) return Role.Drop;
  if (drop !== null && drop.has(name)) return Role.Drop;
  return Role.Keep;
}

/** Is `name` (lower-cased) a field the gateway writes itself (gatewayFields, a mirror's mark), other than baggage, which has no `-`? */
function isGatewayField(name: string, laneHeaders: readonly string[]): boolean {
  return (
    name === 'x-forwarded-for' || name === 'x-forwarded-proto' || name === 'x-forwarded-host' || name === MIRROR_HEADER || laneHeaders.includes(name)
  );
}

/** Appends the gateway's own fields to the client's kept ones: X-Forwarded-*, the lane, baggage, the rule's. */
function withGatewayFields(
  out: string[],
  forwardedFor: string | undefined,
  host: string | undefined,
  baggage: string | undefined,
  ctx: ForwardContext,
): string[] {
  gatewayFields(out, forwardedFor, host, baggage, ctx);
  if (ctx.modifier !== null) pushAll(out, ctx.modifier.write);
  return out;
}

/** Where the gateway's own fields go: the flat array, or the rendered lines (LineWriter). */
interface FieldSink {
  push(name: string, value: string): unknown;
}

/** The gateway's own fields: X-Forwarded-*, the lane headers, baggage with the lane (not the rule's). */
function gatewayFields(
  out: FieldSink,
  forwardedFor: string | undefined,
  host: string | undefined,
  baggage: string | undefined,
  ctx: ForwardContext,
): void {
  const drop = ctx.modifier === null ? null : ctx.modifier.drop;
  const laneHeaders = ctx.laneHeaders;
  out.push('x-forwarded-for', forwardedFor === undefined ? ctx.clientAddress : `${forwardedFor}, ${ctx.clientAddress}`);
  out.push('x-forwarded-proto', ctx.proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  for (let i = 0; i < laneHeaders.length; i++) {
    // A rule that sets (or removes) a lane header itself has the last word on it.
    if (drop === null || !drop.has(laneHeaders[i]!)) out.push(laneHeaders[i]!, ctx.lane);
  }
  out.push('baggage', baggage === undefined ? laneMember(ctx.lane) : withBaggageLane(baggage, ctx.lane));
}

function pushAll(out: string[], entries: readonly string[]): void {
  for (let i = 0; i < entries.length; i++) out.push(entries[i]!);
}

/**
 * Field lines being rendered: each field pushed becomes `name: value\r\n`, the line graylane's
 * HTTP/1.1 pool writes for an array entry (src/http1/client-connection.ts).
 */
class LineWriter {
  constructor(public text: string) {}
  push(name: string, value: string): void {
    this.text += `${name}: ${value}\r\n`;
  }
}

/**
 * The upstream request's fields as graylane's HTTP/1.1 pool takes them (UpstreamRequest.fieldLines),
 * for an HTTP/1.1 client request. The same fields, in the same order, with the same bytes as the
 * pool writes for upstreamRequestFields' array, but without the array, without a string per field
 * and without the pool's second walk over it: runs of the client's kept field lines are rendered
 * from the received bytes in one string each (RequestFields.lines), then the gateway's own lines.
 */
export interface RenderedFields {
  /** The field lines the gateway vouches for: the client's fields it keeps, then its own fields. */
  readonly lines: string;
  /**
   * `[name, value, ...]`: the client's Host and Content-Length (the pool places them: Host first
   * in the head, Content-Length with the framing), then the rule's header modifier fields.
   */
  readonly headers: string[];
  /** Leading entries of `headers` that are the client's, parsed strictly (UpstreamRequest.checkedFields); the pool checks the rule's. */
  readonly checked: number;
}

/**
 * renderFields' form of upstreamRequestFields(fields, ctx), or null when only the array form can
 * say it: an HTTP/2 request (Node's header object), or a repeated name (joined as Node joins it,
 * which is not the bytes received).
 */
export function renderFields(fields: ClientFields, ctx: ForwardContext): RenderedFields | null {
  if (fields instanceof ObjectHeaders || !fields.distinct) return null;
  const connectionListed = connectionTokens(fields.get('connection') as string | undefined);
  const placed: string[] = [];
  let lines = '';
  let forwardedFor: string | undefined;
  let baggage: string | undefined;
  /** The client's Host (one field: the names are distinct), for X-Forwarded-Host even when it is not passed on. */
  let host: string | undefined;
  /** The first kept field not rendered yet: kept fields are rendered a run at a time. */
  let run = 0;
  const count = fields.count;
  for (let i = 0; i < count; i++) {
    const name = fields.name(i);
    const role = roleOf(name, connectionListed, ctx);
    if (name === 'host') host = fields.value(i);
    else if (role === Role.Keep && name !== 'content-length') continue;
    if (run < i) lines += fields.lines(run, i);
    run = i + 1;
    if (role === Role.Keep) placed.push(name, name === 'host' ? host! : fields.value(i));
    else if (role === Role.ForwardedFor) forwardedFor = fields.value(i);
    else if (role === Role.Baggage) baggage = fields.value(i);
  }
  if (run < count) lines += fields.lines(run, count);
  const checked = placed.length;
  if (ctx.modifier === null && forwardedFor === undefined && baggage === undefined) {
    // The usual request: the gateway's lines for the client's address and for the lane are each
    // rendered once and reused (forwardLines, laneLines); only X-Forwarded-Host is per request.
    lines += forwardLines(ctx.clientAddress, ctx.proto);
    if (host !== undefined) lines += `x-forwarded-host: ${host}\r\n`;
    return { lines: lines + laneLines(ctx.laneHeaders, ctx.lane), headers: placed, checked };
  }
  const out = new LineWriter(lines);
  gatewayFields(out, forwardedFor, host, baggage, ctx);
  if (ctx.modifier !== null) pushAll(placed, ctx.modifier.write);
  return { lines: out.text, headers: placed, checked };
}

/** The last client's X-Forwarded-For and -Proto lines (a connection's requests come from one address). */
let lastForward = { address: '', proto: '', lines: '' };

/** gatewayFields' X-Forwarded-For and X-Forwarded-Proto lines for a request without X-Forwarded-For. */
function forwardLines(address: string, proto: string): string {
  const last = lastForward;
  if (last.address === address && last.proto === proto) return last.lines;
  lastForward = { address, proto, lines: `x-forwarded-for: ${address}\r\nx-forwarded-proto: ${proto}\r\n` };
  return lastForward.lines;
}

/** Rendered lane lines by lane, per lane-header list (a snapshot's: a new list starts afresh). */
const laneLinesOf = new WeakMap<readonly string[], Map<string, string>>();

/**
 * gatewayFields' lane lines for a request without baggage and without a rule's modifier: every
 * lane header with the lane, then `baggage` with the lane's member. Bounded as laneMembers is.
 */
function laneLines(laneHeaders: readonly string[], lane: string): string {
  let byLane = laneLinesOf.get(laneHeaders);
  if (byLane === undefined) laneLinesOf.set(laneHeaders, (byLane = new Map()));
  let text = byLane.get(lane);
  if (text === undefined) {
    const out = new LineWriter('');
    for (let i = 0; i < laneHeaders.length; i++) out.push(laneHeaders[i]!, lane);
    out.push('baggage', laneMember(lane));
    text = out.text;
    if (byLane.size >= MAX_CACHED_MEMBERS) byLane.clear();
    byLane.set(lane, text);
  }
  return text;
}

/**
 * Rendered field lines (RenderedFields.lines) and the `headers` after them as one
 * `[name, value, ...]` array, for a pool that takes only arrays: the HTTP/2 pool, when a retry
 * moves a request rendered for an HTTP/1.1 endpoint to an h2c:// or h2:// one. Each line is
 * `name: value\r\n` with a token for a name (no colon) and no CR or LF in the value.
 */
export function fieldArray(lines: string, headers: readonly string[] | null | undefined): string[] {
  const out: string[] = [];
  for (let start = 0; start < lines.length; ) {
    const colon = lines.indexOf(':', start);
    const end = lines.indexOf('\r\n', colon);
    out.push(lines.slice(start, colon), lines.slice(colon + 2, end));
    start = end + 2;
  }
  if (headers !== null && headers !== undefined) pushAll(out, headers);
  return out;
}

const PLAIN_CONNECTION = /^(?:close|upgrade|keep-alive)$/i;

/**
 * Header names listed in `Connection` (lower-cased) other than the common `keep-alive`, `close` and
 * `upgrade`, which are dropped anyway; null when there are none (the usual case, no allocation).
 */
function connectionTokens(value: string | undefined): string[] | null {
  if (value === undefined) return null;
  switch (value.length) {
    // The three values browsers and clients send, in any case.
    case 5:
    case 7:
    case 10:
      if (PLAIN_CONNECTION.test(value)) return null;
  }
  let tokens: string[] | null = null;
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
    (tokens ??= []).push(t);
  }
  return tokens;
}

/** The last lanes' baggage members: most requests carry one of a few lanes, so this is a cache hit. */
const laneMembers = new Map<string, string>();
const MAX_CACHED_MEMBERS = 64;

/** `graylane-lane=<lane>`, percent-encoded, for a request that arrived without baggage. */
function laneMember(lane: string): string {
  let m = laneMembers.get(lane);
  if (m === undefined) {
    m = `${LANE_BAGGAGE_KEY}=${encodeBaggageValue(lane)}`;
    // Trusted lanes come from outside: bound the cache rather than let it grow with them.
    if (laneMembers.size >= MAX_CACHED_MEMBERS) laneMembers.clear();
    laneMembers.set(lane, m);
  }
  return m;
}

/**
 * True for a response header that must not be passed on (RFC 9110 §7.6.1, plus Trailer). Checks
 * the length first so that ordinary headers cost no string work. src/http1/response-fields.ts
 * has the same list over bytes.
 */
export function isHopByHopResponseHeader(name: string): boolean {
  switch (name.length) {
    case 2:
      return equalsLowerText(name, 'te');
    case 7:
      return equalsLowerText(name, 'upgrade') || equalsLowerText(name, 'trailer');
    case 10:
      return equalsLowerText(name, 'connection') || equalsLowerText(name, 'keep-alive');
    case 16:
      return equalsLowerText(name, 'proxy-connection');
    case 17:
      return equalsLowerText(name, 'transfer-encoding');
    default:
      return false;
  }
}

/**
 * The client response headers from the upstream's raw fields (`[name, value, ...]`, see RawFields),
 * as a flat string array for `res.writeHead`. Names and values are decoded as latin1, which
 * passes every byte through unchanged (Node writes header strings as latin1).
 *
 * @param exposeLane the lane when the spec exposes lanes (adds x-gray-lane and x-gray-version, in place of any the upstream sent), else null
 * @param version the version that served
 * @param setCookie a complete Set-Cookie value for a new visitor id, or null
 * @param close the gateway is draining: ask the client to close the connection after this response
 */
export function clientResponseHeaders(
  raw: RawFields,
  exposeLane: string | null,
  version: string,
  setCookie: string | null,
  close: boolean,
): string[] {
  const out: string[] = [];
  let connectionListed: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]!);
    if (equalsLowerText(name, 'content-length')) continue;
    if (exposeLane !== null && (equalsLowerText(name, EXPOSE_LANE_HEADER) || equalsLowerText(name, EXPOSE_VERSION_HEADER))) continue;
    if (isHopByHopResponseHeader(name)) {
      if (equalsLowerText(name, 'connection')) {
        // Every Connection line counts (a list may be split over several, RFC 9110 §5.3).
        const listed = connectionTokens(latin1(raw[i + 1]!));
        if (listed !== null) connectionListed = connectionListed === null ? listed : connectionListed.concat(listed);
      }
      continue;
    }
    out.push(name, latin1(raw[i + 1]!));
  }
  if (connectionListed !== null) removeNames(out, connectionListed);
  if (exposeLane !== null) out.push(EXPOSE_LANE_HEADER, exposeLane, EXPOSE_VERSION_HEADER, version);
  if (setCookie !== null) out.push('set-cookie', setCookie);
  if (close) out.push('connection', 'close');
  return out;
}

/**
 * What clientResponseHeaders adds after the upstream's fields, rendered as field lines after
 * `upstreamLines` (the upstream's lines a proxy passes on, src/http1/response-fields.ts): the
 * same bytes as writing clientResponseHeaders' array, for an engine that takes lines
 * (ClientResponse.writeHeadLines). Draining is the writer's `close`, as with the array.
 */
export function clientResponseLines(upstreamLines: string, exposeLane: string | null, version: string, setCookie: string | null): string {
  let lines = upstreamLines;
  if (exposeLane !== null) lines += `${EXPOSE_LANE_HEADER}: ${exposeLane}\r\n${EXPOSE_VERSION_HEADER}: ${version}\r\n`;
  if (setCookie !== null) lines += `set-cookie: ${setCookie}\r\n`;
  return lines;
}

/**
 * The upstream response's Content-Length, or -1 without one. undici's parser has already refused a
 * malformed or repeated one, and a Content-Length beside Transfer-Encoding.
 */
export function responseLength(raw: RawFields): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && equalsLowerText(latin1(name), 'content-length')) return Number(latin1(raw[i + 1]!));
  }
  return -1;
}

/**
 * An upstream's raw fields `[name, value, ...]`: latin1 strings from graylane's own pool
 * (src/http1) and from the HTTP/2 pool (Node's strings), Buffers from undici's.
 */
export type RawFields = readonly RawField[];

/** One raw field name or value. */
export type RawField = Buffer | string;

/** Buffer's own latin1 decoder, which toString('latin1') ends in after its encoding dispatch (undici calls it too). */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };
export function latin1(b: Buffer | string): string {
  return typeof b === 'string' ? b : (b as Latin1Buffer).latin1Slice(0, b.length);
}

function removeNames(flat: string[], names: readonly string[]): void {
  let w = 0;
  for (let r = 0; r < flat.length; r += 2) {
    if (names.includes(flat[r]!.toLowerCase())) continue;
    flat[w++] = flat[r]!;
    flat[w++] = flat[r + 1]!;
  }
  flat.length = w;
}

/** The Set-Cookie value that gives an anonymous client its visitor id. */
export function visitorCookie(name: string, id: string, maxAgeMs: number): string {
  return `${name}=${id}; Path=/; Max-Age=${Math.floor(maxAgeMs / 1000)}; SameSite=Lax; HttpOnly`;
}

/** The client address for X-Forwarded-For, without the IPv4-mapped IPv6 prefix Node reports. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return 'unknown';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}
