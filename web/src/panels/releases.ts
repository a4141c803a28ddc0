/**
 * Releases: one card per release (a lane across several services, one unit) with its services
 * inside, the lane's share at the entry route, the steps with the current one marked, and the
 * buttons that send intents (promote, pause, resume, abort, retry, undo) to the admin API.
 */
import type { ReleaseAction, ReleaseView } from '../api.js';
import { versionColor } from '../colors.js';
import { h, versionChip } from '../dom.js';
import type { ActionNote } from './rollouts.js';

export interface ReleasesInput {
  releases: ReleaseView[];
  error: string | null;
  notes: ReadonlyMap<string, ActionNote>;
  onAction(release: string, action: ReleaseAction): void;
}

const STEP_MARK: Record<string, string> = { done: '✓', current: '▶', aborted: '✖', pending: '' };
const SERVICE_STATE: Record<string, string> = {
  pending: 'not started',
  follows: 'follows the lane',
  withdrawn: 'lane withdrawn: stable serves everyone',
  promoted: 'promoted: the lane version is its stable',
};
const ACTIONS: { action: ReleaseAction; label: string; title: string }[] = [
  { action: 'promote', label: 'Promote', title: 'end the current pause or analysis step and go on' },
  { action: 'pause', label: 'Pause', title: 'stop advancing steps until resume or promote' },
  { action: 'resume', label: 'Resume', title: 'lift a pause set with Pause' },
  { action: 'abort', label: 'Abort', title: 'every user of the release back on the stable versions at once' },
  { action: 'retry', label: 'Retry', title: 'start an aborted release again from its first step' },
  { action: 'undo', label: 'Undo', title: "within the rollback window: every service's previous stable back" },
];

export function renderReleases(input: ReleasesInput): HTMLElement[] {
  if (input.error !== null) return [h('p', { class: 'error' }, `Releases cannot be read: ${input.error}`)];
  if (input.releases.length === 0) return [h('p', { class: 'muted' }, 'No releases in the config.')];
  return input.releases.map((r) => releaseCard(r, input.notes.get(`release:${r.name}`), input.onAction));
}

function enabled(r: ReleaseView, action: ReleaseAction): boolean {
  if (r.phase === 'Healthy') return action === 'undo' && r.undoUntil !== null && r.undoUntil > Date.now();
  if (r.phase === 'Degraded') return action === 'retry';
  if (action === 'retry' || action === 'undo') return false;
  if (action === 'pause') return !r.userPaused;
  if (action === 'resume') return r.userPaused;
  return true;
}

function releaseCard(r: ReleaseView, note: ActionNote | undefined, onAction: ReleasesInput['onAction']): HTMLElement {
  const stepNo = r.currentStep === null ? (r.phase === 'Healthy' ? r.steps.length : 0) : r.currentStep + 1;
  return h(
    'section',
    { class: 'rollout release card', 'data-release': r.name, 'data-phase': r.phase },
    h('header', {}, h('h3', {}, r.name), h('span', { class: `phase phase-${r.phase.toLowerCase()}`, 'data-field': 'phase' }, r.phase), h('span', { class: 'muted' }, r.reason !== r.phase ? r.reason : '')),
    h('div', { class: 'rollout-what' }, 'lane ', versionChip(r.lane), h('span', { class: 'muted' }, ` at route ${r.entry.route}, step `), h('b', { 'data-field': 'step' }, `${stepNo}/${r.steps.length}`)),
    h('p', { class: 'message' }, r.message),
    h(
      'div',
      { class: 'weight-bar', title: "the lane's share of users at the entry route" },
      r.share < 100 ? h('span', { class: 'weight-part', style: `flex-grow:${100 - r.share};background:${versionColor('stable')}` }, 100 - r.share >= 8 ? `stable ${100 - r.share}%` : '') : null,
      r.share > 0 ? h('span', { class: 'weight-part', 'data-field': 'share', style: `flex-grow:${r.share};background:${versionColor(r.lane)}` }, r.share >= 8 ? `${r.lane} ${r.share}%` : '') : null,
    ),
    h('table', { class: 'release-services' }, h('tbody', {}, r.services.map((s) => h('tr', { 'data-service': s.name, 'data-state': s.state }, h('td', {}, h('b', {}, s.name)), h('td', {}, SERVICE_STATE[s.state] ?? s.state))))),
    h(
      'div',
      { class: 'actions' },
      ACTIONS.map((a) =>
        h('button', { type: 'button', 'data-action': a.action, title: a.title, disabled: !enabled(r, a.action) || note?.kind === 'busy', onclick: () => onAction(r.name, a.action) }, a.label),
      ),
    ),
    note === undefined ? null : h('p', { class: `note note-${note.kind}`, role: note.kind === 'error' ? 'alert' : 'status' }, note.text),
    h('ol', { class: 'steps' }, r.steps.map((st) => h('li', { class: `step step-${st.state}`, 'data-state': st.state }, h('span', { class: 'mark' }, STEP_MARK[st.state] ?? ''), st.description))),
  );
}
