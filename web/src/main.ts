/**
 * The dashboard: follows the admin API's live stream and redraws each panel from the newest
 * overview. Panels with controls (rollouts) are redrawn only when what they show changed, so a
 * button is never replaced under the pointer; the explain box is built once.
 */
import './style.css';
import {
  ApiError,
  follow,
  releaseCommand,
  releases,
  rolloutCommand,
  token,
  type HistoryPoint,
  type Overview,
  type ReleaseAction,
  type ReleaseView,
  type RolloutAction,
} from './api.js';
import { fmtDateTime, h } from './dom.js';
import { renderConfig, renderConfigBanner } from './panels/config.js';
import { explainBox } from './panels/explain.js';
import { renderGateways } from './panels/gateways.js';
import { renderReleases } from './panels/releases.js';
import { renderRollouts, type ActionNote } from './panels/rollouts.js';
import { renderRoutes } from './panels/routes.js';
import { renderServices } from './panels/services.js';
import { adminToken } from './panels/token.js';

/** How often the releases are read (they are not in the live stream). */
const RELEASES_POLL_MS = 2000;

/** History kept in the page: as much as the server keeps (5 minutes at one point a second). */
const MAX_POINTS = 300;

const state = {
  overview: null as Overview | null,
  points: [] as HistoryPoint[],
  live: false,
  notes: new Map<string, ActionNote>(),
  releases: [] as ReleaseView[],
  releasesError: null as string | null,
};

const el = {
  status: byId('status'),
  snapshot: byId('snapshot'),
  tokenState: byId('token-state'),
  banner: byId('banner'),
  services: byId('services'),
  gateways: byId('gateways'),
  rollouts: byId('rollouts'),
  releases: byId('releases'),
  routes: byId('routes'),
  config: byId('config'),
  explain: byId('explain'),
};

function byId(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`index.html has no #${id}`);
  return e;
}

/** What each panel last drew, so unchanged panels are left alone. */
const drawn = new Map<string, string>();
function draw(panel: HTMLElement, key: string, data: unknown, render: () => HTMLElement[]): void {
  const json = JSON.stringify(data);
  if (drawn.get(key) === json) return;
  drawn.set(key, json);
  panel.replaceChildren(...render());
}

function onOverview(o: Overview): void {
  // The first event of a connection carries the whole history, later ones only the new points.
  const last = state.points.at(-1)?.at ?? -Infinity;
  if (o.history.points.length > 1 || state.points.length === 0) state.points = [...o.history.points];
  else state.points.push(...o.history.points.filter((p) => p.at > last));
  if (state.points.length > MAX_POINTS) state.points.splice(0, state.points.length - MAX_POINTS);
  state.overview = o;
  render();
}

function render(): void {
  const o = state.overview;
  el.status.textContent = state.live ? 'live' : 'reconnecting…';
  el.status.className = state.live ? 'live' : 'stale';
  renderTokenState();
  if (o === null) return;
  el.snapshot.textContent = `snapshot ${o.config.snapshotId} · loaded ${fmtDateTime(o.config.loadedAt)}`;
  el.snapshot.title = o.config.file;
  el.services.replaceChildren(...renderServices({ services: o.services, points: state.points, stepMs: o.history.stepMs, now: o.at }));
  draw(el.releases, 'releases', { r: state.releases, e: state.releasesError, n: [...state.notes] }, () =>
    renderReleases({ releases: state.releases, error: state.releasesError, notes: state.notes, onAction: onReleaseAction }),
  );
  draw(el.rollouts, 'rollouts', { r: o.rollouts, e: o.rolloutsError, n: [...state.notes] }, () =>
    renderRollouts({ rollouts: o.rollouts, error: o.rolloutsError, notes: state.notes, onAction }),
  );
  // silentMs changes every event; the rows are redrawn each time (no controls in them).
  if (o.gateways !== undefined) el.gateways.replaceChildren(...renderGateways(o.gateways, o.services));
  draw(el.routes, 'routes', o.routes, () => renderRoutes(o.routes));
  draw(el.config, 'config', o.config, () => renderConfig(o.config));
  draw(el.banner, 'banner', o.config.lastReloadError, () => renderConfigBanner(o.config));
}

function renderTokenState(): void {
  const has = token.get() !== null;
  el.tokenState.replaceChildren(
    has
      ? h('span', {}, 'admin token set ', h('button', { type: 'button', class: 'link', onclick: () => (token.clear(), renderTokenState()) }, 'forget'))
      : h('span', { class: 'muted' }, 'read-only until a button asks for the admin token'),
  );
}

/** A button was pressed: ask for the token if needed, send the intent, show the answer at once. */
async function onAction(name: string, action: RolloutAction): Promise<void> {
  const bearer = await adminToken();
  renderTokenState();
  if (bearer === null) return;
  state.notes.set(name, { kind: 'busy', text: `${action}…` });
  render();
  try {
    const view = await rolloutCommand(name, action, bearer);
    // The answer is the rollout as written: show it now rather than at the next event.
    const o = state.overview;
    if (o !== null) o.rollouts = o.rollouts.map((r) => (r.name === name ? { ...view, events: r.events } : r));
    state.notes.set(name, { kind: 'ok', text: `${action}: done, now ${view.phase}${view.reason !== view.phase ? ` (${view.reason})` : ''}` });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) token.clear();
    const text = err instanceof ApiError ? `${action} refused: ${err.message} (${err.code})` : `${action} failed: ${String(err)}`;
    state.notes.set(name, { kind: 'error', text });
  }
  render();
}

/** A release button: as onAction, through the release routes (notes keyed `release:NAME`). */
async function onReleaseAction(name: string, action: ReleaseAction): Promise<void> {
  const bearer = await adminToken();
  renderTokenState();
  if (bearer === null) return;
  const key = `release:${name}`;
  state.notes.set(key, { kind: 'busy', text: `${action}…` });
  render();
  try {
    const view = await releaseCommand(name, action, bearer);
    state.releases = state.releases.map((r) => (r.name === name ? view : r));
    state.notes.set(key, { kind: 'ok', text: `${action}: done, now ${view.phase}${view.reason !== view.phase ? ` (${view.reason})` : ''}` });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) token.clear();
    const text = err instanceof ApiError ? `${action} refused: ${err.message} (${err.code})` : `${action} failed: ${String(err)}`;
    state.notes.set(key, { kind: 'error', text });
  }
  render();
}

async function pollReleases(): Promise<void> {
  try {
    state.releases = await releases();
    state.releasesError = null;
  } catch (err) {
    state.releasesError = err instanceof ApiError ? err.message : String(err);
  }
  render();
}

el.explain.replaceChildren(explainBox());
void pollReleases();
setInterval(() => void pollReleases(), RELEASES_POLL_MS);
render();
follow(onOverview, (live) => {
  state.live = live;
  render();
});
