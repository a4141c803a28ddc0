/**
 * Marking and dispatch through the real gateway, against real upstream servers on 127.0.0.1.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf, threshold } from '../../src/routing/index.js';
import type { Gateway } from '../../src/gateway/server.js';
import net from 'node:net';
import { client, gatewayFor, get, route, service, spec, startUpstream, tally, type Upstream } from './helpers.js';
import { until } from '../support/wait.js';

const upstreams: Upstream[] = [];
const gateways: Gateway[] = [];
async function up(version: string, instance?: string): Promise<Upstream> {
  const u = await startUpstream(version, instance);
  upstreams.push(u);
  return u;
}
async function gw(...args: Parameters<typeof gatewayFor>): Promise<Gateway> {
  const g = await gatewayFor(...args);
  gateways.push(g);
  return g;
}
after(async () => {
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(upstreams.map((u) => u.close()));
  await client.close();
});

let prod: Upstream, beta: Upstream, alpha: Upstream, alpha1: Upstream;
before(async () => {
  [prod, beta, alpha, alpha1] = await Promise.all([up('prod'), up('beta'), up('alpha'), up('alpha1')]);
});

test('split 3:1 sends exactly 300 of 400 requests to v1 and 100 to v2', async () => {
  const v1 = await up('appv1');
  const v2 = await up('appv2');
  const g = await gw(
    spec({
      services: { svc: service({ appv1: [v1.url], appv2: [v2.url] }, { fallback: 'appv1' }) },
      routes: [route({ split: { appv1: 3, appv2: 1 } })],
    }),
  );
  const versions: string[] = [];
  for (let i = 0; i < 400; i++) versions.push((await get(g, `/r/${i}`)).json().version);
  assert.deepEqual(tally(versions, (v) => v), { appv1: 300, appv2: 100 });
  // Smooth WRR interleaves: never two appv2 in a row.
  assert.equal(versions.join(',').includes('appv2,appv2'), false);
  assert.equal(v1.received.length, 300);
  assert.equal(v2.received.length, 100);
});

test('the four colouring rules of the Traefik-plugin design route to prod/beta/alpha/alpha1, and a host pins alpha1', async () => {
  const salt = 'checkout-2026-11';
  const g = await gw(
    spec({
      services: {
        svc: service({ prod: [prod.url], beta: [beta.url], alpha: [alpha.url], alpha1: [alpha1.url] }, { fallback: 'prod' }),
      },
      routes: [
        route({ name: 'alpha1-host', match: { host: 'alpha1.example.com' }, lane: 'alpha1' }),
        route({
          name: 'prod',
          match: { host: 'prod.example.com', pathPrefix: '/' },
          salt,
          rules: [
            { name: 'vip-users', lane: 'alpha', users: ['1001', '1002'] },
            { name: 'new-app', lane: 'beta', appVersion: { from: { kind: 'header', name: 'x-app-version' }, range: '>=2.3.0' } },
            { name: 'keyword', lane: 'alpha1', path: { contains: '/new-checkout' } },
            { name: 'ten-percent', lane: 'beta', percent: 10 },
          ],
        }),
      ],
    }),
  );
  const host = 'prod.example.com';
  const ask = async (path: string, headers: Record<string, string>) => {
    const r = await get(g, path, { host, ...headers });
    return { version: r.json().version, lane: r.headers['x-gray-lane'], upstreamLane: r.json().headers['x-gray-lane'] };
  };
  assert.deepEqual(await ask('/cart', { 'x-user-id': '1001' }), { version: 'alpha', lane: 'alpha', upstreamLane: 'alpha' });
  assert.deepEqual(await ask('/cart', { 'x-user-id': '1002', 'x-app-version': '9.0.0' }), {
    version: 'alpha',
    lane: 'alpha',
    upstreamLane: 'alpha',
  });
  // A user outside the percent (found by the same hash the gateway uses).
  let outsider = 0;
  while (bucketOf(salt, String(outsider)) < threshold(10)) outsider++;
  assert.equal((await ask('/cart', { 'x-user-id': String(outsider), 'x-app-version': '2.3.0' })).version, 'beta');
  assert.equal((await ask('/cart', { 'x-user-id': String(outsider), 'x-app-version': '2.2.9' })).version, 'prod');
  assert.equal((await ask('/cart', { 'x-user-id': String(outsider), 'x-app-version': 'garbage' })).version, 'prod');
  assert.equal((await ask('/shop/new-checkout/pay', { 'x-user-id': String(outsider) })).version, 'alpha1');
  // Percent: exactly the users the hash puts below the 10% threshold, and sticky.
  let expectedBeta = 0;
  const seen: string[] = [];
  for (let id = 5000; id < 5200; id++) {
    if (bucketOf(salt, String(id)) < threshold(10)) expectedBeta++;
    seen.push((await ask('/cart', { 'x-user-id': String(id) })).version);
  }
  assert.deepEqual(tally(seen, (v) => v), { beta: expectedBeta, prod: 200 - expectedBeta });
  for (let id = 5000; id < 5200; id += 20) {
    assert.equal((await ask('/cart', { 'x-user-id': String(id) })).version, seen[id - 5000]);
  }
  // The alpha1 host pins every request, whoever sends it.
  const pinned = await get(g, '/anything', { host: 'alpha1.example.com', 'x-user-id': '1001' });
  assert.equal(pinned.json().version, 'alpha1');
  assert.equal(pinned.json().headers['x-gray-lane'], 'alpha1');
});

test('ingress-nginx canary: header > cookie > weight, with always and never', async () => {
  const g = await gw(
    spec({
      services: { svc: service({ stable: [prod.url], canary: [beta.url] }) },
      routes: [route({ canary: [{ lane: 'canary', byHeader: 'X-Canary', byCookie: 'canary', weight: 100 }] })],
    }),
  );
  const v = async (headers: Record<string, string>) => (await get(g, '/', headers)).json().version;
  assert.equal(await v({}), 'beta', 'weight 100: everyone not opted out');
  assert.equal(await v({ 'x-canary': 'never' }), 'prod', 'header never beats the weight');
  assert.equal(await v({ 'x-canary': 'never', cookie: 'canary=always' }), 'prod', 'header beats cookie');
  assert.equal(await v({ cookie: 'sid=1; canary=never' }), 'prod', 'cookie never beats the weight');
  assert.equal(await v({ 'x-canary': 'maybe', cookie: 'canary=never' }), 'prod', 'other header values fall to the cookie');

  const g0 = await gw(
    spec({
      services: { svc: service({ stable: [prod.url], canary: [beta.url] }) },
      routes: [route({ canary: [{ lane: 'canary', byHeader: 'x-canary', byCookie: 'canary', weight: 0 }] })],
    }),
  );
  const v0 = async (headers: Record<string, string>) => (await get(g0, '/', headers)).json().version;
  assert.equal(await v0({}), 'prod');
  assert.equal(await v0({ 'x-canary': 'always' }), 'beta');
  assert.equal(await v0({ cookie: 'canary=always' }), 'beta');
  assert.equal(await v0({ 'x-canary': 'always', cookie: 'canary=never' }), 'beta', 'header beats cookie');
  assert.equal(await v0({ 'x-canary': 'other', cookie: 'canary=always' }), 'beta');

  const gv = await gw(
    spec({
      services: { svc: service({ stable: [prod.url], canary: [beta.url] }) },
      routes: [route({ canary: [{ lane: 'canary', byHeader: 'x-region', byHeaderValue: 'eu-west' }] })],
    }),
  );
  assert.equal((await get(gv, '/', { 'x-region': 'eu-west' })).json().version, 'beta');
  assert.equal((await get(gv, '/', { 'x-region': 'us' })).json().version, 'prod');
});

test('an incoming lane header is stripped unless the route trusts lanes; the upstream sees the gateway lane', async () => {
  const s = spec({
    laneAliases: ['x-mse-tag'],
    services: { svc: service({ stable: [prod.url], beta: [beta.url], alpha: [alpha.url] }) },
    routes: [
      route({ name: 'edge', match: { host: 'edge.example.com' }, rules: [{ lane: 'beta', users: ['7'] }] }),
      route({ name: 'inner', match: { host: 'inner.example.com' }, trustLane: true }),
    ],
  });
  const g = await gw(s);
  const forged = await get(g, '/', { host: 'edge.example.com', 'x-gray-lane': 'alpha', 'x-mse-tag': 'alpha', baggage: 'graylane-lane=alpha,k=v' });
  assert.equal(forged.json().version, 'prod');
  assert.equal(forged.json().headers['x-gray-lane'], 'stable');
  assert.equal(forged.json().headers['x-mse-tag'], 'stable');
  assert.equal(forged.json().headers.baggage, 'graylane-lane=stable,k=v', 'the forged baggage lane is replaced by the decided one');
  const marked = await get(g, '/', { host: 'edge.example.com', 'x-user-id': '7', 'x-gray-lane': 'alpha' });
  assert.equal(marked.json().version, 'beta');
  assert.equal(marked.json().headers['x-gray-lane'], 'beta');
  const trusted = await get(g, '/', { host: 'inner.example.com', 'x-gray-lane': 'alpha' });
  assert.equal(trusted.json().version, 'alpha');
  assert.equal(trusted.json().headers['x-gray-lane'], 'alpha');
  const viaAlias = await get(g, '/', { host: 'inner.example.com', 'x-mse-tag': 'beta' });
  assert.equal(viaAlias.json().version, 'beta');
  assert.equal(viaAlias.json().headers['x-gray-lane'], 'beta');
  assert.equal(viaAlias.json().headers['x-mse-tag'], 'beta');
  const viaBaggage = await get(g, '/', { host: 'inner.example.com', baggage: 'graylane-lane=alpha' });
  assert.equal(viaBaggage.json().version, 'alpha');
  assert.equal(viaBaggage.json().headers.baggage, 'graylane-lane=alpha');
});

test('X-Forwarded-For/-Proto/-Host are set, Host is kept, hop-by-hop headers are removed both ways', async () => {
  const hop = await startUpstream('hop', 'hop-1', (req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      connection: 'keep-alive, x-upstream-hop',
      'keep-alive': 'timeout=30',
      'x-upstream-hop': 'secret',
      'x-upstream-end': 'kept',
    });
    res.end(JSON.stringify(req.headers));
    return true;
  });
  upstreams.push(hop);
  const g = await gw(spec({ services: { svc: service({ stable: [hop.url] }) } }));
  // A raw request: HTTP clients (undici included) do not let a caller send their own Connection header.
  const raw = await rawRequest(
    g.address.port,
    'GET /x HTTP/1.1\r\nHost: Shop.Example.com:8443\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n' +
      'Connection: close, X-Client-Hop\r\nX-Client-Hop: secret\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n',
  );
  const seen = JSON.parse(raw.body) as Record<string, string>;
  assert.equal(seen.host, 'Shop.Example.com:8443');
  assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], 'Shop.Example.com:8443');
  for (const h of ['x-client-hop', 'proxy-connection', 'te']) assert.equal(seen[h], undefined, h);
  assert.equal(raw.headers['x-upstream-hop'], undefined);
  assert.equal(raw.headers['x-upstream-end'], 'kept');
  const r = await get(g, '/x');
  assert.notEqual(r.headers['keep-alive'], 'timeout=30', "the upstream's Keep-Alive is not passed on");
});

test('rule header modifiers reach the upstream', async () => {
  const g = await gw(
    spec({
      services: { svc: service({ stable: [prod.url], beta: [beta.url] }) },
      routes: [route({ rules: [{ lane: 'beta', users: ['u1'], headers: { set: { 'x-env': 'gray' }, add: { 'x-tag': 'b' }, remove: ['x-debug'] } }] })],
    }),
  );
  const seen = (await get(g, '/', { 'x-user-id': 'u1', 'x-env': 'prod', 'x-tag': 'a', 'x-debug': '1' })).json().headers;
  assert.equal(seen['x-env'], 'gray');
  assert.equal(seen['x-tag'], 'a, b');
  assert.equal(seen['x-debug'], undefined);
  const other = (await get(g, '/', { 'x-user-id': 'u2', 'x-env': 'prod', 'x-debug': '1' })).json().headers;
  assert.equal(other['x-env'], 'prod');
  assert.equal(other['x-debug'], '1');
});

test('an anonymous visitor gets a visitor-id cookie once and then stays in its lane', async () => {
  let n = 0;
  const g = await gw(
    spec({
      services: { svc: service({ stable: [prod.url], beta: [beta.url] }) },
      routes: [route({ visitorCookie: { name: 'gl_vid', maxAgeMs: 86_400_000 }, rules: [{ lane: 'beta', percent: 50 }] })],
    }),
    { newVisitorId: () => `visitor-${++n}` },
  );
  const lanes = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    const first = await get(g, '/');
    const setCookie = first.headers['set-cookie'];
    assert.equal(setCookie, `gl_vid=visitor-${i + 1}; Path=/; Max-Age=86400; SameSite=Lax; HttpOnly`);
    const cookie = `gl_vid=visitor-${i + 1}`;
    lanes.set(cookie, first.json().version);
    assert.equal(first.json().version, bucketOf('salt-1', `visitor-${i + 1}`) < threshold(50) ? 'beta' : 'prod');
    for (let k = 0; k < 3; k++) {
      const again = await get(g, '/', { cookie });
      assert.equal(again.headers['set-cookie'], undefined, 'issued once');
      assert.equal(again.json().version, first.json().version, 'sticky');
    }
  }
  assert.equal(new Set(lanes.values()).size, 2, 'both lanes got visitors');
});

test('the lane and version are exposed on the response only when exposeLane is on', async () => {
  const on = await gw(spec({ services: { svc: service({ stable: [prod.url] }) } }));
  const r = await get(on, '/');
  assert.equal(r.headers['x-gray-lane'], 'stable');
  assert.equal(r.headers['x-gray-version'], 'stable');
  const off = await gw(spec({ exposeLane: false, services: { svc: service({ stable: [prod.url] }) } }));
  const r2 = await get(off, '/');
  assert.equal(r2.headers['x-gray-lane'], undefined);
  assert.equal(r2.json().headers['x-gray-lane'], 'stable', 'the upstream still gets the lane');
});

test('no matching route is a 404 with a JSON body', async () => {
  const g = await gw(spec({ services: { svc: service({ stable: [prod.url] }) }, routes: [route({ match: { host: 'a.example.com' } })] }));
  const r = await get(g, '/p?q=1', { host: 'b.example.com' });
  assert.equal(r.status, 404);
  assert.deepEqual(r.json(), { error: 'no_route', host: 'b.example.com', path: '/p' });
});

/** Sends `head` on a fresh connection and reads the whole (Connection: close) response. */
async function rawRequest(port: number, head: string): Promise<{ headers: Record<string, string>; body: string }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(head);
  const chunks: Buffer[] = [];
  for await (const c of socket) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, split).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { headers, body };
}

function dechunk(s: string): string {
  let out = '';
  for (let i = 0; ; ) {
    const eol = s.indexOf('\r\n', i);
    const size = parseInt(s.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}

test('the access log has one JSON line per request with protocol, route, lane, rule, version, endpoint, status and duration', async () => {
  const lines: string[] = [];
  const g = await gw(
    spec({
      services: { svc: service({ stable: [prod.url], beta: [beta.url] }) },
      routes: [route({ name: 'shop', match: { pathPrefix: '/shop' }, rules: [{ name: 'testers', lane: 'beta', users: ['t'] }] })],
    }),
    { accessLog: true, accessLogDestination: { write: (line: string) => void lines.push(line) } },
  );
  await get(g, '/shop/cart?x=1', { 'x-user-id': 't' });
  await get(g, '/elsewhere');
  await until('two access log lines', () => lines.length === 2, 5000);
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(typeof first!.ms, 'number');
  assert.equal(typeof first!.time, 'number');
  assert.deepEqual(
    { ...first, ms: 0, time: 0 },
    { level: 30, time: 0, method: 'GET', protocol: 'HTTP/1.1', path: '/shop/cart?x=1', route: 'shop', lane: 'beta', by: 'testers', version: 'beta', endpoint: beta.url, status: 200, ms: 0 },
  );
  assert.equal(second!.status, 404);
  assert.equal(second!.route, '');
});
