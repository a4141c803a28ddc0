/**
 * `graylane export gateway-api`: what Gateway API can say comes out as HTTPRoutes that route the
 * same requests to the same versions (exported, imported back with `graylane import`, served through
 * the real gateway); what it cannot say (a user list, an app-version range, a sticky percentage) is
 * one warning per rule, and the rule is left out, never widened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { exportGatewayApi } from '../../src/export/gateway-api.js';
import { importConfigs } from '../../src/import/index.js';
import { compile } from '../../src/routing/index.js';
import { startGateway } from '../../src/gateway/index.js';
import { parseSpec } from '../../src/spec/index.js';
import { get, startUpstream, tally, type Echo } from '../gateway/helpers.js';
import { tempDir } from '../support/temp.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const EXPRESSIBLE = `
services:
  shop:
    versions:
      stable: { endpoints: [http://shop.prod.svc.cluster.local:8080] }
      canary: { endpoints: [http://shop-canary.prod.svc.cluster.local:8080] }
routes:
  - name: shop
    match: { host: shop.example.com, pathPrefix: / }
    service: shop
    rules:
      - { lane: canary, header: { name: x-canary, in: [always, yes] }, headers: { set: { x-mse-tag: gray } } }
      - { lane: canary, query: { name: preview, equals: "1" } }
      - { lane: canary, cookie: { name: canary, equals: always } }
    split: { stable: 3, canary: 1 }
`;

test('a config Gateway API can express exports without a warning and routes the same after import', async (t) => {
  const { yaml, warnings, routes } = exportGatewayApi(parseSpec(EXPRESSIBLE, 'g.yaml'), { namespace: 'prod' });
  assert.deepEqual(warnings, []);
  assert.equal(routes.length, 1);
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);
  assert.equal(docs.length, 1);
  assert.equal(docs[0]!.kind, 'HTTPRoute');
  assert.doesNotMatch(yaml, /[&*]a\d/, 'no YAML aliases: kubectl users read it');

  // Back through graylane import, with the Services pointed at real upstreams.
  const stable = await startUpstream('shop');
  const canary = await startUpstream('shop-canary');
  const back = importConfigs([{ file: 'exported.yaml', text: yaml }], { endpoints: { 'prod/shop': stable.url, 'prod/shop-canary': canary.url } });
  const gateway = await startGateway({ snapshot: compile(parseSpec(back.yaml, 'back.yaml')), host: '127.0.0.1', port: 0, accessLog: false });
  t.after(async () => {
    await gateway.close({ drainMs: 0 });
    await stable.close();
    await canary.close();
  });
  const host = 'shop.example.com';
  const version = async (headers: Record<string, string>, path = '/') => (await get(gateway, path, { host, ...headers })).json<Echo>();
  for (const v of ['always', 'yes']) {
    const e = await version({ 'x-canary': v });
    assert.equal(e.version, 'shop-canary', v);
    assert.equal(e.headers['x-mse-tag'], 'gray');
  }
  assert.equal((await version({}, '/?preview=1')).version, 'shop-canary');
  assert.equal((await version({ cookie: 'a=1; canary=always' })).version, 'shop-canary');
  // The rest, a cookie that only starts like the canary's among them, by the weights, exactly.
  const versions: string[] = [];
  for (let i = 0; i < 400; i++) versions.push((await version({ 'x-canary': 'no', cookie: 'canary=alwaysx' })).version);
  assert.deepEqual(tally(versions, (v) => v), { shop: 300, 'shop-canary': 100 });
});

test('user lists, app-version ranges and sticky percentages are one warning per rule each, and left out', () => {
  const spec = parseSpec(
    `
services:
  app:
    versions:
      stable: { endpoints: [http://app.default.svc.cluster.local] }
      beta: { endpoints: [http://app-beta.default.svc.cluster.local] }
routes:
  - match: { pathPrefix: / }
    service: app
    identity: [header:x-user-id]
    rules:
      - { name: vip, lane: beta, users: ["1", "2", "3"] }
      - { name: new-app, lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }
      - { name: ten, lane: beta, percent: 10 }
      - { name: hdr, lane: beta, header: { name: x-beta, present: true } }
    split: { stable: 1 }
    stickySplit: true
`,
    'w.yaml',
  );
  const { warnings, routes } = exportGatewayApi(spec);
  const byPath = Object.fromEntries(warnings.map((w) => [w.path, w.message]));
  assert.match(byPath['routes[0].rules[0]']!, /rule vip: a user list \(3 users\) cannot be expressed in Gateway API: this rule \(lane beta\) is left out/);
  assert.match(byPath['routes[0].rules[1]']!, /rule new-app: an app-version range cannot be expressed/);
  assert.match(byPath['routes[0].rules[2]']!, /rule ten: a sticky percentage of users \(10%\) cannot be expressed/);
  assert.match(byPath['routes[0].stickySplit']!, /sticky per user cannot be expressed/);
  assert.equal(warnings.length, 4, warnings.map((w) => `${w.path}: ${w.message}`).join('\n'));
  // Only the header rule and the catch-all are exported: nothing widened into an unconditional rule to beta.
  const rules = routes[0]!.spec.rules;
  assert.equal(rules.length, 2);
  assert.deepEqual(rules[0]!.matches![0]!.headers, [{ type: 'RegularExpression', name: 'x-beta', value: '.*' }]);
  assert.deepEqual(rules[1]!.backendRefs, [{ name: 'app', namespace: 'default', weight: 1 }]);
});

test('graylane export gateway-api -c FILE: HTTPRoutes on stdout, warnings on stderr; -o writes the file; a bad format is refused', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  writeFileSync(dir.file('g.yaml'), EXPRESSIBLE.replace('    rules:\n', '    rules:\n      - { lane: canary, percent: 5 }\n'));
  const r = spawnSync(process.execPath, [CLI, 'export', 'gateway-api', '-c', dir.file('g.yaml'), '--namespace', 'prod'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^kind: HTTPRoute$/m);
  assert.match(r.stdout, /^  namespace: prod$/m);
  assert.match(r.stderr, /warning: .*g\.yaml: routes\[0\]\.rules\[0\]: a sticky percentage of users \(5%\) cannot be expressed/);
  const o = spawnSync(process.execPath, [CLI, 'export', 'gateway-api', '-c', dir.file('g.yaml'), '-o', dir.file('out.yaml')], { encoding: 'utf8' });
  assert.equal(o.status, 0, o.stderr);
  assert.equal(o.stdout, '');
  const bad = spawnSync(process.execPath, [CLI, 'export', 'istio', '-c', dir.file('g.yaml')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /value 'istio' is invalid for argument 'format'\. Allowed choices are gateway-api/);
});
