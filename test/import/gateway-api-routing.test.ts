/**
 * Imported Gateway API routes route as the Gateway API says, through the real gateway (compile +
 * startGateway) and real upstreams on 127.0.0.1 named after the Kubernetes Services: header and
 * query matches with the RequestHeaderModifier applied upstream, weighted backendRefs in exact
 * per-request proportions, exact / prefix / regex paths, a GRPCRoute's methods as paths.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile } from '../../src/routing/index.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { importConfigs } from '../../src/import/index.js';
import { loadImported } from '../support/import.js';
import { get, startUpstream, tally, type Echo, type Upstream } from '../gateway/helpers.js';

const fixtures = new URL('../../../test/fixtures/import/gateway-api/', import.meta.url);

interface Setup {
  gateway: Gateway;
  warnings: string[];
  close(): Promise<void>;
}

/** Imports the fixture with each Service's endpoint pointing at an upstream of that name. */
async function serve(name: string, services: string[]): Promise<Setup> {
  const upstreams: Upstream[] = await Promise.all(services.map((v) => startUpstream(v)));
  const { yaml, warnings } = importConfigs([{ file: name, text: readFileSync(new URL(name, fixtures), 'utf8') }], {
    endpoints: Object.fromEntries(upstreams.map((u) => [u.version, u.url])),
  });
  const gateway = await startGateway({ snapshot: compile(loadImported(yaml).spec), host: '127.0.0.1', port: 0, accessLog: false });
  return {
    gateway,
    warnings: warnings.map((w) => w.message),
    async close() {
      await gateway.close({ drainMs: 0 });
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

async function echo(gw: Gateway, path: string, headers: Record<string, string>, method = 'GET'): Promise<Echo> {
  const r = await get(gw, path, headers, { method });
  assert.equal(r.status, 200, r.text);
  return r.json<Echo>();
}

async function counts(gw: Gateway, n: number, path: string, headers: Record<string, string>, method = 'GET'): Promise<Record<string, number>> {
  const versions: string[] = [];
  for (let i = 0; i < n; i++) versions.push((await echo(gw, path, headers, method)).version);
  return tally(versions, (v) => v);
}

describe('HTTPRoute canary: header and query rules with a header modifier, weighted catch-all', () => {
  let s: Setup;
  before(async () => (s = await serve('httproute-canary.yaml', ['reviews', 'reviews-canary'])));
  after(() => s.close());
  const host = 'reviews.example.com';

  test('X-Canary: always goes to the canary, with x-mse-tag set and x-debug removed upstream', async () => {
    const e = await echo(s.gateway, '/r/1', { host, 'X-Canary': 'always', 'x-debug': '1' });
    assert.equal(e.version, 'reviews-canary');
    assert.equal(e.headers['x-mse-tag'], 'gray');
    assert.equal(e.headers['x-debug'], undefined);
  });

  test('?preview=1 or yes (a RegularExpression match of the whole value) goes to the canary; ?preview=yes2 does not', async () => {
    assert.deepEqual(await counts(s.gateway, 10, '/r?preview=1', { host }), { 'reviews-canary': 10 });
    assert.deepEqual(await counts(s.gateway, 10, '/r?preview=yes', { host }), { 'reviews-canary': 10 });
    const other = await counts(s.gateway, 50, '/r?preview=yes2', { host });
    assert.equal(other.reviews, 40, JSON.stringify(other));
  });

  test('weights 80/20: exactly 400 of 500 to reviews and 100 to the canary, and no tag added', async () => {
    assert.deepEqual(await counts(s.gateway, 500, '/', { host }), { reviews: 400, 'reviews-canary': 100 });
    assert.equal((await echo(s.gateway, '/', { host, 'x-debug': '1' })).headers['x-debug'], '1');
  });

  test('the method match graylane cannot test is named in a warning and not widened: POST follows the weights', async () => {
    assert.ok(s.warnings.some((w) => /cannot test the method \(POST\)/.test(w)), s.warnings.join('\n'));
    assert.deepEqual(await counts(s.gateway, 50, '/', { host }, 'POST'), { reviews: 40, 'reviews-canary': 10 });
  });

  test('another host is not routed', async () => {
    assert.equal((await get(s.gateway, '/', { host: 'other.example.com' })).status, 404);
  });
});

describe('HTTPRoute with several rules: exact, prefix and regex paths, weights behind a header', () => {
  let s: Setup;
  before(async () => (s = await serve('httproute-paths.yaml', ['web-v1', 'web-v2', 'web-v3'])));
  after(() => s.close());

  test('the exact /healthz path goes to web-v1 only, on both hostnames', async () => {
    assert.deepEqual(await counts(s.gateway, 20, '/healthz', { host: 'web.example.com' }), { 'web-v1': 20 });
    assert.deepEqual(await counts(s.gateway, 20, '/healthz', { host: 'a.web.example.com' }), { 'web-v1': 20 });
  });

  test('/api splits 3:1 between web-v1 and web-v2, exactly', async () => {
    assert.deepEqual(await counts(s.gateway, 400, '/api/orders', { host: 'web.example.com' }), { 'web-v1': 300, 'web-v2': 100 });
  });

  test('x-tier: gold on /api goes to web-v2 or web-v3, never web-v1', async () => {
    const c = await counts(s.gateway, 40, '/api/orders', { host: 'web.example.com', 'x-tier': 'gold' });
    assert.equal(c['web-v1'], undefined, JSON.stringify(c));
    assert.equal((c['web-v2'] ?? 0) + (c['web-v3'] ?? 0), 40);
  });

  test('the regex path ^/beta/[a-z]+$ goes to web-v3; /beta/ABC to the catch-all', async () => {
    assert.equal((await echo(s.gateway, '/beta/abc', { host: 'web.example.com' })).version, 'web-v3');
    assert.equal((await echo(s.gateway, '/beta/ABC', { host: 'web.example.com' })).version, 'web-v1');
    assert.equal((await echo(s.gateway, '/other', { host: 'x.web.example.com' })).version, 'web-v1');
  });
});

describe('GRPCRoute: a method by header, a service weighted 9:1', () => {
  let s: Setup;
  before(async () => (s = await serve('grpcroute.yaml', ['orders', 'orders-canary'])));
  after(() => s.close());
  const host = 'grpc.example.com';

  test('Create with x-canary: true goes to the canary; without it, Create follows the service weights', async () => {
    assert.equal((await echo(s.gateway, '/shop.v1.Orders/Create', { host, 'x-canary': 'true' }, 'POST')).version, 'orders-canary');
    assert.deepEqual(await counts(s.gateway, 100, '/shop.v1.Orders/Create', { host }, 'POST'), { orders: 90, 'orders-canary': 10 });
  });

  test('another method of the service splits 9:1; another service has no route', async () => {
    assert.deepEqual(await counts(s.gateway, 100, '/shop.v1.Orders/List', { host }, 'POST'), { orders: 90, 'orders-canary': 10 });
    assert.equal((await get(s.gateway, '/shop.v1.Users/Get', { host }, { method: 'POST' })).status, 404);
  });

  test('the HTTP/2 limit is said', () => {
    assert.ok(s.warnings.some((w) => /HTTP\/2/.test(w)));
  });
});

describe('Flagger Canary on its HTTPRoute', () => {
  let s: Setup;
  before(async () => (s = await serve('flagger-canary.yaml', ['podinfo-primary', 'podinfo-canary'])));
  after(() => s.close());

  test('before the rollout moves, every request goes to the primary (the canary backend has weight 0)', async () => {
    assert.deepEqual(await counts(s.gateway, 40, '/', { host: 'app.example.com' }), { 'podinfo-primary': 40 });
  });

  test('the rollout walks 10..50 every interval with the builtin checks, and the rest is warned', () => {
    const { rollouts, templates } = loadImported(importConfigs([{ file: 'f.yaml', text: readFileSync(new URL('flagger-canary.yaml', fixtures), 'utf8') }]).yaml);
    assert.equal(rollouts.length, 1);
    const yaml = importConfigs([{ file: 'f.yaml', text: readFileSync(new URL('flagger-canary.yaml', fixtures), 'utf8') }]).yaml;
    assert.match(yaml, /- \{ setWeight: 10 \}\n\s+- \{ pause: \{ duration: 1m \} \}/);
    assert.match(yaml, /- \{ setWeight: 50 \}\n\s+- \{ pause: \{ duration: 1m \} \}\n\s+- \{ setWeight: 100 \}/);
    assert.deepEqual(Object.keys(templates).sort(), ['podinfo.duration', 'podinfo.load-test', 'podinfo.success-rate']);
    assert.ok(s.warnings.some((w) => /confirm-promotion is not imported/.test(w) || /of type confirm-promotion is not imported/.test(w)), s.warnings.join('\n'));
    assert.ok(s.warnings.some((w) => /templateRef/.test(w)));
  });
});
