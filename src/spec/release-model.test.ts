import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from './index.js';

const BASE = `
services:
  frontend: { versions: { stable: [http://127.0.0.1:9001], gray: [http://127.0.0.1:9002] } }
  cart: { versions: { stable: [http://127.0.0.1:9011], gray: [http://127.0.0.1:9012] } }
  payment: { versions: { stable: [http://127.0.0.1:9021], gray: [http://127.0.0.1:9022] } }
  search: { versions: { stable: [http://127.0.0.1:9031] } }
routes:
  - { name: shop, service: frontend, match: { pathPrefix: / } }
  - { name: find, service: search, match: { pathPrefix: /search } }
analysisTemplates:
  error-rate: { interval: 1s, successCondition: result < 0.01, provider: { builtin: { metric: errorRate } } }
`;

const release = (body: string) => `${BASE}releases:\n  checkout:\n${body}`;
const GOOD = `    lane: gray
    services: [frontend, cart, payment]
    entry: { route: shop }
    steps:
      - setWeight: 5
      - pause: { duration: 10m }
      - analysis: { templates: [error-rate] }
      - hook: { name: deploy, command: [./deploy.sh] }
      - setWeight: 50
      - pause: {}
    rollbackWindow: 1h
`;

function issues(text: string): string[] {
  try {
    parseSpec(text, 'g.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

test('the issue example shape loads, with defaults (salt = the release name)', () => {
  const spec = parseSpec(release(GOOD), 'g.yaml');
  const r = spec.releases![0]!;
  assert.deepEqual([r.name, r.lane, r.services, r.entry, r.salt, r.rollbackWindowMs], ['checkout', 'gray', ['frontend', 'cart', 'payment'], { route: 'shop' }, 'checkout', 3_600_000]);
  assert.deepEqual(r.steps.map((s) => s.kind), ['setWeight', 'pause', 'analysis', 'hook', 'setWeight', 'pause']);
});

test('wrong references are refused with file lines and what is wrong', () => {
  const bad = issues(
    release(`    lane: gray
    services: [frontend, search, nope]
    entry: { route: shopp }
    steps: [ { setWeight: 5 } ]
`),
  );
  assert.deepEqual(bad, [
    '15: releases.checkout.services[1]: service "search" has no version "gray" (the release\'s lane): give it one, or leave it out of the release (it then serves the lane from its fallback)',
    '15: releases.checkout.services[2]: unknown service "nope" (known: frontend, cart, payment, search)',
    '16: releases.checkout.entry.route: no route named "shopp" (routes: shop, find)',
  ]);
  const header = issues(release('    lane: gray\n    services: [frontend]\n    entry: { route: shop }\n    steps: [ { setHeaderRoute: { header: { name: x, equals: y } } } ]\n'));
  assert.deepEqual(header.length, 1, header.join('\n'));
  assert.match(header[0]!, /^17: releases\.checkout\.steps\[0\]\.setHeaderRoute: unknown key "setHeaderRoute"/);
});

test('a service in two releases, or in a release and a rollout, is refused', () => {
  const two = issues(`${release(GOOD)}  other:\n    lane: gray\n    services: [cart]\n    entry: { route: shop }\n    steps: [ { setWeight: 5 } ]\n`);
  assert.ok(two.some((l) => /releases\.other\.services\[0\]: service "cart" is already released by release "checkout": one release or rollout per service/.test(l)), two.join('\n'));
  assert.ok(two.some((l) => /releases\.other\.entry\.route: route "shop" serves "frontend", which is not one of the release's services/.test(l)), two.join('\n'));
  const withRollout = issues(`${release(GOOD)}rollouts:\n  - { name: pay, service: payment, canary: gray, strategy: { canary: { steps: [ { setWeight: 5 } ] } } }\n`);
  assert.ok(withRollout.some((l) => /releases\.checkout\.services\[2\]: service "payment" is already released by rollout "pay"/.test(l)), withRollout.join('\n'));
});

test('shape errors: missing keys, a lane that is a fallback, unknown template, bad name', () => {
  const a = issues(release('    lane: gray\n    services: [frontend]\n    entry: { route: shop }\n    steps: [ { analysis: { templates: [nope] } } ]\n'));
  assert.deepEqual(a, ['17: releases.checkout.steps[0].analysis.templates[0]: unknown analysis template "nope" (known: error-rate)']);
  const fallback = issues(release('    lane: stable\n    services: [frontend]\n    entry: { route: shop }\n    steps: [ { setWeight: 1 } ]\n'));
  assert.deepEqual(fallback, ['14: releases.checkout.lane: lane "stable" is service "frontend"\'s fallback: a release replaces the fallback with the lane\'s version']);
  const b = issues(release('    lane: gray\n'));
  assert.ok(b.some((l) => /releases\.checkout(\.services)?: .*(services|required)/.test(l)), b.join('\n'));
  const c = issues(`${BASE}releases:\n  "bad name":\n    lane: gray\n    services: [frontend]\n    entry: { route: shop }\n    steps: [ { setWeight: 1 } ]\n`);
  assert.ok(c.some((l) => /must be letters, digits/.test(l)), c.join('\n'));
});
