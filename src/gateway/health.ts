/**
 * Passive health: endpoints are judged by the answers of real traffic, not by probes.
 *
 * An endpoint (keyed by origin) is ejected after `consecutiveFailures` failures in a row (connect
 * errors, timeouts, 5xx answers) and stays out for `ejectMs`. When that time has passed it is simply
 * back in: the next request decides again (one more failure streak of N ejects it again). Dispatch
 * reads the table through {@link HealthView.isUp}.
 *
 * Never the last one: an endpoint is not ejected while it is the only one in rotation of any
 * version it belongs to (the gateway tells the table each version's origins, {@link track}). It
 * stays in, its failures keep counting, and it is ejected once another endpoint of each of its
 * versions is up again. Ejecting a version's last endpoint would move its lane to the fallback:
 * a failing canary would vanish from its own analysis (its errors become the stable version's
 * successes) instead of failing it, and its users would be moved without anyone deciding so.
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
  /** Origin -> the origins of each version it belongs to (itself included); read only on failures. */
  #versionsOf = new Map<string, (readonly string[])[]>();

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
    if (params.consecutiveFailures > 0 && e.failures >= params.consecutiveFailures && !this.#lastUpOfAVersion(origin)) {
      e.failures = 0;
      e.ejectedUntil = this.#now() + params.ejectMs;
      e.ejections++;
      return true;
    }
    return false;
  }

  /**
   * The versions of the current snapshot, each as its endpoints' origins. Forgets origins in none of
   * them; and where a version is left with every endpoint ejected (endpoints moved by a reload),
   * readmits the one whose ejection ends first, so the table never holds a version with none.
   */
  track(versions: Iterable<readonly string[]>): void {
    const groups: (readonly string[])[] = [];
    const versionsOf = new Map<string, (readonly string[])[]>();
    for (const endpoints of versions) {
      const origins = [...new Set(endpoints)];
      if (origins.length === 0) continue;
      groups.push(origins);
      for (const origin of origins) {
        let list = versionsOf.get(origin);
        if (list === undefined) versionsOf.set(origin, (list = []));
        list.push(origins);
      }
    }
    this.#versionsOf = versionsOf;
    for (const origin of this.#entries.keys()) {
      if (!versionsOf.has(origin)) this.#entries.delete(origin);
    }
    for (const origins of groups) {
      if (origins.some((o) => this.isUp(o))) continue;
      // Every origin here is down, so each has an entry.
      const soonest = origins.map((o) => this.#entries.get(o)!).reduce((a, b) => (b.ejectedUntil < a.ejectedUntil ? b : a));
      soonest.ejectedUntil = 0;
    }
  }

  /** True when `origin` is the only endpoint in rotation of some version it belongs to. */
  #lastUpOfAVersion(origin: string): boolean {
    const lists = this.#versionsOf.get(origin);
    if (lists === undefined) return false;
    return lists.some((origins) => !origins.some((o) => o !== origin && this.isUp(o)));
  }

  /** A copy of the entries, for metrics and the admin API. */
  entries(): OriginHealth[] {
    return [...this.#entries.values()].map((e) => ({ ...e }));
  }

}
