/**
 * The gateway takes one ResponseObserver; several parts want to listen (the rollout controller's
 * traffic window, the metrics counters).
 */
import type { ResponseDetail, ResponseObserver } from '../gateway/observer.js';

/**
 * One observer that reports to each of `observers`, in order. Built once; the per-request call is a
 * direct call on each (no array walk for the usual two).
 *
 * @example
 * startGateway({ snapshot, observer: combineObservers(trafficWindow, metricsCounters) });
 */
export function combineObservers(...observers: ResponseObserver[]): ResponseObserver {
  if (observers.length === 1) return observers[0]!;
  if (observers.length === 2) {
    const [a, b] = observers as [ResponseObserver, ResponseObserver];
    return {
      recordResponse(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail): void {
        a.recordResponse(service, version, status, durationMs, detail);
        b.recordResponse(service, version, status, durationMs, detail);
      },
    };
  }
  const all = [...observers];
  return {
    recordResponse(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail): void {
      for (let i = 0; i < all.length; i++) all[i]!.recordResponse(service, version, status, durationMs, detail);
    },
  };
}
