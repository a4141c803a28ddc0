/**
 * Passive health: endpoints are judged by the answers of real traffic, not by probes.
 *
 * An endpoint (keyed by origin) is ejected after `consecutiveFailures` failures in a row (connect
 * errors, timeouts, 5xx answers) and stays out for `ejectMs`. When that time has passed it is simply
 * back in: the next request decides again (one more failure streak of N ejects it again). Dispatch
 * reads the table through {@link HealthView.isUp}; it already refuses to leave a version empty
 * (panic mode), so this table never has to reason about "the last healthy one".
 *
 * The clock is injected so tests can move time without sleeping.
 */
import type { HealthView } from '../routing/types.js';

/** Parameters of one service's passive health (CompiledService.passiveHealth). */
export interface PassiveHealthParams {
  consecutiveFailures: number;
  ejectMs: number;
}

/** What the table knows about one origin. */
export interface OriginHealth {
  origin: string;
  /** Failures since the last success or ejection. */
  failures: number;
  /** Epoch ms until which the origin is out; 0 when it is in. */
  ejectedUntil: number;
  /** How many times it was ejected since the gateway started. */
  ejections: number;
}

/** Mutable passive-health table owned by the gateway; dispatch sees it as a {@link HealthView}. */
export class HealthTable implements HealthView {
  readonly #now: () => number;
  // Only origins that have failed at least once get an entry, so the hot path for healthy
  // endpoints is one Map miss.
  readonly #entries = new Map<string, OriginHealth>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** True unless the origin is ejected right now. */
  isUp(origin: string): boolean {
    const e = this.#entries.get(origin);
    return e === undefined || e.ejectedUntil === 0 || e.ejectedUntil <= this.#now();
  }

  /** A request to `origin` got an answer below 500: its failure streak ends. */
  reportSuccess(origin: string): void {
    const e = this.#entries.get(origin);
    if (e !== undefined) {
      e.failures = 0;
      e.ejectedUntil = 0;
    }
  }

  /**
   * A request to `origin` failed (connect error, timeout, 5xx). Ejects the origin when this makes
   * `params.consecutiveFailures` in a row. Returns true when this call ejected it.
   */
  reportFailure(origin: string, params: PassiveHealthParams): boolean {
    let e = this.#entries.get(origin);
    if (e === undefined) {
      e = { origin, failures: 0, ejectedUntil: 0, ejections: 0 };
      this.#entries.set(origin, e);
    }
    // Failures of requests that were already in flight when the origin was ejected do not
    // extend the ejection.
    if (e.ejectedUntil > this.#now()) return false;
    e.failures++;
    if (params.consecutiveFailures > 0 && e.failures >= params.consecutiveFailures) {
      e.failures = 0;
      e.ejectedUntil = this.#now() + params.ejectMs;
      e.ejections++;
      return true;
    }
    return false;
  }

  /** A copy of the entries, for metrics and the admin API. */
  entries(): OriginHealth[] {
    return [...this.#entries.values()].map((e) => ({ ...e }));
  }

  /** Forget origins that no longer belong to any endpoint (after a snapshot swap). */
  retain(origins: ReadonlySet<string>): void {
    for (const origin of this.#entries.keys()) {
      if (!origins.has(origin)) this.#entries.delete(origin);
    }
  }
}
