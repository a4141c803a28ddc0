/**
 * Incoming side of the SDK: take the lane from a request and make it the current lane for all the
 * code that handles it, for node:http, Express and Fastify.
 *
 * The lane is read from the lane header (default `x-gray-lane`), then each alias header, then the
 * `graylane-lane` member of W3C `baggage`: the order the gateway uses. Only valid lane names count; a
 * request without one is handled with no lane (never with a lane left over from another request).
 *
 * Why the request's `emit` is wrapped: AsyncLocalStorage follows promises, timers and callbacks
 * from where they were created, but the request body's events ('data', 'end') are emitted by the
 * connection's parser, outside the handler's context. Code that reads the body with event callbacks
 * would lose the lane there (current body-parser and Fastify restore the context themselves;
 * hand-written readers and older parsers do not). Running the request's own events in its context
 * fixes that for one closure per request with a lane.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { LANE_BAGGAGE_KEY, baggageValue, joinHeader } from './baggage.js';
import { laneStorage, type LaneContext } from './context.js';
import { isLaneName } from './lane-name.js';

/** The lane header graylane's gateway writes by default (spec `laneHeader`). */
export const DEFAULT_LANE_HEADER = 'x-gray-lane';

/** Which headers carry the lane. Must match the gateway's `laneHeader` and `laneAliases`. */
export interface LaneHeaderOptions {
  /** The lane header, case-insensitive; default `x-gray-lane`. */
  header?: string;
  /** Further lane headers (another engine's, e.g. `x-mse-tag`), read after `header`. */
  aliases?: readonly string[];
}

/** How the middleware finds a request's lane. */
export interface IncomingLaneOptions extends LaneHeaderOptions {
  /** Read baggage member `graylane-lane` when no lane header has a lane; default true. */
  baggage?: boolean;
}

/** The lane header names, lower-cased, lane header first. */
export function laneHeaderNames(opts: LaneHeaderOptions = {}): string[] {
  const names = [(opts.header ?? DEFAULT_LANE_HEADER).toLowerCase()];
  for (const a of opts.aliases ?? []) {
    const n = a.toLowerCase();
    if (!names.includes(n)) names.push(n);
  }
  return names;
}

/** The first comma-separated element of a header value when it is a lane name. */
function laneOf(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = typeof v === 'string' ? v : v[0];
  if (s === undefined) return undefined;
  const comma = s.indexOf(',');
  const lane = (comma === -1 ? s : s.slice(0, comma)).trim();
  return isLaneName(lane) ? lane : undefined;
}

/**
 * Builds the function that reads a request's lane context from its (lower-cased, Node) headers.
 * Options are resolved once here, not per request.
 */
export function createLaneReader(opts: IncomingLaneOptions = {}): (headers: IncomingHttpHeaders) => LaneContext | undefined {
  const names = laneHeaderNames(opts);
  const useBaggage = opts.baggage !== false;
  return (headers) => {
    const baggage = joinHeader(headers.baggage);
    let lane: string | undefined;
    for (let i = 0; i < names.length && lane === undefined; i++) lane = laneOf(headers[names[i]!]);
    if (lane === undefined && useBaggage && baggage !== undefined) {
      const v = baggageValue(baggage, LANE_BAGGAGE_KEY);
      if (v !== undefined && isLaneName(v)) lane = v;
    }
    if (lane === undefined) return undefined;
    return baggage === undefined ? { lane } : { lane, baggage };
  };
}

/** Makes `emitter` emit its events inside `ctx` (see the module comment). */
function emitInContext(emitter: EventEmitter, ctx: LaneContext): void {
  const emit = emitter.emit;
  emitter.emit = function emitWithLane(this: EventEmitter, ...args: Parameters<EventEmitter['emit']>): boolean {
    return laneStorage.run(ctx, Reflect.apply, emit, this, args) as boolean;
  };
}

/**
 * Wraps a node:http request listener so that it, and everything it starts, runs in the request's lane.
 * @example http.createServer(withLanes(async (req, res) => { res.end(currentLane() ?? 'none'); }))
 */
export function withLanes<Req extends IncomingMessage = IncomingMessage, Res extends ServerResponse = ServerResponse>(
  handler: (req: Req, res: Res) => void | Promise<void>,
  opts: IncomingLaneOptions = {},
): (req: Req, res: Res) => void {
  const read = createLaneReader(opts);
  return function lanesListener(req, res) {
    const ctx = read(req.headers);
    if (ctx !== undefined) emitInContext(req, ctx);
    laneStorage.run(ctx, handler, req, res);
  };
}

/**
 * Express middleware (4 and 5): the rest of the chain runs in the request's lane. Mount it first.
 * @example app.use(expressLanes())
 */
export function expressLanes(
  opts: IncomingLaneOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const read = createLaneReader(opts);
  return function graylaneLanes(req, _res, next) {
    const ctx = read(req.headers);
    if (ctx !== undefined) emitInContext(req, ctx);
    laneStorage.run(ctx, next);
  };
}

/** The parts of a Fastify request the plugin uses. */
export interface FastifyRequestLike {
  raw: IncomingMessage;
}

type FastifyHook = (request: FastifyRequestLike, reply: unknown, done: (err?: Error) => void) => void;

/** The parts of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  addHook(name: 'onRequest' | 'preValidation', hook: FastifyHook): unknown;
}

/** Where the onRequest hook leaves the lane for the preValidation hook. */
const kLane = Symbol('graylane.lane');
type RawWithLane = IncomingMessage & { [kLane]?: LaneContext };

function registerFastifyLanes(instance: FastifyInstanceLike, opts: IncomingLaneOptions, done: (err?: Error) => void): void {
  const read = createLaneReader(opts);
  // onRequest runs the rest of the lifecycle inside the lane. After the body is read, Fastify resumes
  // from the body stream's 'end' event: Fastify 5 restores the request's context there itself, but
  // custom parsers on older versions and replaced payload streams (preParsing) may not, so
  // preValidation enters the lane again, as @fastify/request-context does.
  instance.addHook('onRequest', (request, _reply, next) => {
    const ctx = read(request.raw.headers);
    if (ctx !== undefined) (request.raw as RawWithLane)[kLane] = ctx;
    laneStorage.run(ctx, next);
  });
  instance.addHook('preValidation', (request, _reply, next) => {
    laneStorage.run((request.raw as RawWithLane)[kLane], next);
  });
  done();
}

/**
 * Fastify plugin (4 and 5): handlers and hooks from preValidation on run in the request's lane.
 * Registered unencapsulated (as fastify-plugin would), so it covers every route of the instance.
 * @example await app.register(fastifyLanes, { header: 'x-gray-lane' })
 */
export const fastifyLanes = Object.assign(registerFastifyLanes, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'graylane-lanes',
  [Symbol.for('plugin-meta')]: { name: 'graylane-lanes', fastify: '>=4' },
});
