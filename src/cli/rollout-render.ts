/**
 * Text for `graylane rollout list | get`: the admin API's JSON as a person reads it, in the layout of
 * `kubectl argo rollouts get rollout`: a header, the steps with the current one marked, the analysis
 * runs with their latest values, the hooks, and the recent events. Pure (time and clock injected), so
 * it is tested without a server.
 */
import type { AnalysisRun, MetricRun } from '../rollout/analysis.js';
import type { HookRecord } from '../status/rollout-status.js';
import type { ReleaseView, RolloutView } from '../rollout/view.js';
import type { StoredEvent } from '../store/types.js';

export interface RenderOptions {
  /** Epoch ms, for "time left" of a pause. */
  now: number;
  /** Epoch ms -> clock time; default local HH:MM:SS. */
  time?: (t: number) => string;
}

const PHASE_ICON: Record<string, string> = { Healthy: '✔', Progressing: '◌', Paused: '॥', Degraded: '✖', Pending: '…' };
const STEP_ICON: Record<string, string> = { done: '✔', current: '►', aborted: '✖', pending: ' ' };
const RUN_ICON: Record<string, string> = { Successful: '✔', Running: '◌', Failed: '✖', Error: '⚠', Inconclusive: '?' };

/** The full `get` view. */
export function renderRollout(v: RolloutView & { events?: StoredEvent[] }, opts: RenderOptions): string {
  const time = opts.time ?? localTime;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${`${name}:`.padEnd(15)}${value}`);
  field('Name', v.name);
  field('Service', `${v.service}  (${v.stable} -> ${v.canary})`);
  field('Strategy', v.strategy === 'blueGreen' ? 'BlueGreen' : 'Canary');
  field('Status', `${PHASE_ICON[v.phase] ?? ''} ${v.phase}${v.reason && v.reason !== v.phase ? ` (${v.reason})` : ''}`);
  field('Message', v.message);
  if (v.attempt > 0) field('Attempt', String(v.attempt));
  const stepNo = v.currentStep === null ? (v.phase === 'Healthy' ? v.steps.length : 0) : v.currentStep + 1;
  field('Step', `${stepNo}/${v.steps.length}`);
  field('Traffic', trafficText(v));
  if (v.phase === 'Degraded') field('Withdrawn', `${v.canary} gets no traffic, rules naming its lane included, until retry`);
  if (v.undoUntil != null && v.previousStable) {
    const left = v.undoUntil - opts.now;
    field('Undo', left > 0 ? `until ${time(v.undoUntil)} (${formatLeft(left)} left): puts ${v.previousStable.version} [${v.previousStable.endpoints.join(', ')}] back` : 'rollback window over');
  }
  if (v.abortPending) {
    const p = v.abortPending;
    field('Abort', `PENDING PERSISTENCE: routed on this gateway since ${time(p.since)}, not yet written to the store (${p.attempts} write(s) refused: ${p.error})`);
  }
  if (v.headerRoute !== null) field('Header route', `${matchText(v.headerRoute)} -> ${v.canary}`);
  if (v.userPaused) field('Paused', 'by a person (resume or promote)');
  lines.push(...detailLines(v, opts));
  return `${lines.join('\n')}\n`;
}

/** Steps, analysis runs, hooks and events: what a rollout's and a release's `get` both show. */
function detailLines(v: Pick<RolloutView, 'steps' | 'pauseDeadline' | 'phase' | 'reason' | 'analysisRuns' | 'hooks'> & { events?: StoredEvent[] }, opts: RenderOptions): string[] {
  const time = opts.time ?? localTime;
  const lines: string[] = [];
  lines.push('', 'Steps:');
  for (const s of v.steps) {
    let note = '';
    if (s.state === 'current' && v.pauseDeadline !== null) {
      note = `   until ${time(v.pauseDeadline)} (${formatLeft(v.pauseDeadline - opts.now)} left)`;
    } else if (s.state === 'current' && v.phase === 'Paused' && v.reason === 'AwaitingPromotion') {
      note = '   waiting for promote';
    }
    lines.push(`  ${STEP_ICON[s.state] ?? ' '} ${String(s.index + 1).padStart(2)}  ${s.description}${note}`);
  }

  if (v.analysisRuns.length > 0) {
    lines.push('', 'Analysis runs:');
    for (const run of v.analysisRuns) lines.push(...runLines(run));
  }

  const hooks = Object.entries(v.hooks) as [string, HookRecord][];
  if (hooks.length > 0) {
    lines.push('', 'Hooks:');
    for (const [name, h] of hooks) {
      const state = h.state === 'started' ? '◌ running' : h.ok ? '✔ ok' : '✖ failed';
      lines.push(`  ${name.padEnd(14)}${state}${h.message ? `  ${h.message}` : ''}`);
    }
  }

  if (v.events && v.events.length > 0) {
    lines.push('', 'Events:');
    for (const e of v.events) lines.push(`  ${eventLine(e, time)}`);
  }
  return lines;
}

const SERVICE_STATE: Record<string, string> = {
  pending: 'not started: unchanged',
  follows: 'follows the lane (its lane version serves the lane\'s users)',
  withdrawn: 'lane withdrawn: its stable serves everyone',
  promoted: 'promoted: its lane version serves its stable lane',
};

/** `graylane release get`: the release as one unit with its services inside. */
export function renderRelease(v: ReleaseView & { events?: StoredEvent[] }, opts: RenderOptions): string {
  const time = opts.time ?? localTime;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${`${name}:`.padEnd(15)}${value}`);
  field('Release', v.name);
  field('Lane', v.lane);
  field('Entry', `route ${v.entry.route} (salt ${JSON.stringify(v.salt)})`);
  field('Status', `${PHASE_ICON[v.phase] ?? ''} ${v.phase}${v.reason && v.reason !== v.phase ? ` (${v.reason})` : ''}`);
  field('Message', v.message);
  if (v.attempt > 0) field('Attempt', String(v.attempt));
  const stepNo = v.currentStep === null ? (v.phase === 'Healthy' ? v.steps.length : 0) : v.currentStep + 1;
  field('Step', `${stepNo}/${v.steps.length}`);
  field('Share', `${v.share}% of users at route ${v.entry.route} in lane ${v.lane}`);
  if (v.undoUntil != null) {
    const left = v.undoUntil - opts.now;
    field('Undo', left > 0 ? `until ${time(v.undoUntil)} (${formatLeft(left)} left): puts every service's previous stable back` : 'rollback window over');
  }
  if (v.userPaused) field('Paused', 'by a person (resume or promote)');
  lines.push('', 'Services:');
  for (const s of v.services) {
    const prev = s.previousStable ? `  (was ${s.previousStable.version} [${s.previousStable.endpoints.join(', ')}])` : '';
    lines.push(`  ${cell(s.name, 16)}${SERVICE_STATE[s.state] ?? s.state}${prev}`);
  }
  lines.push(...detailLines(v, opts));
  return `${lines.join('\n')}\n`;
}

/** One line per release for `release list`, its services inside the row. */
export function renderReleaseList(views: ReleaseView[]): string {
  const rows = [['NAME', 'LANE', 'SERVICES', 'PHASE', 'STEP', 'SHARE', 'MESSAGE']];
  for (const v of views) {
    const stepNo = v.currentStep === null ? (v.phase === 'Healthy' ? v.steps.length : 0) : v.currentStep + 1;
    rows.push([v.name, v.lane, v.services.map((s) => s.name).join(','), v.phase, `${stepNo}/${v.steps.length}`, `${v.share}%`, v.message]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd()).join('\n')}\n`;
}

/** One line per rollout for `list`. */
export function renderList(views: RolloutView[]): string {
  const rows = [['NAME', 'SERVICE', 'STRATEGY', 'PHASE', 'STEP', 'TRAFFIC', 'MESSAGE']];
  for (const v of views) {
    const stepNo = v.currentStep === null ? (v.phase === 'Healthy' ? v.steps.length : 0) : v.currentStep + 1;
    rows.push([v.name, v.service, v.strategy, v.phase, `${stepNo}/${v.steps.length}`, trafficText(v), v.message]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd()).join('\n')}\n`;
}

/** `12:00:03  Warning  AnalysisFailed  ...` */
export function eventLine(e: StoredEvent, time: (t: number) => string = localTime): string {
  return `${time(e.time)}  ${e.type.padEnd(7)}  ${e.reason.padEnd(20)}  ${e.message}`;
}

/** `stable 80%  beta 20%` (versions with 0% left out, unless all are). */
export function trafficText(v: Pick<RolloutView, 'traffic'>): string {
  const parts = Object.entries(v.traffic).filter(([, w]) => w > 0);
  return parts.map(([version, w]) => `${version} ${w}%`).join('  ') || 'none';
}

function runLines(run: AnalysisRun): string[] {
  const where = run.kind === 'background' ? 'background' : `step ${(run.stepIndex ?? 0) + 1}`;
  const out = [`  ${RUN_ICON[run.phase] ?? ' '} ${run.id}  (${where})  ${run.phase}${run.message ? `: ${run.message}` : ''}`];
  for (const m of run.metrics) {
    out.push(`      ${metricLine(m)}`);
    const said = comparisonText(m);
    if (said !== null) out.push(`          ${said}`);
  }
  return out;
}

function metricLine(m: MetricRun): string {
  const last = m.measurements.at(-1);
  const shown = isComparison(last?.value) ? 'canary vs stable' : valueText(last?.value);
  const value = last === undefined ? '' : `  last: ${shown} (${last.phase})`;
  return `${RUN_ICON[m.phase] ?? ' '} ${cell(m.name, 16)}${m.phase.padEnd(13)}${m.successful} ok, ${m.failed} failed, ${m.inconclusive} inconclusive, ${m.error} errors${value}`;
}

/** Builtin compare's last verdict in words: both sample sizes, p-values and effects (its value is too long for one cell). */
function comparisonText(m: MetricRun): string | null {
  const last = m.measurements.at(-1);
  return isComparison(last?.value) && last?.message ? `canary vs stable: ${last.message}` : null;
}

/** A builtin compare value (src/rollout/providers/builtin.ts): its numbers are in the message. */
function isComparison(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'alphaPerCheck' in v;
}

/** `text` padded to a column of `width`; a longer one (a release's `error-rate@frontend`) keeps two spaces after it. */
function cell(text: string, width: number): string {
  return text.length < width ? text.padEnd(width) : `${text}  `;
}

function valueText(v: unknown): string {
  if (v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function matchText(m: NonNullable<RolloutView['headerRoute']>): string {
  if (m.equals !== undefined) return `${m.name} = ${m.equals}`;
  if (m.in !== undefined) return `${m.name} in [${m.in.join(', ')}]`;
  if (m.pattern !== undefined) return `${m.name} ~ /${m.pattern}/`;
  return `${m.name} present`;
}

/** 83000 -> `1m23s`; never negative. */
export function formatLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

/**
 * Epoch ms as local `HH:MM:SS`, 00 to 23. Not toLocaleTimeString({ hour12: false }): in Node 20, on
 * a locale with a 12-hour default (en-US), that counts hours 1 to 24 (ECMA-402's older rule), so
 * the hour after midnight read 24:05:07.
 */
export function localTime(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
