/**
 * The explain box: a URL and headers in; lane, rule, version and endpoint out, with each step marking
 * checked and what it read (app versions, the user's bucket) (POST /api/v1/explain).
 */
import { ApiError, explain, type Explanation, type StepCheck } from '../api.js';
import { h, versionChip } from '../dom.js';

/** Builds the box once; it keeps its own state (it is never re-rendered by the live feed). */
export function explainBox(): HTMLElement {
  const url = h('input', { type: 'url', name: 'url', required: true, placeholder: 'http://shop.example.com/checkout?uid=7', autocomplete: 'off', spellcheck: 'false' });
  const headers = h('textarea', { name: 'headers', rows: 3, placeholder: 'x-user-id: 7\ncookie: beta=1', spellcheck: 'false' });
  const result = h('div', { class: 'explain-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'explain',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void run();
      },
    },
    h('label', {}, 'URL', url),
    h('label', {}, 'Headers, one "name: value" a line', headers),
    h('button', { type: 'submit' }, 'Explain'),
    result,
  );

  async function run(): Promise<void> {
    const parsed: Record<string, string> = {};
    for (const line of headers.value.split('\n')) {
      if (line.trim() === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        result.replaceChildren(h('p', { class: 'error' }, `"${line}" is not "name: value"`));
        return;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      parsed[name] = parsed[name] === undefined ? value : `${parsed[name]}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    result.replaceChildren(h('p', { class: 'muted' }, 'asking…'));
    try {
      result.replaceChildren(answer(await explain(url.value, parsed)));
    } catch (err) {
      result.replaceChildren(h('p', { class: 'error' }, err instanceof ApiError ? err.message : String(err)));
    }
  }
  return form;
}

function answer(x: Explanation): HTMLElement {
  if (x.route === null) return h('p', { class: 'error', 'data-field': 'reason' }, x.reason);
  const row = (name: string, field: string, ...value: (Node | string)[]) => [h('dt', {}, name), h('dd', { 'data-field': field }, ...value)];
  return h(
    'dl',
    { class: 'explained' },
    row('route', 'route', x.route),
    row('lane', 'lane', versionChip(x.lane ?? '')),
    row('decided by', 'by', h('code', {}, x.by ?? ''), ' ', h('span', { class: 'muted' }, x.reason)),
    row('version', 'version', x.version === '' ? h('span', { class: 'error' }, 'none (503)') : versionChip(x.version ?? ''), x.fellBack ? h('small', { class: 'tag' }, 'fallback') : ''),
    row('endpoint', 'endpoint', x.endpoint ?? '–', ' ', h('span', { class: 'muted' }, x.dispatchReason ?? '')),
    x.ignoredLaneHeaders?.length ? row('ignored', 'ignored', x.ignoredLaneHeaders.join(', '), h('span', { class: 'muted' }, ' (not trusted on this route)')) : [],
    x.bucket ? row('bucket', 'bucket', String(x.bucket.value), h('span', { class: 'muted' }, ` of 0..9999, ${x.bucket.from}`)) : [],
    x.checks?.length ? row('checked', 'checks', steps(x.checks)) : [],
  );
}

/** Each step marking tried, and each condition it ran with what it read (the version, the bucket). */
function steps(checks: StepCheck[]): HTMLElement {
  return h(
    'ol',
    { class: 'checks' },
    checks.map((step) =>
      h(
        'li',
        { 'data-step': step.step, class: step.matched ? 'marked' : '' },
        h('code', {}, step.step), ' → ', versionChip(step.lane), ' ', h('small', { class: 'tag' }, step.matched ? 'marked' : 'no'),
        h(
          'ul',
          {},
          step.checks.map((c) =>
            h('li', { class: c.holds ? 'holds' : 'fails' }, `${c.holds ? '✓' : '✗'} ${c.condition}`, c.detail ? h('span', { class: 'muted' }, ` — ${c.detail}`) : ''),
          ),
        ),
      ),
    ),
  );
}
