import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../routing/index.js';
import { parseSpec } from '../spec/index.js';
import { knownLanes } from './lanes.js';
import { routesOf } from './overview.js';

const SPEC = parseSpec(
  `
services:
  web:
    versions:
      stable: [http://127.0.0.1:9001]
      beta: [http://127.0.0.1:9002]
  shadow:
    versions:
      stable: [http://127.0.0.1:9101]
      alpha: [http://127.0.0.1:9102]
      shadow: [http://127.0.0.1:9103]
routes:
  - name: trusted
    match: { host: trusted.test }
    service: web
    trustLane: true
  - name: main
    match: { host: shop.example.com, pathPrefix: /checkout }
    service: web
    rules:
      - { name: testers, lane: beta, header: { name: x-beta, equals: "1" } }
      - { lane: alpha, users: ["7", "12"], percent: 10 }
    canary:
      - { lane: beta, byHeader: x-canary, weight: 5 }
    split: { stable: 90, beta: 10 }
    mirror: { lane: shadow, percent: 5 }
`,
  'inline.yaml',
);

test('known lanes: every version and lane the config and the rollout overlays name', () => {
  const lanes = knownLanes(compile(SPEC, { services: { web: { split: { stable: 80, green: 20 } } } }));
  assert.deepEqual([...lanes].sort(), ['alpha', 'beta', 'green', 'shadow', 'stable']);
});

test('routes are described in the words explain uses, rollout rules and split first', () => {
  const routes = routesOf(compile(SPEC, { services: { web: { split: { stable: 70, beta: 30 }, rules: [{ name: 'rollout-header', lane: 'beta', header: { name: 'x-canary-user', equals: 'yes' } }] } } }));
  const main = routes[1]!;
  assert.equal(main.match, 'host shop.example.com, path prefix /checkout');
  assert.deepEqual(main.rules, [
    { name: 'rollout-header', lane: 'beta', when: 'header x-canary-user equals "yes"', source: 'rollout' },
    { name: 'testers', lane: 'beta', when: 'header x-beta equals "1"', source: 'route' },
    { name: 'rules[1]', lane: 'alpha', when: 'user in list (2 ids) and percent 10 (bucket < 1000)', source: 'route' },
  ]);
  assert.deepEqual(main.canary, ['header x-canary "always" (or "never" to skip), else 5 of 100 requests -> lane beta']);
  assert.deepEqual(main.split, { weights: { stable: 70, beta: 30 }, source: 'rollout', sticky: false });
  assert.deepEqual(main.mirror, { lane: 'shadow', percent: 5 });
  assert.equal(routes[0]!.match, 'host trusted.test');
  assert.equal(routes[0]!.trustLane, true);
  // A rollout's split applies to every route of its service.
  assert.deepEqual(routes[0]!.split, { weights: { stable: 70, beta: 30 }, source: 'rollout', sticky: false });
  assert.equal(routesOf(compile(SPEC))[0]!.split, null);
});
