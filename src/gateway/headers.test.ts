import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientAddress,
  clientResponseHeaders,
  compileModifier,
  upstreamRequestHeaders,
  visitorCookie,
  type ForwardContext,
} from './headers.js';

const ctx = (over: Partial<ForwardContext> = {}): ForwardContext => ({
  laneHeaders: ['x-gray-lane', 'x-mse-tag'],
  lane: 'beta',
  trustLane: false,
  modifier: null,
  clientAddress: '10.1.2.3',
  proto: 'http',
  ...over,
});

/** Flat [name, value...] list -> name -> values. */
function byName(flat: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < flat.length; i += 2) m.set(flat[i]!, [...(m.get(flat[i]!) ?? []), flat[i + 1]!]);
  return m;
}

test('request: hop-by-hop headers and the headers Connection names are dropped', () => {
  const out = byName(
    upstreamRequestHeaders(
      {
        host: 'prod.example.com',
        connection: 'keep-alive, x-secret',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        trailer: 'x-t',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        expect: '100-continue',
        'x-secret': 'hop',
        accept: '*/*',
      },
      ctx(),
    ),
  );
  for (const h of ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'x-secret']) {
    assert.equal(out.has(h), false, h);
  }
  assert.deepEqual(out.get('accept'), ['*/*']);
  assert.deepEqual(out.get('host'), ['prod.example.com'], 'Host is kept as the client sent it');
});

test('request: incoming lane headers and the baggage lane member are replaced by the decided lane, trusted or not', () => {
  const headers = { 'x-gray-lane': 'alpha', 'x-mse-tag': 'alpha', baggage: 'k1=v1,graylane-lane=alpha;p=1, k2=v2' };
  for (const trustLane of [false, true]) {
    const out = byName(upstreamRequestHeaders(headers, ctx({ trustLane })));
    assert.deepEqual(out.get('x-gray-lane'), ['beta']);
    assert.deepEqual(out.get('x-mse-tag'), ['beta']);
    assert.deepEqual(out.get('baggage'), ['k1=v1,graylane-lane=beta, k2=v2'], 'other members byte-for-byte');
  }
  const onlyLane = byName(upstreamRequestHeaders({ baggage: 'graylane-lane=alpha' }, ctx()));
  assert.deepEqual(onlyLane.get('baggage'), ['graylane-lane=beta']);
});

test('request: the lane is merged into baggage, added when there is none, and encoded when it must be', () => {
  assert.deepEqual(byName(upstreamRequestHeaders({ baggage: 'userId=7,foo=bar' }, ctx())).get('baggage'), ['userId=7,foo=bar,graylane-lane=beta']);
  assert.deepEqual(byName(upstreamRequestHeaders({}, ctx())).get('baggage'), ['graylane-lane=beta']);
  assert.deepEqual(byName(upstreamRequestHeaders({}, ctx({ lane: 'a b' }))).get('baggage'), ['graylane-lane=a%20b']);
  // Node keeps repeated baggage lines as one list; a modifier removing baggage drops the client's members only.
  const mod = compileModifier({ remove: ['baggage'] });
  assert.deepEqual(byName(upstreamRequestHeaders({ baggage: 'k=v' }, ctx({ modifier: mod }))).get('baggage'), ['graylane-lane=beta']);
});

test('request: a rule that sets or removes a lane header has the last word on it (written once)', () => {
  const set = upstreamRequestHeaders({}, ctx({ modifier: compileModifier({ set: { 'X-Mse-Tag': 'gray' } }) }));
  assert.deepEqual(byName(set).get('x-mse-tag'), ['gray']);
  assert.deepEqual(byName(set).get('x-gray-lane'), ['beta']);
  const removed = upstreamRequestHeaders({}, ctx({ modifier: compileModifier({ remove: ['x-mse-tag'] }) }));
  assert.equal(byName(removed).has('x-mse-tag'), false);
});

test('request: X-Forwarded-For is appended to, -Proto and -Host are set', () => {
  const out = byName(
    upstreamRequestHeaders(
      { host: 'Shop.Example.com:8080', 'x-forwarded-for': '1.1.1.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil' },
      ctx(),
    ),
  );
  assert.deepEqual(out.get('x-forwarded-for'), ['1.1.1.1, 10.1.2.3']);
  assert.deepEqual(out.get('x-forwarded-proto'), ['http']);
  assert.deepEqual(out.get('x-forwarded-host'), ['Shop.Example.com:8080']);
  const fresh = byName(upstreamRequestHeaders({}, ctx()));
  assert.deepEqual(fresh.get('x-forwarded-for'), ['10.1.2.3']);
});

test('request: a rule modifier sets, adds and removes headers', () => {
  const modifier = compileModifier({ set: { 'X-Env': 'gray' }, add: { 'x-tag': 'b' }, remove: ['X-Drop'] });
  const out = byName(
    upstreamRequestHeaders({ 'x-env': 'prod', 'x-tag': 'a', 'x-drop': '1', 'x-keep': 'k' }, ctx({ modifier })),
  );
  assert.deepEqual(out.get('x-env'), ['gray']);
  assert.deepEqual(out.get('x-tag'), ['a', 'b']);
  assert.equal(out.has('x-drop'), false);
  assert.deepEqual(out.get('x-keep'), ['k']);
  assert.equal(compileModifier({ set: {} }) !== compileModifier({ set: {} }), true);
  const mod = { remove: ['a'] };
  assert.equal(compileModifier(mod), compileModifier(mod), 'cached per modifier object');
});

test('request: Upgrade and Connection are left to the request engine (it writes them for an upgrade); the handshake headers pass', () => {
  const out = byName(upstreamRequestHeaders({ connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' }, ctx()));
  assert.equal(out.has('upgrade'), false);
  assert.equal(out.has('connection'), false);
  assert.deepEqual(out.get('sec-websocket-key'), ['k']);
});

test('response: hop-by-hop dropped, lane exposed, visitor cookie appended after upstream cookies, close when draining', () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Hop', 'Keep-Alive', 'timeout=5', 'X-Hop', '1',
    'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Trailer', 'x', 'Upgrade', 'h2c', 'Proxy-Connection', 'x', 'TE', 'x'].map((s) =>
    Buffer.from(s, 'latin1'),
  );
  const cookie = visitorCookie('gl_vid', 'v-1', 86_400_000);
  assert.equal(cookie, 'gl_vid=v-1; Path=/; Max-Age=86400; SameSite=Lax; HttpOnly');
  const out = clientResponseHeaders(raw, 'beta', 'beta', cookie, true);
  assert.deepEqual(out, [
    'Content-Type', 'text/plain',
    'Set-Cookie', 'a=1',
    'x-gray-lane', 'beta',
    'x-gray-version', 'beta',
    'set-cookie', cookie,
    'connection', 'close',
  ]);
  assert.deepEqual(clientResponseHeaders([Buffer.from('X-A'), Buffer.from('é', 'latin1')], null, 'stable', null, false), ['X-A', 'é']);
});

test('response: the fields named by every Connection line are dropped, not only by the last', () => {
  const raw = ['Connection', 'X-First', 'X-First', '1', 'X-Second', '2', 'connection', 'keep-alive, x-second', 'X-Kept', '3'];
  assert.deepEqual(clientResponseHeaders(raw, null, 'stable', null, false), ['X-Kept', '3']);
});

test('client address drops the IPv4-mapped prefix', () => {
  assert.equal(clientAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(clientAddress('::1'), '::1');
  assert.equal(clientAddress(undefined), 'unknown');
});
