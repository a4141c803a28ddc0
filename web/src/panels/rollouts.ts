/**
 * Rollouts: phase, traffic, the steps with the current one marked, analysis runs with their values
 * and verdicts, recent events, and the buttons that send intents (promote, abort, pause, resume,
 * retry) to the admin API.
 */
import type { AnalysisRun, RolloutAction, RolloutOverview } from '../api.js';
import { versionColor, versionOrder } from '../colors.js';
import { fmtTime, fmtValue, h, versionChip } from '../dom.js';

/** The outcome of the last button pressed on a rollout, shown under its buttons. */
export interface ActionNote {
  kind: 'ok' | 'error' | 'busy';
  text: string;
}

export interface RolloutsInput {
  rollouts: RolloutOverview[];
  error: string | null;
  notes: ReadonlyMap<string, ActionNote>;
  onAction(rollout: string, action: RolloutAction): void;
}

const STEP_MARK: Record<string, string> = { done: '✓', current: '▶', aborted: '✖', pending: '' };
const ACTIONS: { action: RolloutAction; label: string; title: string }[] = [
  { action: 'promote', label: 'Promote', title: 'end the current pause or analysis step and go on' },
  { action: 'pause', label: 'Pause', title: 'stop advancing steps until resume or promote' },
  { action: 'resume', label: 'Resume', title: 'lift a pause set with Pause' },
  { action: 'abort', label: 'Abort', title: 'all traffic back to the stable version at once' },
  { action: 'retry', label: 'Retry', title: 'start an aborted rollout again from its first step' },
];

export function renderRollouts(input: RolloutsInput): HTMLElement[] {
  if (input.error !== null) return [h('p', { class: 'error' }, `Rollouts cannot be read: ${input.error}`)];
  if (input.rollouts.length === 0) return [h('p', { class: 'muted' }, 'No rollouts in the config.')];
  return input.rollouts.map((r) => rolloutCard(r, input.notes.get(r.name), input.onAction));
}

/** Which buttons make sense in a phase; the controller still has the last word on each. */
function enabled(r: RolloutOverview, action: RolloutAction): boolean {
  if (r.phase === 'Healthy') return false;
  if (r.phase === 'Degraded') return action === 'retry';
  switch (action) {
    case 'retry':
      return false;
    case 'pause':
      return !r.userPaused;
    case 'resume':
      return r.userPaused;
    default:
      return true;
  }
}

function rolloutCard(r: RolloutOverview, note: ActionNote | undefined, onAction: RolloutsInput['onAction']): HTMLElement {
  const stepNo = r.currentStep === null ? (r.phase === 'Healthy' ? r.steps.length : 0) : r.currentStep + 1;
  const traffic = Object.entries(r.traffic).sort(([a], [b]) => versionOrder(a, b, r.stable));
  return h(
    'section',
    { class: 'rollout card', 'data-rollout': r.name, 'data-phase': r.phase },
    h(
      'header',
      {},
      h('h3', {}, r.name),
      h('span', { class: `phase phase-${r.phase.toLowerCase()}`, 'data-field': 'phase' }, r.phase),
      h('span', { class: 'muted' }, r.reason !== r.phase ? r.reason : ''),
    ),
    h('div', { class: 'rollout-what' }, h('b', {}, r.service), ': ', versionChip(r.stable), ' → ', versionChip(r.canary), h('span', { class: 'muted' }, ` ${r.strategy === 'blueGreen' ? 'blue-green' : 'canary'}, step `), h('b', { 'data-field': 'step' }, `${stepNo}/${r.steps.length}`)),
    h('p', { class: 'message' }, r.message),
    r.abortPending
      ? h(
          'p',
          { class: 'message bad', 'data-field': 'abortPending' },
          `Abort pending persistence: routed on this gateway, not yet written to the store (${r.abortPending.attempts} write(s) refused: ${r.abortPending.error}). Retrying; a restart loses it.`,
        )
      : null,
    h(
      'div',
      { class: 'weight-bar', title: 'where unmarked traffic goes now' },
      traffic.map(([v, pct]) => (pct > 0 ? h('span', { class: 'weight-part', 'data-version': v, style: `flex-grow:${pct};background:${versionColor(v)}` }, pct >= 8 ? `${v} ${pct}%` : '') : null)),
    ),
    h(
      'div',
      { class: 'actions' },
      ACTIONS.map((a) =>
        h('button', { type: 'button', 'data-action': a.action, title: a.title, disabled: !enabled(r, a.action) || note?.kind === 'busy', onclick: () => onAction(r.name, a.action) }, a.label),
      ),
    ),
    note === undefined ? null : h('p', { class: `note note-${note.kind}`, role: note.kind === 'error' ? 'alert' : 'status' }, note.text),
    h('div', { class: 'rollout-body' }, h('ol', { class: 'steps' }, r.steps.map((st) => h('li', { class: `step step-${st.state}`, 'data-state': st.state }, h('span', { class: 'mark' }, STEP_MARK[st.state] ?? ''), st.description))), analysis(r.analysisRuns)),
    events(r),
  );
}

function analysis(runs: AnalysisRun[]): HTMLElement | null {
  if (runs.length === 0) return null;
  // The newest runs first; each metric with its latest measurements and verdicts.
  const shown = [...runs].sort((a, b) => b.startedAt - a.startedAt).slice(0, 3);
  return h(
    'div',
    { class: 'analysis' },
    h('h4', {}, 'Analysis'),
    shown.map((run) =>
      h(
        'div',
        { class: 'run', 'data-run': run.id },
        h('div', {}, h('span', { class: `verdict verdict-${run.phase.toLowerCase()}` }, run.phase), ' ', h('code', {}, run.id), run.message ? h('span', { class: 'muted' }, ` ${run.message}`) : null),
        run.metrics.map((m) =>
          h(
            'div',
            { class: 'metric', 'data-metric': m.name },
            h(
              'div',
              {},
              h('b', {}, m.name),
              ' ',
              h('span', { class: `verdict verdict-${m.phase.toLowerCase()}` }, m.phase),
              h('span', { class: 'muted' }, ` ${m.successful} ok · ${m.failed} failed · ${m.inconclusive} inconclusive${m.error ? ` · ${m.error} errors` : ''}`),
            ),
            m.measurements.length === 0
              ? null
              : h(
                  'div',
                  { class: 'measurements' },
                  m.measurements.slice(-6).map((x) =>
                    h(
                      'span',
                      { class: `measurement verdict-${x.phase.toLowerCase()}`, title: `${x.phase}${x.message ? `: ${x.message}` : ''} at ${fmtTime(x.finishedAt)}` },
                      isComparison(x.value) ? x.phase : fmtValue(x.value),
                    ),
                  ),
                ),
            comparison(m.measurements.at(-1)),
          ),
        ),
      ),
    ),
  );
}

/** Builtin compare's value: its verdict with both sample sizes, p-values and effects (src/rollout/providers/builtin.ts). */
function isComparison(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'alphaPerCheck' in v;
}

/** The last canary-vs-stable verdict in words, under the metric. */
function comparison(last: AnalysisRun['metrics'][number]['measurements'][number] | undefined): HTMLElement | null {
  if (last === undefined || !isComparison(last.value) || !last.message) return null;
  return h('div', { class: 'comparison muted', 'data-comparison': '' }, `canary vs stable: ${last.message}`);
}

function events(r: RolloutOverview): HTMLElement | null {
  if (r.events.length === 0) return null;
  return h(
    'details',
    { class: 'events', open: true },
    h('summary', {}, `Events (${r.events.length} newest)`),
    h(
      'ul',
      {},
      [...r.events].reverse().map((e) => h('li', { class: e.type === 'Warning' ? 'warning' : '' }, h('time', {}, fmtTime(e.time)), ' ', h('b', {}, e.reason), ' ', e.message)),
    ),
  );
}
