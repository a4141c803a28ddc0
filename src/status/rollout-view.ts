/**
 * What a person (CLI, dashboard, /metrics) sees of a rollout: its spec and status folded into one
 * plain JSON object (built by src/rollout/view.ts rolloutView()). The types live here, below every
 * reader of them, so the metrics and the admin API's wire module import no controller code.
 */
import type { NamedMatch } from '../spec/types.js';
import type { AnalysisRun } from './analysis-run.js';
import type { HookRecord, PreviousStable, RolloutPhase } from './rollout-status.js';

/** An abort this process routes by but the store has not taken yet (it refused the write). */
export interface AbortPending {
  /** When the abort was asked for (epoch ms). */
  since: number;
  /** Writes tried and refused so far. */
  attempts: number;
  /** The store's reason for refusing the last one. */
  error: string;
  /** When the write is tried again (epoch ms). */
  nextAttemptAt: number | null;
}

export interface StepView {
  index: number;
  /** `setWeight 20`, `pause 2m`, `analysis error-rate`... */
  description: string;
  /** `current` is the step in progress; `aborted` the one the attempt stopped at. */
  state: 'done' | 'current' | 'aborted' | 'pending';
}

export interface RolloutView {
  name: string;
  service: string;
  stable: string;
  canary: string;
  strategy: 'canary' | 'blueGreen';
  /** `Pending`: declared, not started by the controller yet. */
  phase: RolloutPhase | 'Pending';
  reason: string;
  message: string;
  attempt: number;
  /** Store revision of the status (0 before the first write). */
  revision: number;
  /** Index of the step in progress (or the one an abort stopped at); null before the start and once done. */
  currentStep: number | null;
  steps: StepView[];
  /** The canary's share of unmarked traffic (0..100). */
  weight: number;
  /**
   * Where the service's unmarked traffic goes now, by version, in percent. After a completed
   * canary (or a blue-green switch) the canary version has 100: it serves the stable lane.
   */
  traffic: Record<string, number>;
  headerRoute: NamedMatch | null;
  switched: boolean;
  userPaused: boolean;
  pauseDeadline: number | null;
  startedAt: number | null;
  updatedAt: number | null;
  completedAt: number | null;
  abortedAt: number | null;
  analysisRuns: AnalysisRun[];
  /** By hook name: the strategy's hooks (`preRollout`, `cleanup`...) and named `hook` steps. */
  hooks: Record<string, HookRecord>;
  /**
   * Set while this gateway routes by an abort the state store has not taken yet ("abort pending
   * persistence"): the status shown is the held one; the write is retried until it lands.
   */
  abortPending: AbortPending | null;
  /** What completion recorded as the stable it replaced (what `undo` puts back); null when nothing can be. */
  previousStable: PreviousStable | null;
  /** Until when `undo` may put it back (completion + rollbackWindow); null when it cannot. */
  undoUntil: number | null;
  /** When `undo` put the previous stable back. */
  undoneAt: number | null;
}
