/**
 * Upstream faults injected for real, each answered the way docs/gateway.md promises: refused or
 * reset before a response -> 502 bad_gateway; no headers within timeouts.headers -> 504
 * upstream_timeout; garbage -> 502; reset mid-body -> the client connection is cut (the only honest
 * signal once headers are out). After each, the gateway serves the next request normally. An endpoint
 * that goes down is ejected, and when it comes back on the same port it is taken back.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { closedPort, gatewayFor, get, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { OK, startFaulty, type Behaviour, type FaultyUpstream } from './helpers.js';
import { until } from '../support/wait.js';

const faulty: FaultyUpstream[] = [];
const gateways: Gateway[] = [];
let healthy: Upstream;
before(async () => {
  healthy = await startUpstream('healthy');
});
after(async () => {
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(faulty.map((u) => u.close()));
  await healthy.close();
});

/** A gateway with route /fault -> `url` and route / -> the healthy upstream. */
async function gatewayWith(url: string, headersMs = 5000): Promise<Gateway> {
  const g = await gatewayFor(
    spec({
      timeouts: { connectMs: 1000, headersMs, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
      services: {
        fault: service({ stable: [url] }, { passiveHealth: { consecutiveFailures: 1000, ejectMs: 10_000 } }),
        ok: service({ stable: [healthy.url] }),
      },
      routes: [route({ name: 'fault', match: { pathPrefix: '/fault' }, service: 'fault' }), route({ name: 'ok', service: 'ok' })],
    }),
  );
  gateways.push(g);
  return g;
}

async function faultyGateway(behaviour: Behaviour, headersMs?: number): Promise<{ g: Gateway; up: FaultyUpstream }> {
  const up = await startFaulty(behaviour);
  faulty.push(up);
  return { g: await gatewayWith(up.url, headersMs), up };
}

async function stillServes(g: Gateway): Promise<void> {
  const r = await get(g, '/');
  assert.equal(r.status, 200);
  assert.equal(r.json().version, 'healthy');
}

test('an upstream that refuses connections: 502 bad_gateway (not a timeout), every time', async () => {
  const g = await gatewayWith(`http://127.0.0.1:${await closedPort()}`);
  for (let i = 0; i < 5; i++) {
    const r = await get(g, '/fault');
    assert.equal(r.status, 502);
    assert.equal(r.json<{ error: string }>().error, 'bad_gateway');
  }
  await stillServes(g);
});

test('an upstream that resets the connection on receiving the request: 502', async () => {
  const { g, up } = await faultyGateway((socket) => socket.resetAndDestroy());
  const r = await get(g, '/fault');
  assert.equal(r.status, 502);
  assert.equal(r.json<{ error: string }>().error, 'bad_gateway');
  assert.equal(up.requests, 1, 'the request did reach it');
  await stillServes(g);
});

test('an upstream that closes the connection without a word: 502', async () => {
  const { g } = await faultyGateway((socket) => socket.end());
  assert.equal((await get(g, '/fault')).status, 502);
  await stillServes(g);
});

test('an upstream that resets mid-response: the client gets the headers and part of the body, then the connection is cut', async () => {
  const { g } = await faultyGateway((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial');
    setTimeout(() => socket.resetAndDestroy(), 50);
  });
  await assert.rejects(get(g, '/fault'), (err: Error & { code?: string }) => {
    assert.match(String(err.code ?? err.message), /UND_ERR_SOCKET|ECONNRESET|terminated|other side closed/i);
    return true;
  });
  await stillServes(g);
});

test('an upstream that accepts and never sends headers: 504 upstream_timeout after timeouts.headers', async () => {
  const { g, up } = await faultyGateway(() => {}, 300);
  const r = await get(g, '/fault');
  assert.equal(r.status, 504);
  assert.equal(r.json<{ error: string }>().error, 'upstream_timeout');
  assert.equal(up.requests, 1);
  await stillServes(g);
});

const GARBAGE: [string, string][] = [
  ['not HTTP at all', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
  ['a bad status line', 'HTTP/1.1 twohundred OK\r\nContent-Length: 0\r\n\r\n'],
  ['a control byte in a header value', 'HTTP/1.1 200 OK\r\nX-Bad: a\u0001b\r\nContent-Length: 2\r\n\r\nok'],
  ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nokxyz'],
  ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['a broken chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n'],
  ['an HTTP/0.9-style bare body', 'hello\n'],
];

for (const [name, bytes] of GARBAGE) {
  test(`an upstream that answers with garbage (${name}): 502 or a cut connection, never a 2xx with it`, async () => {
    const { g } = await faultyGateway((socket) => {
      socket.write(bytes, 'latin1');
      setTimeout(() => socket.destroy(), 50);
    });
    try {
      const r = await get(g, '/fault');
      assert.equal(r.status, 502, `${name}: ${r.status} ${r.text}`);
    } catch (err) {
      // A malformed body after valid headers can only be signalled by cutting the connection.
      assert.match(String((err as { code?: string }).code ?? err), /UND_ERR_SOCKET|ECONNRESET|terminated/i, name);
    }
    await stillServes(g);
  });
}

test('an endpoint that goes down is ejected and, when it comes back on the same port, taken back', async () => {
  let down = await startFaulty(OK);
  const port = down.port;
  const other = await startUpstream('stable', 'other');
  const g = await gatewayFor(
    spec({
      services: { svc: service({ stable: [down.url, other.url] }, { passiveHealth: { consecutiveFailures: 1, ejectMs: 300 } }) },
    }),
  );
  gateways.push(g);
  try {
    for (let i = 0; i < 4; i++) assert.equal((await get(g, '/')).status, 200);
    const servedBefore = down.requests;
    assert.ok(servedBefore > 0);
    await down.close();
    // The first request to the dead endpoint fails (no retry configured) and ejects it.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(g, '/')).status);
    assert.equal(statuses.filter((s) => s === 502).length, 1, `one failure, then ejected: ${statuses}`);
    assert.equal(g.health.isUp(down.origin), false);
    down = await startFaulty(OK, port);
    faulty.push(down);
    // Back after ejectMs: round robin sends it requests again.
    await until('the endpoint back up', () => g.health.isUp(down.origin), 5000);
    for (let i = 0; i < 6; i++) assert.equal((await get(g, '/')).status, 200);
    assert.ok(down.requests > 0, 'the endpoint that came back serves again');
  } finally {
    await other.close();
  }
});

/**
 * Endpoints [dead, good] with `retry`: N requests one after another, the dead endpoint never
 * ejected during the run (consecutiveFailures 1000). Returns the good endpoint's request count.
 */
async function retriedRun(deadUrl: string, on: 'connect-error' | 'reset', n: number): Promise<{ g: Gateway; good: FaultyUpstream }> {
  const good = await startFaulty(OK);
  faulty.push(good);
  const g = await gatewayFor(
    spec({
      services: {
        svc: service({ stable: [deadUrl, good.url] }, { passiveHealth: { consecutiveFailures: 1000, ejectMs: 10_000 }, retry: { attempts: 1, on: [on] } }),
      },
    }),
  );
  gateways.push(g);
  for (let i = 0; i < n; i++) assert.equal((await get(g, `/r${i}`)).status, 200, `request ${i}: served by the retry`);
  return { g, good };
}

// A retry used to be dispatched like a new request: it took the good endpoint's round-robin turn,
// so the next request's first attempt went to the dead one again; every request tried it.
test('retry on connect errors, endpoints [closed port, good]: the closed port is tried by half of the requests, not by every one', async () => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const N = 20;
  const { g, good } = await retriedRun(dead, 'connect-error', N);
  assert.equal(good.requests, N, 'the good endpoint served every request once');
  // Each connect error is one failure in the health table (never ejected here): one per attempt.
  const attempts = g.health.entries().find((e) => e.origin === dead)?.failures ?? 0;
  assert.ok(attempts >= 1 && attempts <= N / 2, `the closed port was tried ${attempts} times for ${N} requests`);
});

test('retry on resets, endpoints [resetting, good]: the resetting endpoint sees half of the requests, not every one', async () => {
  const resetting = await startFaulty((socket) => socket.resetAndDestroy());
  faulty.push(resetting);
  const N = 20;
  const { good } = await retriedRun(resetting.url, 'reset', N);
  assert.equal(good.requests, N, 'the good endpoint served every request once');
  assert.ok(resetting.requests >= 1 && resetting.requests <= N / 2, `the resetting endpoint saw ${resetting.requests} of ${N} requests`);
});
