/**
 * An analysis run as the rollout status persists it (src/status/rollout-status.ts): its phase, and each
 * metric's counts and newest measurements. Plain JSON; the bookkeeping over it is the controller's
 * (src/rollout/analysis.ts).
 */

export type AnalysisPhase = 'Running' | 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
export type MeasurementPhase = Exclude<AnalysisPhase, 'Running'>;

export interface Measurement {
  index: number;
  phase: MeasurementPhase;
  startedAt: number;
  finishedAt: number;
  /** The result as JSON-safe data (NaN and infinities as strings, long values cut). */
  value?: unknown;
  message?: string;
}

/** How many measurements a metric keeps; older ones survive only in the counters. */
export const MEASUREMENT_RETENTION = 10;

export interface MetricRun {
  /** The template's name. */
  name: string;
  phase: AnalysisPhase;
  /** Measurements with a verdict (errors excluded). */
  count: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveError: number;
  /** The last MEASUREMENT_RETENTION measurements, oldest first. */
  measurements: Measurement[];
  /** The measurement being taken: its effect id (see transitions.ts) and when it started. */
  pending: { id: string; index: number; startedAt: number } | null;
  /** When the next measurement is due. */
  nextAt: number;
  message: string;
}

export interface AnalysisRun {
  /** Unique within the rollout, e.g. `a1.step2`, `a1.bg1`. */
  id: string;
  kind: 'step' | 'background';
  /** Index of the plan step for step runs; null for background runs. */
  stepIndex: number | null;
  phase: AnalysisPhase;
  startedAt: number;
  finishedAt: number | null;
  metrics: MetricRun[];
  message: string;
  /** An Inconclusive verdict accepted by a person (`promote`): the rollout goes on past it. */
  acknowledged: boolean;
}
