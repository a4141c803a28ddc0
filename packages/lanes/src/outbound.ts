/**
 * Outbound side of the SDK: requests a service makes while handling a request in a lane carry that
 * lane to the next hop, as the lane header and as the `graylane-lane` member of W3C `baggage`.
 * Requests made outside a request's context (boot code, a timer started at boot) carry nothing.
 *
 * Two hooks cover Node's HTTP clients:
 * - fetch and undici: the `undici:request:create` diagnostics channel. Node's built-in fetch (its
 *   bundled undici) and the `undici` package both publish there by name, synchronously inside the
 *   caller's async context, before the request is written, and hand over a request whose
 *   `addHeader()` is public API. One subscription serves every copy and version of undici.
 * - node:http and node:https: `request` and `get` are wrapped. The `http.client.request.start`
 *   channel cannot be used on Node 20: it fires from `end()`, after the headers are serialized.
 *   The wrapper sets headers on the ClientRequest right after it is constructed, which is before
 *   anything can be written. (A request whose headers were passed as an array, or with
 *   `Expect: 100-continue`, is serialized inside the constructor and is left as it is.)
 *
 * The application wins: an outbound request that already names a lane, in a lane header, an alias
 * header or a `graylane-lane` baggage member, is not touched. Baggage the application (or
 * OpenTelemetry) set is merged into, keeping its other members as they are.
 */
import dc from 'node:diagnostics_channel';
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { LANE_BAGGAGE_KEY, baggageValue, withBaggageLane } from './baggage.js';
import { laneStorage } from './context.js';
import { laneHeaderNames, type LaneHeaderOptions } from './middleware.js';

/** Options of {@link installLanePropagation}. */
export interface PropagationOptions extends LaneHeaderOptions {
  /** Also put the lane into `baggage` (merged with its other members); default true. */
  baggage?: boolean;
}

/** The handle {@link installLanePropagation} returns. */
export interface LanePropagation {
  /** Stops adding lanes. Safe to call more than once. */
  uninstall(): void;
}

interface Active {
  /** The lane header as written. */
  header: string;
  /** Lower-cased lane header and aliases: any of them set by the application means "leave it". */
  names: readonly string[];
  baggage: boolean;
}

/** Undici's request as the `undici:request:create` channel hands it over (undici 6 and 7). */
interface UndiciRequest {
  /** Flat `[name, value, name, value...]`; a value is a string or, for a repeated header, string[]. */
  headers: unknown;
  addHeader(name: string, value: string): unknown;
}

const UNDICI_CREATE = 'undici:request:create';

/** The options in force; undefined when not installed. The hooks read it on every request. */
let active: Active | undefined;
let handle: LanePropagation | undefined;

type RequestFn = typeof http.request;
type GetFn = typeof http.get;
interface Patched {
  module: typeof http | typeof https;
  request: RequestFn;
  get: GetFn;
  originalRequest: RequestFn;
  originalGet: GetFn;
}
let patched: Patched[] = [];
/** One warning per process when the undici hook fails (see onUndiciRequestCreate). */
let warned = false;

function sameName(name: string, lower: string): boolean {
  return name.length === lower.length && name.toLowerCase() === lower;
}

/**
 * The `undici:request:create` subscriber. An exception thrown by a diagnostics channel subscriber
 * is rethrown asynchronously by Node and ends the process, so nothing may escape from here: a
 * request we cannot add the lane to is sent as it is, with one warning per process.
 */
function onUndiciRequestCreate(message: unknown): void {
  if (laneStorage.getStore() === undefined || active === undefined) return;
  try {
    addLaneToUndiciRequest(message);
  } catch (err) {
    if (!warned) {
      warned = true;
      process.emitWarning(`graylane: could not add the lane to an undici request: ${(err as Error).message}`);
    }
  }
}

/** Adds the lane to an undici request about to be created; see the module comment for the rules. */
function addLaneToUndiciRequest(message: unknown): void {
  const ctx = laneStorage.getStore();
  const opts = active;
  if (ctx === undefined || opts === undefined) return;
  const request = (message as { request?: UndiciRequest } | null)?.request;
  const headers = request?.headers;
  if (request === undefined || !Array.isArray(headers) || typeof request.addHeader !== 'function') return;
  let baggageAt = -1;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    if (typeof name !== 'string') continue;
    for (const n of opts.names) if (sameName(name, n)) return;
    if (sameName(name, 'baggage')) {
      const v = headers[i + 1] as string | string[];
      const value = typeof v === 'string' ? v : v.join(',');
      if (baggageValue(value, LANE_BAGGAGE_KEY) !== undefined) return;
      if (baggageAt === -1) baggageAt = i + 1;
    }
  }
  request.addHeader(opts.header, ctx.lane);
  if (!opts.baggage) return;
  if (baggageAt === -1) {
    request.addHeader('baggage', withBaggageLane(undefined, ctx.lane));
  } else {
    // Merge into the application's own header rather than send a second one: some receivers read
    // only the first `baggage` line. Undici serializes `headers` when it writes the request.
    const v = headers[baggageAt] as string | string[];
    headers[baggageAt] = withBaggageLane(typeof v === 'string' ? v : v.join(','), ctx.lane);
  }
}

/** Adds the lane to a node:http(s) request that has just been constructed. */
function addLaneToClientRequest(req: ClientRequest): void {
  const ctx = laneStorage.getStore();
  const opts = active;
  if (ctx === undefined || opts === undefined || req.headersSent) return;
  for (const n of opts.names) if (req.hasHeader(n)) return;
  const b = req.getHeader('baggage');
  const baggage = typeof b === 'string' ? b : Array.isArray(b) ? b.join(',') : undefined;
  if (baggage !== undefined && baggageValue(baggage, LANE_BAGGAGE_KEY) !== undefined) return;
  req.setHeader(opts.header, ctx.lane);
  if (opts.baggage) req.setHeader('baggage', withBaggageLane(baggage, ctx.lane));
}

function patch(module: typeof http | typeof https): Patched {
  const originalRequest = module.request;
  const originalGet = module.get;
  const request = function request(this: unknown, ...args: unknown[]): ClientRequest {
    const req = Reflect.apply(originalRequest, this, args) as ClientRequest;
    addLaneToClientRequest(req);
    return req;
  } as RequestFn;
  // Node's own get(): request() then end(). It must go through our request so that the headers are
  // set before end() serializes them.
  const get = function get(this: unknown, ...args: unknown[]): ClientRequest {
    const req = Reflect.apply(request, this, args) as ClientRequest;
    req.end();
    return req;
  } as GetFn;
  module.request = request;
  module.get = get;
  return { module, request, get, originalRequest, originalGet };
}

/**
 * Makes outbound requests carry the current lane (see the module comment). Call once at boot; a
 * second call only replaces the options, so installing from several places is harmless.
 * @example installLanePropagation({ header: 'x-gray-lane' })
 */
export function installLanePropagation(opts: PropagationOptions = {}): LanePropagation {
  const names = laneHeaderNames(opts);
  active = { header: names[0]!, names, baggage: opts.baggage !== false };
  if (handle !== undefined) return handle;
  dc.subscribe(UNDICI_CREATE, onUndiciRequestCreate);
  patched = [patch(http), patch(https)];
  // `import { request } from 'node:http'` bindings are copies: refresh them.
  syncBuiltinESMExports();
  const h: LanePropagation = {
    uninstall() {
      if (handle !== h) return;
      handle = undefined;
      active = undefined;
      dc.unsubscribe(UNDICI_CREATE, onUndiciRequestCreate);
      for (const p of patched) {
        // Someone may have wrapped ours since; then ours stays in their chain, inert (active is unset).
        if (p.module.request === p.request) p.module.request = p.originalRequest;
        if (p.module.get === p.get) p.module.get = p.originalGet;
      }
      patched = [];
      syncBuiltinESMExports();
    },
  };
  handle = h;
  return h;
}
