/**
 * The gateway's one outward hook on the request path: a finished proxied request is reported to an
 * observer (src/traffic/recorder.ts, which counts for /metrics, the dashboard and builtin canary
 * analysis). It is called once per request on the hot path, so an observer
 * must be cheap and must not allocate per call; it must not throw.
 */
import type { Assignment } from '../routing/types.js';

export interface ResponseObserver {
  /**
   * A proxied request ended. `version` is the version that served it (after fallback), `status` the
   * status sent to the client (0 never occurs here; 499 when the client went away, 502/504 when the
   * upstream failed; 101 for an upgrade that became a tunnel, reported when the 101 is sent),
   * `durationMs` from the request's arrival to the end of the response (to the 101 for a tunnel).
   */
  recordResponse(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail): void;
}

/**
 * More about a finished request, for observers that count by route and lane (metrics). The gateway
 * passes its per-request exchange object, which has these fields: nothing is allocated for it.
 */
export interface ResponseDetail {
  readonly route: { readonly name: string };
  /** The lane marking chose (a trusted route may pass on any lane a client sends). */
  readonly lane: string;
  /** Whether the lane was drawn at random (split, percent) or picked by a condition: see Assignment. */
  readonly assignment: Assignment;
  /** How the upstream failed, when it did (the answer was then the gateway's 502/504, or a cut body). */
  readonly upstreamFailure: 'bad_gateway' | 'upstream_timeout' | null;
}
