/** Services: each version's live numbers and its endpoints, and the traffic split chart beside them. */
import type { HistoryPoint, ServiceOverview, VersionOverview } from '../api.js';
import { splitChart } from '../chart.js';
import { versionOrder } from '../colors.js';
import { fmtMs, fmtPercent, fmtRate, fmtTime, h, versionChip } from '../dom.js';

export interface ServicesInput {
  services: ServiceOverview[];
  points: readonly HistoryPoint[];
  stepMs: number;
  now: number;
}

/**
 * The chart spans the history there is, in whole minutes from one to five: a page opened on a
 * fresh server shows its first minute in detail instead of a sliver at the right edge.
 */
function chartWindowMs(points: readonly HistoryPoint[], now: number): number {
  const span = points.length === 0 ? 0 : now - points[0]!.at;
  return Math.min(5, Math.max(1, Math.ceil(span / 60_000))) * 60_000;
}

export function renderServices(input: ServicesInput): HTMLElement[] {
  if (input.services.length === 0) return [h('p', { class: 'muted' }, 'No services in the config.')];
  return input.services.map((svc) => {
    const versions = [...svc.versions].sort((a, b) => versionOrder(a.name, b.name, svc.fallback));
    const names = versions.map((v) => v.name);
    // Versions that served traffic in the window but are gone from the config still show in the chart.
    for (const p of input.points) for (const v of Object.keys(p.requests[svc.name] ?? {})) if (!names.includes(v)) names.push(v);
    const windowMs = chartWindowMs(input.points, input.now);
    const chart = splitChart(svc.name, input.points, names, { windowMs, end: input.now, stepMs: input.stepMs });
    return h(
      'section',
      { class: 'service card', 'data-service': svc.name },
      h('header', {}, h('h3', {}, svc.name), h('span', { class: 'muted' }, `unmarked traffic falls back to `, versionChip(svc.fallback))),
      h(
        'table',
        { class: 'versions' },
        h(
          'thead',
          {},
          h('tr', {}, h('th', {}, 'version'), h('th', { class: 'num' }, 'req/s'), h('th', { class: 'num' }, 'errors'), h('th', { class: 'num' }, 'p99'), h('th', { class: 'num', title: 'share of the service\'s requests over the last 10 s' }, 'share'), h('th', { class: 'num' }, 'total'), h('th', {}, 'endpoints')),
        ),
        h('tbody', {}, versions.map((v) => versionRow(v))),
      ),
      h('div', { class: 'chart-wrap' }, h('div', { class: 'chart-title' }, `traffic split, last ${windowMs / 60_000 === 1 ? 'minute' : `${windowMs / 60_000} minutes`}`), chart, legend(names, Object.fromEntries(versions.map((v) => [v.name, v.share])))),
    );
  });
}

function versionRow(v: VersionOverview): HTMLElement {
  const errorClass = v.errorRate === null || v.errorRate === 0 ? 'num' : v.errorRate >= 0.05 ? 'num bad' : 'num warn';
  return h(
    'tr',
    { 'data-version': v.name },
    h('td', {}, versionChip(v.name), v.withdrawn ? h('small', { class: 'tag bad', title: 'its rollout was aborted: it gets no traffic until retried' }, 'withdrawn') : null),
    h('td', { class: 'num', 'data-field': 'rps' }, fmtRate(v.rps)),
    h('td', { class: errorClass, 'data-field': 'errorRate' }, v.errorRate === null ? '–' : fmtPercent(v.errorRate * 100, 2)),
    h('td', { class: 'num', 'data-field': 'p99' }, fmtMs(v.p99Ms)),
    h('td', { class: 'num', 'data-field': 'share' }, fmtPercent(v.share, 0)),
    h('td', { class: 'num', 'data-field': 'requests' }, String(v.requests)),
    h(
      'td',
      {},
      h(
        'div',
        { class: 'endpoints' },
        v.endpoints.length === 0 ? h('span', { class: 'muted' }, 'none') : null,
        v.endpoints.map((e) =>
          h(
            'span',
            { class: `endpoint ${e.up ? 'up' : 'down'}`, title: e.up ? `${e.url}: in rotation` : `${e.url}: ejected by passive health until ${fmtTime(e.ejectedUntil)}` },
            h('i', { class: 'dot' }),
            e.url.replace(/^https?:\/\//, ''),
            h('small', { class: e.registered ? 'tag registered' : 'tag' }, e.registered ? 'registered' : 'static'),
            e.up ? null : h('small', { class: 'tag bad' }, `ejected${e.ejectedUntil === null ? '' : ` until ${fmtTime(e.ejectedUntil)}`}`),
          ),
        ),
      ),
    ),
  );
}

/** Each version with its share of the last 10 s (the table's share column). */
function legend(names: string[], share: Record<string, number | null>): HTMLElement {
  return h(
    'div',
    { class: 'legend' },
    names.map((n) => h('span', { class: 'legend-item' }, versionChip(n), h('b', { 'data-share': n }, fmtPercent(share[n] ?? null, 0)))),
  );
}
