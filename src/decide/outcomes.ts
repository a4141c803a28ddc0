/**
 * What the outcome listeners (syslog.ts, report-http.ts) share: counting an accepted outcome where
 * the gateway counts its own responses, and the tally of outcomes counted and refused by reason
 * that /metrics shows (`graylane_decide_outcomes_total`) and, with workers, each worker sends to
 * the primary in its counters batches (cumulative, summed there as the request counts are).
 */
import type { Logger } from 'pino';
import type { ResponseDetail } from '../gateway/observer.js';
import { REPORT_REJECTIONS, type Outcome, type ReportRejection } from './report.js';

/** How an outcome arrived. */
export type ReportVia = 'syslog' | 'http';

/** Outcomes of one listener since it started: counted (each once, whatever its weight) and refused by reason. */
export interface OutcomeTotals {
  via: ReportVia;
  counted: number;
  refused: Record<ReportRejection, number>;
}

export function emptyTotals(via: ReportVia): OutcomeTotals {
  return { via, counted: 0, refused: Object.fromEntries(REPORT_REJECTIONS.map((r) => [r, 0])) as Record<ReportRejection, number> };
}

/** Adds `totals` into `into`, by via (the workers' sum). */
export function addTotals(into: Map<ReportVia, OutcomeTotals>, totals: readonly OutcomeTotals[]): void {
  for (const t of totals) {
    let sum = into.get(t.via);
    if (sum === undefined) into.set(t.via, (sum = emptyTotals(t.via)));
    sum.counted += t.counted;
    for (const r of REPORT_REJECTIONS) sum.refused[r] += t.refused[r] ?? 0;
  }
}

/** Where accepted outcomes are counted: the TrafficRecorder, which counts a weighted outcome in one step. */
export interface OutcomeObserver {
  recordResponses(service: string, version: string, status: number, durationMs: number, detail: ResponseDetail, count: number): void;
}

/**
 * Counts one accepted outcome as `weight` finished requests, as the gateway counts its own
 * (src/traffic/recorder.ts): requests, errors, latency and the route and lane series, in one step
 * (a weight of 1000 costs what 1 does). The edge proxy does not say how the lane was drawn, so it
 * stays out of builtin compare's random sample.
 */
export function countOutcome(observer: OutcomeObserver, outcome: Outcome): void {
  const detail = { route: { name: outcome.route }, lane: outcome.lane, assignment: 'targeted', upstreamFailure: null } as const;
  observer.recordResponses(outcome.service, outcome.version, outcome.status, outcome.durationMs, detail, outcome.weight);
}

export interface TallyOptions {
  via: ReportVia;
  logger?: Logger | undefined;
  /** Outcomes counted per second at most, the rest refused as over-rate; default 50,000. */
  maxPerSecond?: number | undefined;
  /** Refusals are logged at most this often, with the latest reason; default 10 s. */
  logEveryMs?: number | undefined;
}

/** One listener's totals, its rate limit and its throttled refusal log. */
export class OutcomeTally {
  readonly totals: OutcomeTotals;
  readonly #opts: TallyOptions;
  readonly #maxPerSecond: number;
  #second = 0;
  #inSecond = 0;
  #lastLog = 0;
  #unlogged = 0;

  constructor(opts: TallyOptions) {
    this.#opts = opts;
    this.totals = emptyTotals(opts.via);
    this.#maxPerSecond = opts.maxPerSecond ?? 50_000;
  }

  /** Whether one more outcome fits this second's budget (refused as over-rate when not). */
  admit(): boolean {
    const s = Math.floor(Date.now() / 1000);
    if (s !== this.#second) {
      this.#second = s;
      this.#inSecond = 0;
    }
    if (++this.#inSecond <= this.#maxPerSecond) return true;
    this.refused('over-rate', `more than ${this.#maxPerSecond} outcomes in one second`);
    return false;
  }

  counted(): void {
    this.totals.counted++;
  }

  refused(reason: ReportRejection, detail: string, n = 1): void {
    this.totals.refused[reason] += n;
    this.#unlogged += n;
    const now = Date.now();
    if (now - this.#lastLog < (this.#opts.logEveryMs ?? 10_000)) return;
    this.#opts.logger?.warn({ via: this.totals.via, reason, detail, refusedSinceLastLog: this.#unlogged, refused: this.totals.refused }, 'edge proxy outcome refused');
    this.#lastLog = now;
    this.#unlogged = 0;
  }

  snapshot(): OutcomeTotals {
    return { via: this.totals.via, counted: this.totals.counted, refused: { ...this.totals.refused } };
  }
}
