/**
 * WebSocket upgrades pass through the gateway to the version the request's lane selects.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { Gateway } from '../../src/gateway/server.js';
import { closedPort, connect, gatewayFor, roundTrip, route, service, spec, startEchoServer } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('a WebSocket echo goes through the gateway to the lane of the request', async () => {
  const stable = await startEchoServer('stable');
  const beta = await startEchoServer('beta');
  const g: Gateway = await gatewayFor(
    spec({
      services: { svc: service({ stable: [stable.url], beta: [beta.url] }) },
      routes: [route({ rules: [{ lane: 'beta', users: ['b'] }] })],
    }),
  );
  cleanup.push(stable.close, beta.close, () => g.close({ drainMs: 100 }));
  const base = `ws://127.0.0.1:${g.address.port}/chat`;

  const inBeta = await connect(base, { 'x-user-id': 'b', 'x-gray-lane': 'stable' });
  assert.equal(await roundTrip(inBeta, 'hello'), 'beta:hello');
  assert.equal(await roundTrip(inBeta, 'again'), 'beta:again');
  const inStable = await connect(`${base}?room=1`);
  assert.equal(await roundTrip(inStable, 'hi'), 'stable:hi');

  const seen = beta.upgrades[0]!;
  assert.equal(seen['x-gray-lane'], 'beta', 'the upstream gets the lane the gateway decided');
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen.upgrade, 'websocket');
  inBeta.close();
  inStable.close();
});

test('an upgrade to an endpoint that refuses the connection gets a 502 with a JSON body', async () => {
  const port = await closedPort();
  const g = await gatewayFor(spec({ services: { svc: service({ stable: [`http://127.0.0.1:${port}`] }) } }));
  cleanup.push(() => g.close({ drainMs: 100 }));
  const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${g.address.port}/`);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    ws.once('open', () => reject(new Error('should not open')));
    ws.on('error', () => {});
  });
  assert.equal(response.status, 502);
  assert.deepEqual(JSON.parse(response.body), { error: 'bad_gateway', route: 'main', version: 'stable', endpoint: `http://127.0.0.1:${port}` });
  assert.equal(g.health.entries()[0]?.failures, 1, 'the refused connect counts against the endpoint');
});
