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
      h('dt', {}, 'snapshot'),
      h('dd', {}, h('code', { 'data-field': 'snapshotId' }, c.snapshotId)),
      h('dt', {}, 'reloads'),
      h('dd', {}, `${c.reloads} applied, ${c.reloadsFailed} rejected`),
    ),
    c.lastReloadError === null ? h('p', { class: 'ok' }, 'The last reload was applied.') : reloadError(c),
  ];
}

/** The banner at the top of the page while the file on disk is not what is served. */
export function renderConfigBanner(c: Config): HTMLElement[] {
  if (c.lastReloadError === null) return [];
  return [reloadError(c)];
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
