/**
 * The gRPC side of the SDK, for @grpc/grpc-js (an optional peer dependency: import this module,
 * `@graylane/lanes/grpc`, only where grpc-js is installed; the main entry never loads it).
 *
 * gRPC metadata is HTTP/2 headers, so the lane travels exactly as over HTTP: the lane header
 * (default `x-gray-lane`) and the `graylane-lane` member of W3C `baggage`.
 * - Incoming: {@link withGrpcLanes} wraps a service implementation so each handler, and everything
 *   it starts, runs in the lane read from the call's metadata (same order as the HTTP middleware:
 *   lane header, aliases, baggage). The call's own events ('data', 'end' of a client or bidi
 *   stream) are emitted by grpc-js outside the handler's async context, so they are run in it too.
 * - Outgoing: {@link laneClientInterceptor} puts the current lane on every call a client makes,
 *   unless the application already named one (the application wins, as for HTTP).
 *
 * @example
 * import * as grpc from '@grpc/grpc-js';
 * import { withGrpcLanes, laneClientInterceptor } from '@graylane/lanes/grpc';
 * const stock = new StockClient('gateway:8081', grpc.credentials.createInsecure(), {
 *   interceptors: [laneClientInterceptor()],
 *   'grpc.default_authority': 'stock',   // graylane's mesh dispatches by :authority
 * });
 * server.addService(OrdersService, withGrpcLanes({
 *   getOrder(call, callback) {            // runs in the caller's lane
 *     stock.check({ id: call.request.id }, (err, reply) => callback(err, reply));  // same lane, next hop
 *   },
 * }));
 */
import grpc from '@grpc/grpc-js';
import type { InterceptingCall, Interceptor, Metadata, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { LANE_BAGGAGE_KEY, baggageValue, withBaggageLane } from './baggage.js';
import { laneStorage, type LaneContext } from './context.js';
import { createLaneReader, laneHeaderNames, type IncomingLaneOptions } from './middleware.js';
import type { PropagationOptions } from './outbound.js';

/** The string values of a metadata key (binary `-bin` keys are never lanes), or undefined. */
function stringValues(metadata: Metadata, key: string): string[] | undefined {
  const values = metadata.get(key).filter((v): v is string => typeof v === 'string');
  return values.length === 0 ? undefined : values;
}

/**
 * Builds the function that reads a call's lane context from its metadata. Options are resolved
 * once here; the HTTP middleware's reader does the reading, so both accept the same lanes.
 */
export function createMetadataLaneReader(opts: IncomingLaneOptions = {}): (metadata: Metadata) => LaneContext | undefined {
  const names = laneHeaderNames(opts);
  const read = createLaneReader(opts);
  return (metadata) => {
    const headers: IncomingHttpHeaders = {};
    for (const name of names) {
      const v = stringValues(metadata, name);
      if (v !== undefined) headers[name] = v[0];
    }
    const baggage = stringValues(metadata, 'baggage');
    if (baggage !== undefined) headers.baggage = baggage.join(',');
    return read(headers);
  };
}

/** Makes the call emit its events inside `ctx`: a streaming call's messages arrive outside the handler's context. */
function emitInContext(emitter: EventEmitter, ctx: LaneContext): void {
  const emit = emitter.emit;
  emitter.emit = function emitWithLane(this: EventEmitter, ...args: Parameters<EventEmitter['emit']>): boolean {
    return laneStorage.run(ctx, Reflect.apply, emit, this, args) as boolean;
  };
}

/**
 * Wraps a grpc-js service implementation (unary, server-, client- and bidi-streaming handlers) so
 * each call is handled in the lane its metadata carries, or in no lane when it carries none.
 * @example server.addService(GreeterService, withGrpcLanes({ sayHello(call, cb) { cb(null, { lane: currentLane() }) } }))
 */
export function withGrpcLanes<T extends object = UntypedServiceImplementation>(implementation: T, opts: IncomingLaneOptions = {}): T {
  const read = createMetadataLaneReader(opts);
  const out: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(implementation)) {
    if (typeof handler !== 'function') {
      out[name] = handler;
      continue;
    }
    out[name] = function handleInLane(this: unknown, call: { metadata: Metadata } & EventEmitter, ...rest: unknown[]): unknown {
      const ctx = read(call.metadata);
      if (ctx !== undefined) emitInContext(call, ctx);
      return laneStorage.run(ctx, Reflect.apply, handler as (...a: unknown[]) => unknown, this, [call, ...rest]);
    };
  }
  return out as T;
}

/**
 * A grpc-js client interceptor that writes the current lane into each call's metadata: the lane
 * header and the baggage member (merged with the baggage the application set). A call made outside
 * a lane, or whose metadata already names a lane, is sent as it is.
 * @example new GreeterClient(address, credentials, { interceptors: [laneClientInterceptor()] })
 */
export function laneClientInterceptor(opts: PropagationOptions = {}): Interceptor {
  const names = laneHeaderNames(opts);
  const header = names[0]!;
  const useBaggage = opts.baggage !== false;
  return (options, nextCall): InterceptingCall => {
    // Read here, when the call is made in the caller's context; start() may run later.
    const ctx = laneStorage.getStore();
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (ctx !== undefined) addLane(metadata, ctx.lane, header, names, useBaggage);
        next(metadata, listener);
      },
    });
  };
}

/** Writes `lane` into `metadata` unless it names one already (in a lane header, an alias, or baggage). */
function addLane(metadata: Metadata, lane: string, header: string, names: readonly string[], useBaggage: boolean): void {
  for (const name of names) if (metadata.get(name).length > 0) return;
  const existing = stringValues(metadata, 'baggage')?.join(',');
  if (existing !== undefined && baggageValue(existing, LANE_BAGGAGE_KEY) !== undefined) return;
  metadata.set(header, lane);
  if (useBaggage) metadata.set('baggage', withBaggageLane(existing, lane));
}
