/**
 * Gateways: every gateway of the cluster (or this process alone) with its address, role, store,
 * last counters publish and requests per version; the totals across them in the last row. This
 * gateway is marked; a gateway that stopped publishing is greyed and tagged stale until it is gone.
 */
import type { GatewayOverview, GatewaysOverview, ServiceOverview, TotalsByVersion } from '../api.js';
import { versionOrder } from '../colors.js';
import { fmtTime, h, versionChip } from '../dom.js';

/** `services` gives each service's fallback, so versions are in the order of the services table. */
export function renderGateways(g: GatewaysOverview, services: readonly ServiceOverview[]): HTMLElement[] {
  const columns = versionColumns(g.totals, services);
  const many = new Set(columns.map((c) => c.service)).size > 1;
  const intro =
    g.mode === 'single'
      ? 'One process: this gateway alone.'
      : `${g.gateways.length} gateway${g.gateways.length === 1 ? '' : 's'} publishing to etcd; stale after ${(g.staleAfterMs ?? 0) / 1000} s without a publish, gone when its ${(g.goneAfterMs ?? 0) / 1000} s lease ends.`;
  return [
    h('p', { class: 'muted message' }, intro),
    h(
      'table',
      { class: 'gateways' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'gateway'),
          h('th', {}, 'address'),
          h('th', {}, 'role'),
          h('th', {}, 'store'),
          h('th', {}, 'last publish'),
          columns.map((c) => h('th', { class: 'num', title: `requests to ${c.service}/${c.version} since each gateway started` }, many ? `${c.service} ` : null, versionChip(c.version))),
        ),
      ),
      h(
        'tbody',
        {},
        g.gateways.map((gw) => gatewayRow(gw, columns)),
        g.gateways.length > 1
          ? h(
              'tr',
              { class: 'totals' },
              h('td', { colspan: 5 }, 'all gateways'),
              columns.map((c) => h('td', { class: 'num', 'data-field': 'requests', 'data-version': c.key }, String(g.totals[c.service]?.[c.version]?.requests ?? 0))),
            )
          : null,
      ),
    ),
  ];
}

interface Column {
  service: string;
  version: string;
  /** `service/version`, the cell's data-version. */
  key: string;
}

function versionColumns(totals: TotalsByVersion, services: readonly ServiceOverview[]): Column[] {
  return Object.entries(totals).flatMap(([service, byVersion]) => {
    const fallback = services.find((s) => s.name === service)?.fallback;
    return Object.keys(byVersion)
      .sort((a, b) => versionOrder(a, b, fallback))
      .map((version) => ({ service, version, key: `${service}/${version}` }));
  });
}

function gatewayRow(g: GatewayOverview, columns: Column[]): HTMLElement {
  const stale = g.state === 'stale';
  return h(
    'tr',
    { 'data-gateway': g.name, 'data-id': g.id, 'data-state': g.state, 'data-role': g.role, 'data-local': g.local ? 'true' : 'false', class: stale ? 'stale' : null },
    h(
      'td',
      { title: `${g.id} on ${g.hostname}`, class: 'nowrap' },
      h('b', {}, g.name),
      g.local ? h('small', { class: 'tag local', title: 'the gateway serving this page' }, 'this gateway') : null,
      stale ? h('small', { class: 'tag bad', title: 'no counters published lately: stopped, frozen, or cut off from etcd' }, 'stale') : null,
    ),
    h('td', {}, h('code', { 'data-field': 'address' }, g.address || '–'), g.admin ? h('div', { class: 'nowrap' }, h('small', { class: 'muted' }, `admin ${g.admin}`)) : null),
    h(
      'td',
      { 'data-field': 'role', class: 'nowrap' },
      g.role === 'leader' ? h('span', { class: 'tag leader', title: 'its controller drives the rollouts' }, 'leader') : 'follower',
      g.candidate ? null : h('div', {}, h('small', { class: 'muted', title: '--no-controller: never leads' }, 'gateway only')),
    ),
    h('td', { 'data-field': 'store-state' }, g.store.up ? h('span', { class: 'ok' }, 'up') : h('b', { class: 'down', title: g.store.error ?? '' }, 'DOWN')),
    h(
      'td',
      { 'data-field': 'published', class: 'nowrap' },
      g.publishedAt === null ? '–' : fmtTime(g.publishedAt),
      g.silentMs === null ? null : h('div', {}, h('small', { class: 'muted' }, `${(g.silentMs / 1000).toFixed(1)} s ago`)),
    ),
    columns.map((c) => h('td', { class: 'num', 'data-field': 'requests', 'data-version': c.key }, String(g.versions[c.service]?.[c.version]?.requests ?? 0))),
  );
}
