/**
 * The keep-alive race: the gateway reuses an idle upstream connection at the moment the upstream
 * closes it. undici does not retry on its own (verified here: without `retry` the reused connection
 * costs the client a 502), so a service can opt in to `retry: { attempts: 1, on: [reset] }`, which
 * sends an idempotent request without a body once more; the client then sees no error. A POST is
 * never retried: it may have been processed.
 *
 * The race is made deterministic by an upstream that serves one request per connection and resets
 * the connection when a second one arrives on it (what a server whose idle timeout fires as the
 * request arrives does, minus the luck). A second test runs the real thing under load: an upstream
 * that closes connections idle for 20 ms without announcing it (no Keep-Alive: timeout hint).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import type { Gateway } from '../../src/gateway/server.js';
import type { RetrySpec } from '../../src/spec/types.js';
import { closedPort, gatewayFor, get, route, service, spec, startUpstream, tally } from '../gateway/helpers.js';
import { OK, startFaulty, type FaultyUpstream } from './helpers.js';
import { sleep } from '../support/wait.js';

const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers) await c.close();
});

/**
 * A gateway in front of `url`. One upstream connection per origin by default: in the deterministic
 * tests every idle connection is a dead one, and the retry must not land on another (with one
 * connection the pool reconnects for it; in the real race other idle connections are alive).
 */
async function gatewayFor1(url: string | string[], retry?: RetrySpec, connectionsPerOrigin = 1): Promise<Gateway> {
  const g = await gatewayFor(
    spec({
      services: { svc: service({ stable: Array.isArray(url) ? url : [url] }, { passiveHealth: { consecutiveFailures: 1000, ejectMs: 60_000 }, ...(retry ? { retry } : {}) }) },
    }),
    { connectionsPerOrigin },
  );
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  return g;
}

async function oneRequestPerConnection(): Promise<FaultyUpstream> {
  const up = await startFaulty((socket, n, head) => {
    if (n === 1) OK(socket, n, head);
    else socket.resetAndDestroy();
  });
  closers.push(up);
  return up;
}

test('without retry, a request on a keep-alive connection the upstream has dropped is a 502 (undici does not retry)', async () => {
  const up = await oneRequestPerConnection();
  const g = await gatewayFor1(up.url);
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await get(g, '/')).status);
  // Each success leaves an idle connection that the next request reuses and loses.
  assert.deepEqual(statuses, [200, 502, 200, 502, 200, 502, 200, 502, 200, 502]);
});

test('with retry on reset, GET, HEAD and OPTIONS on a dropped keep-alive connection all succeed', async () => {
  const up = await oneRequestPerConnection();
  const g = await gatewayFor1(up.url, { attempts: 1, on: ['reset'] });
  const statuses: number[] = [];
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    for (let i = 0; i < 6; i++) statuses.push((await get(g, '/', {}, { method })).status);
  }
  assert.deepEqual(tally(statuses, String), { 200: 18 });
  assert.ok(up.requests > 18, 'some requests were sent twice');
});

test('with retry on reset, a POST on a dropped connection is not retried (it may have been processed) and is answered 502 at once', async () => {
  const up = await oneRequestPerConnection();
  const g = await gatewayFor1(up.url, { attempts: 1, on: ['reset'] });
  assert.equal((await get(g, '/')).status, 200);
  const before = up.requests;
  const r = await get(g, '/', { 'content-type': 'text/plain' }, { method: 'POST', body: 'x' });
  assert.equal(r.status, 502);
  assert.equal(up.requests, before + 1, 'sent once');
});

test('retry on connect-error sends a GET to the other endpoint; a service without retry answers 502', async () => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const alive = await startUpstream('stable', 'alive');
  closers.push(alive);
  const withRetry = await gatewayFor1([dead, alive.url], { attempts: 1, on: ['connect-error'] });
  const without = await gatewayFor1([dead, alive.url]);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 6; i++) {
    a.push((await get(withRetry, '/')).status);
    b.push((await get(without, '/')).status);
  }
  assert.deepEqual(a, [200, 200, 200, 200, 200, 200]);
  assert.deepEqual(tally(b, String), { 200: 3, 502: 3 }, 'round robin over a dead and a live endpoint');
});

test('retry only covers what it is configured for: a reset is not retried under on: [connect-error]', async () => {
  const up = await oneRequestPerConnection();
  const g = await gatewayFor1(up.url, { attempts: 1, on: ['connect-error'] });
  assert.equal((await get(g, '/')).status, 200);
  assert.equal((await get(g, '/')).status, 502);
});

test('under load, an upstream closing idle keep-alive connections after 20 ms: with retry on reset, zero client errors', async () => {
  // Closes a connection idle for 20 ms with a FIN, never announcing the timeout: the real race.
  const up = await startFaulty((socket, n, head) => {
    OK(socket, n, head);
    const s = socket as typeof socket & { idle?: NodeJS.Timeout };
    clearTimeout(s.idle);
    s.idle = setTimeout(() => socket.end(), 20);
  });
  closers.push(up);
  // Two attempts: under this load a retry can itself be handed another pooled connection that the
  // upstream is closing at that instant (seen once in CI: 1 of 800 with one attempt).
  const g = await gatewayFor1(up.url, { attempts: 2, on: ['reset'] }, 64);
  const agent = new Agent({ connections: 8 });
  closers.push(agent);
  const statuses: Record<string, number> = {};
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < 800) {
      sent++;
      try {
        const r = await request(`http://127.0.0.1:${g.address.port}/`, { dispatcher: agent });
        await r.body.dump();
        statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      } catch (err) {
        statuses[String((err as { code?: string }).code)] = (statuses[String((err as { code?: string }).code)] ?? 0) + 1;
      }
      // Spread the requests around the upstream's idle deadline.
      await sleep(Math.floor(Math.random() * 30));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.deepEqual(statuses, { 200: 800 });
  assert.ok(up.connections > 8, `the upstream really closed connections (${up.connections} opened)`);
});
