/**
 * The lane of the request being handled, kept in an AsyncLocalStorage so that code anywhere below a
 * request handler (awaits, timers, callbacks started there) can read it without passing it along.
 * Code that runs outside a request (boot, a setInterval started at boot) sees no lane.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isLaneName } from './lane-name.js';

/** What the middleware stores per request. */
export interface LaneContext {
  /** The request's lane, a valid lane name. */
  readonly lane: string;
  /** The incoming `baggage` header as received, when there was one. */
  readonly baggage?: string;
}

/**
 * One storage per process, even when two copies of this module are loaded (a dual install, a bundled
 * and an unbundled copy): the middleware of one and the outbound hook of the other must agree.
 */
const STORAGE_KEY = Symbol.for('graylane.lanes.storage');
const holder = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<LaneContext | undefined> };
/** The storage itself, for the middleware and the outbound hook of this package. */
export const laneStorage: AsyncLocalStorage<LaneContext | undefined> = (holder[STORAGE_KEY] ??= new AsyncLocalStorage());

/** The current request's lane, or undefined outside a request (or in a request without a lane). */
export function currentLane(): string | undefined {
  return laneStorage.getStore()?.lane;
}

/** The current request's lane and incoming baggage, or undefined. */
export function currentLaneContext(): LaneContext | undefined {
  return laneStorage.getStore();
}

/**
 * Runs `fn` with `lane` as the current lane (and everything it starts, synchronously or not).
 * Returns what `fn` returns. `lane` undefined runs `fn` with no lane. Throws a TypeError for a lane
 * that is not a lane name: it could not be written into a header later.
 * @example await runWithLane('beta', () => fetch('http://orders/api')) // sent with x-gray-lane: beta
 */
export function runWithLane<R>(lane: string | undefined, fn: () => R, baggage?: string): R {
  if (lane !== undefined && !isLaneName(lane)) throw new TypeError(`not a lane name: ${JSON.stringify(lane)}`);
  const ctx: LaneContext | undefined =
    lane === undefined ? undefined : baggage === undefined ? { lane } : { lane, baggage };
  return laneStorage.run(ctx, fn);
}

/** Runs `fn` outside any lane: background work started from a request that must not carry its lane. */
export function runWithoutLane<R>(fn: () => R): R {
  return laneStorage.run(undefined, fn);
}
