/**
 * Analysis run bookkeeping, after Argo Rollouts' analysis controller, as pure functions over plain
 * data (an AnalysisRun lives inside the rollout status and in the store).
 *
 * A run measures one metric per template. Each metric is measured every `intervalMs` (the first
 * after `initialDelayMs`), one measurement at a time, until `count` measurements have a verdict
 * (null count: until the run is terminated). Every measurement is judged:
 *
 * - the provider failed (timeout, refused, bad answer)          -> Error
 * - the provider said there was not enough data                -> Inconclusive
 * - conditions, as Argo: failureCondition true -> Failed; successCondition true -> Successful;
 *   with only a successCondition, false means Failed; with only a failureCondition, false means
 *   Successful; neither true -> Inconclusive; a condition that cannot be evaluated -> Error.
 * - no conditions: the provider's own verdict (job: exit code 0; web: a boolean result), else Successful.
 *
 * A metric ends Failed when failed > failureLimit, Inconclusive when inconclusive > inconclusiveLimit,
 * Error when consecutive errors > consecutiveErrorLimit (checked in that order after each
 * measurement), and Successful once `count` non-error measurements are in without crossing a limit.
 * Error measurements do not count towards `count`: they are retried at the next interval.
 * A run is Failed or Error as soon as one metric is (the others stop), otherwise Inconclusive or
 * Successful once every metric has ended.
 */
import { compileExpr, evaluateCondition, ExprError, type CompiledExpr } from '../spec/expr.js';
import type { AnalysisTemplate } from '../spec/rollout-model.js';
import { MEASUREMENT_RETENTION, type AnalysisPhase, type AnalysisRun, type Measurement, type MeasurementPhase, type MetricRun } from '../status/analysis-run.js';

export { MEASUREMENT_RETENTION, type AnalysisPhase, type AnalysisRun, type Measurement, type MeasurementPhase, type MetricRun };

/** What a provider hands back for one measurement. Providers never throw: failures are `error`. */
export type ProviderOutcome =
  /** `verdict` applies only when the template has no conditions. */
  | { kind: 'value'; value: unknown; verdict?: 'Successful' | 'Failed'; message?: string }
  /** Not enough data to judge (e.g. too few requests in the window). */
  | { kind: 'inconclusive'; value?: unknown; message: string }
  | { kind: 'error'; message: string };

/** A measurement to take now: the caller records it as pending before running the provider. */
export interface MeasurementStart {
  metric: string;
  index: number;
}

/** A new run; every metric is due after its template's initial delay. */
export function startRun(
  id: string,
  kind: AnalysisRun['kind'],
  stepIndex: number | null,
  templateNames: readonly string[],
  templates: Readonly<Record<string, AnalysisTemplate>>,
  now: number,
): AnalysisRun {
  const metrics = templateNames.map((name): MetricRun => {
    const t = templates[name];
    const m: MetricRun = {
      name,
      phase: 'Running',
      count: 0,
      successful: 0,
      failed: 0,
      inconclusive: 0,
      error: 0,
      consecutiveError: 0,
      measurements: [],
      pending: null,
      nextAt: now + (t?.initialDelayMs ?? 0),
      message: '',
    };
    if (!t) {
      m.phase = 'Error';
      m.message = `analysis template ${JSON.stringify(name)} no longer exists`;
    }
    return m;
  });
  const run: AnalysisRun = { id, kind, stepIndex, phase: 'Running', startedAt: now, finishedAt: null, metrics, message: '', acknowledged: false };
  return settleRun(run, now);
}

/** Metrics of a running run that are due now and have no measurement in flight. */
export function dueMeasurements(run: AnalysisRun, now: number): MeasurementStart[] {
  if (run.phase !== 'Running') return [];
  const out: MeasurementStart[] = [];
  for (const m of run.metrics) {
    if (m.phase === 'Running' && m.pending === null && m.nextAt <= now) {
      out.push({ metric: m.name, index: m.successful + m.failed + m.inconclusive + m.error });
    }
  }
  return out;
}

/** Marks a measurement as started (mutates `run`, which the caller owns). */
export function markPending(run: AnalysisRun, metric: string, id: string, index: number, now: number): void {
  const m = run.metrics.find((x) => x.name === metric);
  if (m) m.pending = { id, index, startedAt: now };
}

/**
 * Records the outcome of the pending measurement with this id (mutates `run`). Returns false, and
 * changes nothing, when no metric waits for that id: a late answer for a run that has ended.
 */
export function recordMeasurement(
  run: AnalysisRun,
  template: AnalysisTemplate | undefined,
  id: string,
  outcome: ProviderOutcome,
  finishedAt: number,
): boolean {
  const m = run.metrics.find((x) => x.pending?.id === id);
  if (!m || run.phase !== 'Running' || m.phase !== 'Running') return false;
  const pending = m.pending!;
  m.pending = null;
  const judged = template
    ? judge(template, outcome)
    : { phase: 'Error' as const, message: `analysis template ${JSON.stringify(m.name)} no longer exists` };
  const measurement: Measurement = { index: pending.index, phase: judged.phase, startedAt: pending.startedAt, finishedAt };
  if (outcome.kind !== 'error' && 'value' in outcome && outcome.value !== undefined) measurement.value = jsonSafe(outcome.value);
  if (judged.message) measurement.message = judged.message;
  m.measurements.push(measurement);
  if (m.measurements.length > MEASUREMENT_RETENTION) m.measurements.splice(0, m.measurements.length - MEASUREMENT_RETENTION);
  switch (judged.phase) {
    case 'Successful':
      m.successful++;
      break;
    case 'Failed':
      m.failed++;
      break;
    case 'Inconclusive':
      m.inconclusive++;
      break;
    case 'Error':
      m.error++;
      break;
  }
  if (judged.phase === 'Error') m.consecutiveError++;
  else {
    m.consecutiveError = 0;
    m.count++;
  }
  m.nextAt = finishedAt + (template?.intervalMs ?? 0);
  if (template) {
    const phase = assessMetric(m, template, false);
    if (phase !== 'Running') {
      m.phase = phase;
      m.message = metricMessage(m, template);
    }
  } else {
    m.phase = 'Error';
    m.message = judged.message ?? '';
  }
  settleRun(run, finishedAt);
  return true;
}

/**
 * Ends a run before its metrics are done (rollout completed, step skipped, rollout aborted): each
 * running metric gets the verdict its counts give so far (Argo: limits not crossed = Successful),
 * in-flight measurements are dropped. Mutates `run`.
 */
export function terminateRun(
  run: AnalysisRun,
  templates: Readonly<Record<string, AnalysisTemplate>>,
  reason: string,
  now: number,
): void {
  if (run.phase !== 'Running') return;
  for (const m of run.metrics) {
    m.pending = null;
    if (m.phase !== 'Running') continue;
    const t = templates[m.name];
    m.phase = t ? assessMetric(m, t, true) : 'Successful';
    m.message = `terminated: ${reason}`;
  }
  settleRun(run, now);
  run.message = `terminated: ${reason}; ${run.message}`;
}

/** Earliest time a metric of the run wants a measurement, or null (ended, or all in flight). */
export function nextDueAt(run: AnalysisRun): number | null {
  if (run.phase !== 'Running') return null;
  let at: number | null = null;
  for (const m of run.metrics) {
    if (m.phase === 'Running' && m.pending === null && (at === null || m.nextAt < at)) at = m.nextAt;
  }
  return at;
}

const conditionCache = new Map<string, CompiledExpr>();

/** Conditions are parsed once per distinct source (validated at config load, so they parse). */
function condition(source: string): CompiledExpr {
  let c = conditionCache.get(source);
  if (!c) {
    c = compileExpr(source);
    conditionCache.set(source, c);
  }
  return c;
}

/** The verdict on one provider outcome under a template's conditions. */
export function judge(template: AnalysisTemplate, outcome: ProviderOutcome): { phase: MeasurementPhase; message?: string } {
  if (outcome.kind === 'error') return { phase: 'Error', message: outcome.message };
  if (outcome.kind === 'inconclusive') return { phase: 'Inconclusive', message: outcome.message };
  const { successCondition: sc, failureCondition: fc } = template;
  if (sc === null && fc === null) {
    const phase = outcome.verdict ?? 'Successful';
    return outcome.message ? { phase, message: outcome.message } : { phase };
  }
  let success = false;
  let failure = false;
  try {
    if (sc !== null) success = evaluateCondition(condition(sc), outcome.value);
    if (fc !== null) failure = evaluateCondition(condition(fc), outcome.value);
  } catch (e) {
    if (e instanceof ExprError) return { phase: 'Error', message: `condition: ${e.message}` };
    throw e;
  }
  if (fc === null) failure = !success;
  if (sc === null) success = !failure;
  if (failure) return { phase: 'Failed', message: fc !== null ? `failureCondition ${fc} is true` : `successCondition ${sc} is false` };
  if (!success) return { phase: 'Inconclusive', message: `neither ${sc} nor ${fc} holds` };
  return { phase: 'Successful' };
}

function assessMetric(m: MetricRun, t: AnalysisTemplate, terminating: boolean): AnalysisPhase {
  if (m.failed > t.failureLimit) return 'Failed';
  if (m.inconclusive > t.inconclusiveLimit) return 'Inconclusive';
  if (m.consecutiveError > t.consecutiveErrorLimit) return 'Error';
  if (terminating || (t.count !== null && m.count >= t.count)) return 'Successful';
  return 'Running';
}

function metricMessage(m: MetricRun, t: AnalysisTemplate): string {
  const counts = `${m.successful} successful, ${m.failed} failed, ${m.inconclusive} inconclusive, ${m.error} errors`;
  // The last measurement's own words (e.g. builtin compare's p-values and sample sizes) reach events.
  const lastSaid = m.measurements.at(-1)?.message;
  const last = lastSaid ? `; last: ${lastSaid}` : '';
  switch (m.phase) {
    case 'Failed':
      return `${m.failed} failed measurements exceed failureLimit ${t.failureLimit} (${counts})${last}`;
    case 'Inconclusive':
      return `${m.inconclusive} inconclusive measurements exceed inconclusiveLimit ${t.inconclusiveLimit} (${counts})${last}`;
    case 'Error':
      return `${m.consecutiveError} consecutive errors exceed consecutiveErrorLimit ${t.consecutiveErrorLimit}: ${m.measurements.at(-1)?.message ?? ''}`;
    default:
      return counts;
  }
}

/** Recomputes the run's phase from its metrics (fail fast on Failed / Error). */
function settleRun(run: AnalysisRun, now: number): AnalysisRun {
  if (run.phase !== 'Running') return run;
  const bad = run.metrics.find((m) => m.phase === 'Failed') ?? run.metrics.find((m) => m.phase === 'Error');
  let phase: AnalysisPhase;
  if (bad) phase = bad.phase;
  else if (run.metrics.some((m) => m.phase === 'Running')) phase = 'Running';
  else if (run.metrics.some((m) => m.phase === 'Inconclusive')) phase = 'Inconclusive';
  else phase = 'Successful';
  if (phase === 'Running') return run;
  run.phase = phase;
  run.finishedAt = now;
  for (const m of run.metrics) m.pending = null;
  const culprit = bad ?? run.metrics.find((m) => m.phase === 'Inconclusive');
  run.message = culprit ? `${culprit.name}: ${culprit.message}` : `all ${run.metrics.length} metrics successful`;
  return run;
}

const MAX_VALUE_CHARS = 1024;

/** Measurement values go into JSON (the store): keep NaN visible and big answers small. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return String(v);
  if (typeof v !== 'object' || v === null) return v;
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
  if (text.length > MAX_VALUE_CHARS) return `${text.slice(0, MAX_VALUE_CHARS)}...`;
  return JSON.parse(text) as unknown;
}
