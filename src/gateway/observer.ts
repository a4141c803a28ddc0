/**
 * The gateway's one outward hook on the request path: a finished proxied request is reported to an
 * observer (the rollout controller's per-version traffic window, src/rollout/window.ts), which is
 * what builtin canary analysis reads. It is called once per request on the hot path, so an observer
 * must be cheap and must not allocate per call; it must not throw.
 */
export interface ResponseObserver {
  /**
   * A proxied request ended. `version` is the version that served it (after fallback), `status` the
   * status sent to the client (0 never occurs here; 499 when the client went away, 502/504 when the
   * upstream failed), `durationMs` from the request's arrival to the end of the response.
   */
  recordResponse(service: string, version: string, status: number, durationMs: number): void;
}
