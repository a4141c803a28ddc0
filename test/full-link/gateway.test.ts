/**
 * The gateway's part of full-link gray, over real sockets: the lane merged into W3C baggage (and the
 * client's lane member trusted only where the route trusts lanes), header changes of the marking
 * rule, fail-closed lanes, and the mesh listener (services named by Host or by path prefix, lanes
 * trusted there and only there).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { Gateway } from '../../src/gateway/index.js';
import { compile } from '../../src/routing/index.js';
import type { Spec } from '../../src/spec/types.js';
import { connect, gatewayFor, get, roundTrip, route, service, spec, startEchoServer, startUpstream, type Echo, type EchoServer, type Upstream } from '../gateway/helpers.js';

let aStable: Upstream;
let aGray: Upstream;
let bStable: Upstream;
let sealed: Upstream;
let ws: EchoServer;
let gw: Gateway;

function fullLinkSpec(): Spec {
  return spec({
    laneAliases: ['x-mse-tag'],
    mesh: { listen: '127.0.0.1:0' },
    services: {
      a: service({ stable: [aStable.url], gray: [aGray.url] }),
      b: service({ stable: [bStable.url, ws.url] }),
      // Lane `gray` must never reach the stable data of `vault`.
      vault: service({ stable: [sealed.url] }, { failClosed: ['gray'] }),
    },
    routes: [
      route({
        name: 'edge',
        match: { host: 'edge.example.com' },
        service: 'a',
        rules: [{ name: 'testers', lane: 'gray', users: ['1001'], headers: { set: { 'x-mse-tag': 'gray', 'x-env': 'gray' }, remove: ['x-debug'] } }],
      }),
      route({ name: 'inner', match: { host: 'inner.example.com' }, service: 'a', trustLane: true }),
      route({ name: 'vault', match: { host: 'vault.example.com' }, service: 'vault', rules: [{ lane: 'gray', users: ['1001'] }] }),
    ],
  });
}

before(async () => {
  [aStable, aGray, bStable, sealed] = await Promise.all([
    startUpstream('stable', 'a-stable'),
    startUpstream('gray', 'a-gray'),
    startUpstream('stable', 'b-stable'),
    startUpstream('stable', 'vault-stable'),
  ]);
  ws = await startEchoServer('b-ws');
  gw = await gatewayFor(fullLinkSpec(), { mesh: {} });
});

after(async () => {
  await gw.close({ drainMs: 0 });
  await Promise.all([aStable.close(), aGray.close(), bStable.close(), sealed.close(), ws.close()]);
});

/** A request to the mesh listener. */
async function viaMesh(path: string, headers: Record<string, string> = {}): Promise<{ status: number; echo: Echo; text: string }> {
  const r = await request(`http://127.0.0.1:${gw.meshAddress!.port}${path}`, { headers });
  const text = await r.body.text();
  return { status: r.statusCode, echo: r.statusCode === 200 ? (JSON.parse(text) as Echo) : (undefined as unknown as Echo), text };
}

test('a trusting route: the lane is merged into the client\'s baggage, every other member intact', async () => {
  const r = (await get(gw, '/', { host: 'inner.example.com', 'x-gray-lane': 'gray', baggage: 'userId=7,foo=bar' })).json();
  assert.equal(r.instance, 'a-gray');
  assert.equal(r.headers.baggage, 'userId=7,foo=bar,graylane-lane=gray');
  // The baggage member alone puts a request into a lane where the route trusts lanes.
  const viaBaggage = (await get(gw, '/', { host: 'inner.example.com', baggage: 'userId=7, graylane-lane=gray;ttl=1 ,foo=bar' })).json();
  assert.equal(viaBaggage.instance, 'a-gray');
  assert.equal(viaBaggage.headers.baggage, 'userId=7, graylane-lane=gray ,foo=bar');
  assert.equal(viaBaggage.headers['x-gray-lane'], 'gray');
});

test('an untrusting route: the client\'s lane member is ignored and replaced, the other members are kept', async () => {
  const forged = (await get(gw, '/', { host: 'edge.example.com', baggage: 'userId=7,graylane-lane=gray,foo=bar' })).json();
  assert.equal(forged.instance, 'a-stable');
  assert.equal(forged.headers.baggage, 'userId=7,graylane-lane=stable,foo=bar');
  const plain = (await get(gw, '/', { host: 'edge.example.com' })).json();
  assert.equal(plain.headers.baggage, 'graylane-lane=stable', 'baggage is added for OpenTelemetry-instrumented services');
});

test('the marking rule\'s header changes reach the upstream', async () => {
  const marked = (await get(gw, '/', { host: 'edge.example.com', 'x-user-id': '1001', 'x-debug': '1', 'x-env': 'prod' })).json();
  assert.equal(marked.instance, 'a-gray');
  assert.equal(marked.headers['x-mse-tag'], 'gray');
  assert.equal(marked.headers['x-env'], 'gray', 'set replaces the client\'s value');
  assert.equal(marked.headers['x-debug'], undefined, 'remove drops it');
  assert.equal(marked.headers.baggage, 'graylane-lane=gray');
  const unmarked = (await get(gw, '/', { host: 'edge.example.com', 'x-user-id': '42', 'x-debug': '1' })).json();
  assert.equal(unmarked.headers['x-mse-tag'], 'stable', 'without the rule: the alias carries the lane only');
  assert.equal(unmarked.headers['x-debug'], '1');
});

test('a fail-closed lane without a version of its own is answered 503, never by stable', async () => {
  const before = sealed.received.length;
  const r = await get(gw, '/', { host: 'vault.example.com', 'x-user-id': '1001' });
  assert.equal(r.status, 503);
  assert.equal(r.json<{ error: string; lane: string }>().error, 'no_endpoint');
  assert.equal(r.json<{ lane: string }>().lane, 'gray');
  const mesh = await viaMesh('/vault/secrets', { 'x-gray-lane': 'gray' });
  assert.equal(mesh.status, 503, 'on the mesh as well');
  assert.equal(sealed.received.length, before, 'stable was never called');
  assert.equal((await get(gw, '/', { host: 'vault.example.com', 'x-user-id': '42' })).status, 200, 'other lanes are served');
});

test('mesh: a service named by path prefix gets the path without it, query kept, in the lane carried', async () => {
  const r = await viaMesh('/a/orders/7?expand=items', { 'x-gray-lane': 'gray', baggage: 'userId=7' });
  assert.equal(r.echo.instance, 'a-gray');
  assert.equal(r.echo.url, '/orders/7?expand=items');
  assert.equal(r.echo.headers['x-gray-lane'], 'gray');
  assert.equal(r.echo.headers.baggage, 'userId=7,graylane-lane=gray');
  assert.equal((await viaMesh('/a')).echo.url, '/');
  // b has no gray version: the lane falls back to b's stable, and is passed on unchanged.
  const b = await viaMesh('/b/x', { 'x-gray-lane': 'gray' });
  assert.equal(b.echo.instance, 'b-stable');
  assert.equal(b.echo.headers['x-gray-lane'], 'gray');
  // Baggage alone carries the lane too (an OpenTelemetry-instrumented caller without the SDK).
  assert.equal((await viaMesh('/a/x', { baggage: 'graylane-lane=gray' })).echo.instance, 'a-gray');
  assert.equal((await viaMesh('/a/x')).echo.instance, 'a-stable', 'no lane: the fallback');
});

test('mesh: a service named by Host keeps its path; Host wins over the path', async () => {
  const r = await viaMesh('/b/orders', { host: 'a:8081', 'x-mse-tag': 'gray' });
  assert.equal(r.echo.instance, 'a-gray');
  assert.equal(r.echo.url, '/b/orders', 'named by Host: nothing is stripped');
  assert.equal(r.echo.headers.host, 'a:8081');
});

test('mesh: a request naming no service is 404; entry routes are not reachable there, nor mesh routes at the entry', async () => {
  const none = await viaMesh('/nothing/here', { host: 'edge.example.com' });
  assert.equal(none.status, 404);
  assert.equal(JSON.parse(none.text).error, 'no_route');
  // At the entry, `Host: a` is matched against the declared routes only (none matches it).
  assert.equal((await get(gw, '/a/x', { host: 'a' })).status, 404);
});

test('mesh: a WebSocket upgrade is routed the same way', async () => {
  const only = await gatewayFor(spec({ mesh: { listen: '127.0.0.1:0' }, services: { chat: service({ stable: [ws.url] }) }, routes: [] }), { mesh: {} });
  try {
    const socket = await connect(`ws://127.0.0.1:${only.meshAddress!.port}/chat/socket`);
    assert.equal(await roundTrip(socket, 'hi'), 'b-ws:hi');
    socket.close();
  } finally {
    await only.close({ drainMs: 0 });
  }
});

test('mesh off: a spec without `mesh` compiles no mesh routes, and the gateway opens no mesh listener', async () => {
  const { mesh: _omitted, ...withoutMesh } = fullLinkSpec();
  assert.equal(compile(withoutMesh).mesh, null);
  const plain = await gatewayFor(withoutMesh);
  try {
    assert.equal(plain.meshAddress, null);
  } finally {
    await plain.close({ drainMs: 0 });
  }
});
