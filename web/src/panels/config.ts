/** The config being served, and the last rejected reload in full (file:line:col key: message). */
import type { Overview } from '../api.js';
import { fmtDateTime, h } from '../dom.js';

type Config = Overview['config'];

export function renderConfig(c: Config): HTMLElement[] {
  return [
    h(
      'dl',
      { class: 'config' },
      h('dt', {}, 'source'),
      h('dd', {}, h('code', {}, c.file)),
      h('dt', {}, 'loaded at'),
      h('dd', { 'data-field': 'loadedAt' }, fmtDateTime(c.loadedAt)),
      h('dt', {}, 'config hash'),
      h('dd', {}, h('code', { 'data-field': 'configHash' }, c.configHash)),
      h('dt', {}, 'snapshot'),
      h('dd', {}, h('code', { 'data-field': 'snapshotId' }, c.snapshotId)),
      h('dt', {}, 'reloads'),
      h('dd', {}, `${c.reloads} applied, ${c.reloadsFailed} rejected`),
      ...storeRows(c),
    ),
    c.lastReloadError === null ? h('p', { class: 'ok' }, 'The last reload was applied.') : reloadError(c),
  ];
}

/** The banner at the top of the page while the file on disk is not what is served. */
export function renderConfigBanner(c: Config): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (c.store !== undefined && !c.store.up) out.push(storeDown(c.store));
  if (c.lastReloadError !== null) out.push(reloadError(c));
  return out;
}

/** The state store: where it is, whether it answers, and whether this process drives the rollouts. */
function storeRows(c: Config): HTMLElement[] {
  const s = c.store;
  if (s === undefined) return [];
  const role = s.kind === 'sqlite' ? 'this process drives the rollouts' : s.leading ? 'elected: this gateway drives the rollouts' : 'follows the elected controller';
  return [
    h('dt', {}, 'store'),
    h('dd', { 'data-field': 'store' }, h('code', {}, s.location), ' ', s.up ? h('span', { class: 'ok' }, 'up') : h('b', { class: 'down' }, 'DOWN'), ` · ${role}`),
  ];
}

function storeDown(s: NonNullable<Config['store']>): HTMLElement {
  return h(
    'div',
    { class: 'reload-error', role: 'alert', 'data-field': 'store-down' },
    h('b', {}, `Store DOWN: ${s.location}`),
    h('span', {}, ' — serving the last good snapshot; changes fail until it answers.'),
    s.error === undefined ? null : h('pre', {}, s.error),
  );
}

function reloadError(c: Config): HTMLElement {
  const e = c.lastReloadError!;
  return h(
    'div',
    { class: 'reload-error', role: 'alert' },
    h('b', {}, `Config reload rejected at ${fmtDateTime(e.at)}`),
    h('span', {}, ` — still serving the config loaded at ${fmtDateTime(c.loadedAt)}.`),
    e.issues.length === 0
      ? h('pre', {}, e.message)
      : h(
          'ul',
          { class: 'issues' },
          e.issues.map((i) => h('li', {}, h('code', {}, `${i.file}:${i.line}:${i.column}`), ' ', i.path ? h('code', { class: 'key' }, i.path) : null, ' ', i.message)),
        ),
  );
}
