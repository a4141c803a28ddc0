/**
 * Imported configs route like their source systems would, through the real gateway (compile +
 * startGateway) and real upstream servers on 127.0.0.1: the Traefik 3:1 WRR, ingress-nginx's
 * header / pattern / cookie / weight canaries, Kruise's full-link lane. Anonymous weights use an
 * injected random sequence spread evenly over [0, 1), so counts are exact.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile } from '../../src/routing/index.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { importConfigs } from '../../src/import/index.js';
import { loadImported } from '../support/import.js';
import { get, startUpstream, tally, type Echo, type Upstream } from '../gateway/helpers.js';

const fixtures = new URL('../../../test/fixtures/import/', import.meta.url);

function fixture(name: string): { file: string; text: string } {
  return { file: name, text: readFileSync(new URL(name, fixtures), 'utf8') };
}

/** Uniform in [0, 1), evenly spread: n draws in a row hit each 1/n slice once. */
function evenRandom(n: number): () => number {
  let i = 0;
  return () => ((i++ % n) + 0.5) / n;
}

interface Setup {
  gateway: Gateway;
  upstreams: Upstream[];
  close(): Promise<void>;
}

/** Imports `inputs` (endpoints pointing at fresh upstreams named by `versions`) and starts a gateway. */
async function serve(inputs: { file: string; text: string }[], versions: string[], rewrite: (text: string, urls: Record<string, string>) => string = (t) => t, random?: () => number): Promise<Setup> {
  const upstreams = await Promise.all(versions.map((v) => startUpstream(v)));
  const urls = Object.fromEntries(upstreams.map((u) => [u.version, u.url]));
  const { yaml } = importConfigs(
    inputs.map((i) => ({ ...i, text: rewrite(i.text, urls) })),
    { endpoints: urls },
  );
  const { spec } = loadImported(yaml);
  const gateway = await startGateway({ snapshot: compile(spec), host: '127.0.0.1', port: 0, accessLog: false, ...(random ? { random } : {}) });
  return {
    gateway,
    upstreams,
    async close() {
      await gateway.close({ drainMs: 0 });
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

async function versionOf(gw: Gateway, path: string, headers: Record<string, string>): Promise<string> {
  const r = await get(gw, path, headers);
  assert.equal(r.status, 200, r.text);
  return r.json<Echo>().version;
}

async function counts(gw: Gateway, n: number, path: string, headers: Record<string, string>): Promise<Record<string, number>> {
  const versions: string[] = [];
  for (let i = 0; i < n; i++) versions.push(await versionOf(gw, path, headers));
  return tally(versions, (v) => v);
}

describe('Traefik weighted round robin 3:1 (the docs example)', () => {
  let s: Setup;
  before(async () => {
    s = await serve([fixture('traefik/wrr.yaml')], ['appv1', 'appv2'], (text, urls) =>
      text.replace('http://private-ip-server-1/', urls.appv1!).replace('http://private-ip-server-2/', urls.appv2!),
    );
  });
  after(() => s.close());

  test('400 requests: exactly 300 to appv1 and 100 to appv2', async () => {
    assert.deepEqual(await counts(s.gateway, 400, '/', { host: 'app.example.com' }), { appv1: 300, appv2: 100 });
  });

  test('another host is not routed', async () => {
    assert.equal((await get(s.gateway, '/', { host: 'other.example.com' })).status, 404);
  });
});

describe('ingress-nginx canary-by-header Region with pattern cd|sz', () => {
  let s: Setup;
  before(async () => {
    s = await serve([fixture('ingress-nginx/canary-by-header.yaml')], ['demo-svc', 'demo-canary-svc']);
  });
  after(() => s.close());

  test('Region: sz and cd go to the canary, bj and no header to main', async () => {
    const host = 'canary.example.com';
    assert.equal(await versionOf(s.gateway, '/', { host, region: 'sz' }), 'demo-canary-svc');
    assert.equal(await versionOf(s.gateway, '/a/b', { host, Region: 'cd' }), 'demo-canary-svc');
    assert.equal(await versionOf(s.gateway, '/', { host, region: 'bj' }), 'demo-svc');
    assert.equal(await versionOf(s.gateway, '/', { host }), 'demo-svc');
  });

  test('with a pattern, "always" has no special meaning (as in ingress-nginx)', async () => {
    assert.equal(await versionOf(s.gateway, '/', { host: 'canary.example.com', region: 'always' }), 'demo-svc');
  });
});

describe('ingress-nginx canary by header value, cookie and weight', () => {
  let s: Setup;
  before(async () => {
    s = await serve([fixture('ingress-nginx/canary-weight-cookie.yaml')], ['web', 'web-v2', 'web-api', 'web-api-v2'], undefined, evenRandom(1000));
  });
  after(() => s.close());
  const host = 'web.example.com';

  test('header x-canary: yes beats the cookie; another value falls through to the cookie', async () => {
    assert.equal(await versionOf(s.gateway, '/', { host, 'x-canary': 'yes', cookie: 'canary=never' }), 'web-v2');
    assert.equal(await versionOf(s.gateway, '/', { host, 'x-canary': 'always', cookie: 'canary=always' }), 'web-v2');
    assert.equal(await versionOf(s.gateway, '/', { host, 'x-canary': 'no', cookie: 'canary=never' }), 'web');
  });

  test('cookie always / never override the weight on every request', async () => {
    assert.deepEqual(await counts(s.gateway, 50, '/', { host, cookie: 'canary=always' }), { 'web-v2': 50 });
    assert.deepEqual(await counts(s.gateway, 50, '/', { host, cookie: 'other=1; canary=never' }), { web: 50 });
  });

  test('canary-weight 30: 300 of 1000 anonymous requests, drawn per request', async () => {
    assert.deepEqual(await counts(s.gateway, 1000, '/', { host }), { web: 700, 'web-v2': 300 });
  });

  test('canary-weight 5 of canary-weight-total 1000 on /api; the exact /healthz path has no canary', async () => {
    assert.deepEqual(await counts(s.gateway, 1000, '/api/orders', { host }), { 'web-api': 995, 'web-api-v2': 5 });
    assert.deepEqual(await counts(s.gateway, 20, '/healthz', { host }), { web: 20 });
  });
});

describe('Kruise full-link lane', () => {
  let s: Setup;
  before(async () => {
    s = await serve([fixture('kruise/full-link.yaml')], ['spring-cloud-a', 'spring-cloud-a-canary', 'spring-cloud-b']);
  });
  after(() => s.close());

  test('User-Agent: foo enters lane gray, tagged x-mse-tag: gray; others stay on stable', async () => {
    const r = await get(s.gateway, '/', { host: 'mall.example.com', 'user-agent': 'foo' });
    const echo = r.json<Echo>();
    assert.equal(echo.version, 'spring-cloud-a-canary');
    assert.equal(echo.headers['x-mse-tag'], 'gray');
    assert.equal(echo.headers['x-gray-lane'], 'gray');
    assert.equal(await versionOf(s.gateway, '/', { host: 'mall.example.com', 'user-agent': 'curl' }), 'spring-cloud-a');
  });
});

describe('Kruise full-link lane before its canary pods registered', () => {
  let s: Setup;
  before(async () => {
    s = await serve([fixture('kruise/full-link.yaml')], ['spring-cloud-a', 'spring-cloud-b']);
  });
  after(() => s.close());

  test('the gray lane falls back to stable and keeps its tag for the services downstream', async () => {
    const echo = (await get(s.gateway, '/', { host: 'mall.example.com', 'user-agent': 'foo' })).json<Echo>();
    assert.equal(echo.version, 'spring-cloud-a');
    assert.equal(echo.headers['x-gray-lane'], 'gray');
    assert.equal(echo.headers['x-mse-tag'], 'gray');
  });
});

describe('Kruise TrafficRouting match of type RegularExpression', () => {
  let s: Setup;
  before(async () => {
    // The full-link example with its header match turned into a regular expression.
    const regex = (text: string) =>
      text.replace('          - type: Exact\n            name: User-Agent\n            value: foo', '          - type: RegularExpression\n            name: User-Agent\n            value: "^(foo|bar)/[0-9]+"');
    assert.notEqual(regex(fixture('kruise/full-link.yaml').text), fixture('kruise/full-link.yaml').text, 'the fixture was rewritten');
    s = await serve([fixture('kruise/full-link.yaml')], ['spring-cloud-a', 'spring-cloud-a-canary', 'spring-cloud-b'], regex);
  });
  after(() => s.close());

  test('a header matching the expression enters lane gray; one that does not stays on stable', async () => {
    const host = 'mall.example.com';
    assert.equal(await versionOf(s.gateway, '/', { host, 'user-agent': 'foo/12' }), 'spring-cloud-a-canary');
    assert.equal(await versionOf(s.gateway, '/', { host, 'user-agent': 'bar/7 (X11)' }), 'spring-cloud-a-canary');
    assert.equal(await versionOf(s.gateway, '/', { host, 'user-agent': 'foo' }), 'spring-cloud-a', 'no version number: no match');
    assert.equal(await versionOf(s.gateway, '/', { host, 'user-agent': 'curl/8 foo/1' }), 'spring-cloud-a', 'anchored at the start');
  });
});
