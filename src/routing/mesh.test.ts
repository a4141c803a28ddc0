import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from './compile.js';
import { dispatch } from './dispatch.js';
import { stripMeshPrefix } from './mesh.js';
import { allUp, ctx, req, service, spec } from '../../test/support/routing.js';

const meshSpec = () =>
  spec({
    mesh: { listen: '127.0.0.1:8081' },
    services: {
      orders: service({ stable: ['http://127.0.0.1:9001'], gray: ['http://127.0.0.1:9002'] }),
      stock: service({ stable: ['http://127.0.0.1:9101'] }, { failClosed: ['sealed'] }),
      Upper: service({ stable: ['http://127.0.0.1:9201'] }),
    },
    routes: [],
  });

test('mesh off: the snapshot has no mesh table', () => {
  assert.equal(compile(spec()).mesh, null);
});

test('a mesh request names its service by Host first, then by first path segment', () => {
  const mesh = compile(meshSpec()).mesh!;
  const byHost = mesh.match('orders', '/stock/items');
  assert.equal(byHost?.route.name, 'mesh:orders');
  assert.equal(byHost?.strip, 0, 'named by Host: the path is passed on as is');
  const byPath = mesh.match('gateway', '/stock/items');
  assert.equal(byPath?.route.name, 'mesh:stock');
  assert.equal(byPath?.strip, '/stock'.length);
  assert.equal(mesh.match('gateway', '/stock')?.route.name, 'mesh:stock');
  assert.equal(mesh.match('upper', '/')?.route.name, 'mesh:Upper', 'hosts are compared lower-cased');
  assert.equal(mesh.match('gateway', '/Upper/x')?.route.name, 'mesh:Upper', 'paths are case-sensitive');
  assert.equal(mesh.match('gateway', '/upper/x'), undefined);
  assert.equal(mesh.match('gateway', '/stocks/x'), undefined, 'a whole segment, not a prefix');
  assert.equal(mesh.match('gateway', '/'), undefined);
});

test('stripMeshPrefix keeps the query and always leaves a path', () => {
  assert.equal(stripMeshPrefix('/stock/items?x=1', 6), '/items?x=1');
  assert.equal(stripMeshPrefix('/stock', 6), '/');
  assert.equal(stripMeshPrefix('/stock?x=1', 6), '/?x=1');
  assert.equal(stripMeshPrefix('/stock/', 6), '/');
  assert.equal(stripMeshPrefix('/a/b', 0), '/a/b');
  // The service was matched without ;parameters: those of its segment go with it.
  assert.equal(stripMeshPrefix('/stock;v=1/items?x=1', 6), '/items?x=1');
  assert.equal(stripMeshPrefix('/stock;v=1?x=1', 6), '/?x=1');
  assert.equal(stripMeshPrefix('/stock;v=1', 6), '/');
});

test('mesh routes trust the lane the request carries and fall back per service', () => {
  const snap = compile(meshSpec());
  const orders = snap.mesh!.match('orders', '/')!.route;
  const stock = snap.mesh!.match('stock', '/')!.route;
  assert.equal(orders.trustLane, true);
  const gray = orders.mark(req({ 'x-gray-lane': 'gray' }), ctx());
  assert.deepEqual([gray.lane, gray.by], ['gray', 'trusted']);
  assert.equal(dispatch(orders.service, gray.lane, allUp).endpoint?.url, 'http://127.0.0.1:9002');
  const viaBaggage = stock.mark(req({ baggage: 'userId=7,graylane-lane=gray' }), ctx());
  assert.equal(viaBaggage.lane, 'gray');
  const fallback = dispatch(stock.service, viaBaggage.lane, allUp);
  assert.deepEqual([fallback.version, fallback.fellBack], ['stable', true]);
  // failClosed holds on the mesh too: a sealed lane never reaches stock's stable.
  assert.equal(dispatch(stock.service, stock.mark(req({ 'x-gray-lane': 'sealed' }), ctx()).lane, allUp).endpoint, null);
  // No lane: the service's fallback.
  assert.deepEqual(orders.mark(req(), ctx()).lane, 'stable');
});

test('without a lane, a mesh request follows the rollout overlay of its service (split, rules)', () => {
  const snap = compile(meshSpec(), { services: { orders: { split: { gray: 1, stable: 0 } } } });
  const orders = snap.mesh!.match('orders', '/')!.route;
  assert.equal(orders.mark(req(), ctx()).lane, 'gray');
  assert.equal(orders.mark(req({ 'x-gray-lane': 'stable' }), ctx()).lane, 'stable', 'a carried lane wins over the split');
});

test('registered endpoints reach mesh routes: a registered version serves its lane', () => {
  const snap = compile(meshSpec(), { registered: { stock: { gray: ['http://127.0.0.1:9102'] } } });
  const stock = snap.mesh!.match('stock', '/')!.route;
  const target = dispatch(stock.service, 'gray', allUp);
  assert.deepEqual([target.version, target.endpoint?.url, target.fellBack], ['gray', 'http://127.0.0.1:9102', false]);
});
