/** Routes with their rules, canaries, split and mirror, in the words explain uses. */
import type { RouteOverview } from '../api.js';
import { h, versionChip } from '../dom.js';

export function renderRoutes(routes: RouteOverview[]): HTMLElement[] {
  if (routes.length === 0) return [h('p', { class: 'muted' }, 'No routes in the config.')];
  return routes.map((r) =>
    h(
      'section',
      { class: 'route', 'data-route': r.name },
      h(
        'header',
        {},
        h('b', {}, r.name),
        h('span', { class: 'muted' }, ` ${r.match} → service `),
        h('b', {}, r.service),
        r.pinnedLane === null ? null : h('span', { class: 'tag' }, 'pinned to ', versionChip(r.pinnedLane)),
        r.trustLane ? h('span', { class: 'tag', title: 'incoming lane headers are honoured' }, 'trusts incoming lane') : null,
      ),
      r.rules.length === 0 && r.canary.length === 0 && r.split === null && r.mirror === null && r.pinnedLane === null
        ? h('p', { class: 'muted rule' }, 'no rules: everything goes to the fallback')
        : null,
      h(
        'ol',
        { class: 'rules' },
        r.rules.map((rule) =>
          h('li', { class: 'rule' }, h('code', {}, rule.name), rule.source === 'rollout' ? h('small', { class: 'tag' }, 'rollout') : null, ' if ', h('span', { class: 'when' }, rule.when), ' → ', versionChip(rule.lane)),
        ),
        r.canary.map((c, i) => h('li', { class: 'rule' }, h('code', {}, `canary[${i}]`), ' ', c)),
      ),
      r.split === null
        ? null
        : h(
            'p',
            { class: 'rule' },
            'otherwise split',
            r.split.sticky ? ' (sticky per user)' : '',
            r.split.source === 'rollout' ? h('small', { class: 'tag' }, 'set by rollout') : null,
            ': ',
            Object.entries(r.split.weights).map(([lane, w]) => h('span', { class: 'split-part' }, versionChip(lane), ` ${w}`)),
          ),
      r.mirror === null ? null : h('p', { class: 'rule' }, `copies ${r.mirror.percent}% to `, versionChip(r.mirror.lane), ' (mirror)'),
    ),
  );
}
