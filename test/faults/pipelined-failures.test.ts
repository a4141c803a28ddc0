/**
 * Pipelined requests whose upstream fails while an earlier response on the same connection is
 * still being served (issue #19, item 7). The failed request's response waits behind the earlier
 * one without a socket of its own; it must still be answered (502 or 504, in order), and the access
 * log, passive health and the observer (rollout analysis) must see the failure. A client that
 * really leaves makes both 499 and aborts both upstream requests at once.
 *
 * Raw TCP on both sides: the client writes the two requests in one segment.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import type { ResponseObserver } from '../../src/gateway/observer.js';
import { closedPort, gatewayFor, route, service, spec } from '../gateway/helpers.js';
import { accessLogCollector, converse, parseResponses, startRawUpstream, type RawUpstream } from '../security/helpers.js';
import { until } from '../support/wait.js';

const log = accessLogCollector();
const observed: { service: string; status: number }[] = [];
const observer: ResponseObserver = { recordResponse: (service, _version, status) => void observed.push({ service, status }) };
let slow: RawUpstream;
let hang: RawUpstream;
let refusedPort: number;
let g: Gateway;

before(async () => {
  // Sends its headers at once and the body 1.4 s later: the request behind it times out (500 ms)
  // while this response is still being written.
  slow = await startRawUpstream((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
    setTimeout(() => socket.write('slow'), 1400);
  });
  hang = await startRawUpstream(() => {});
  refusedPort = await closedPort();
  const health = { passiveHealth: { consecutiveFailures: 1000, ejectMs: 1000 } };
  g = await gatewayFor(
    spec({
      timeouts: { connectMs: 1000, headersMs: 500, idleMs: 30_000, tunnelIdleMs: 3_600_000 },
      services: {
        slow: service({ stable: [slow.url] }, health),
        refused: service({ stable: [`http://127.0.0.1:${refusedPort}`] }, health),
        hang: service({ stable: [hang.url] }, health),
      },
      routes: ['refused', 'hang', 'slow'].map((name) => route({ name, match: { pathPrefix: `/${name}` }, service: name })),
    }),
    { accessLog: true, accessLogDestination: log, observer },
  );
});
after(async () => {
  await g.close({ drainMs: 100 });
  await slow.close();
  await hang.close();
});

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: gw.test\r\n\r\n`;

async function pipelined(second: string): Promise<{ status: number; body: string }[]> {
  const c = await converse(g.address.port);
  c.write(get('/slow/a') + get(second));
  const text = await c.until((t) => parseResponses(t, false).length >= 2, 5000);
  c.destroy();
  return parseResponses(text, false).map((r) => ({ status: r.status, body: r.body }));
}

test('a pipelined request to a refused upstream behind a slow response gets its 502 after that response, and everyone sees the failure', async () => {
  const responses = await pipelined('/refused/b');
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 502],
  );
  assert.equal(responses[0]!.body, 'slow');
  assert.equal(JSON.parse(responses[1]!.body).error, 'bad_gateway');
  await until('the access log line of /refused/b', () => log.records.some((r) => r.path === '/refused/b'), 5000);
  assert.equal(log.records.find((r) => r.path === '/refused/b')?.status, 502, 'the access log has the real status, not 499');
  assert.equal(log.records.find((r) => r.path === '/slow/a')?.status, 200);
  assert.deepEqual(
    observed.filter((o) => o.service === 'refused').map((o) => o.status),
    [502],
    'the observer (rollout analysis) saw the failure',
  );
  const entry = g.health.entries().find((e) => e.origin === `http://127.0.0.1:${refusedPort}`);
  assert.equal(entry?.failures, 1, 'passive health counted the refused connection');
});

test('a pipelined request whose upstream hangs gets its 504 after the earlier response, in order', async () => {
  const responses = await pipelined('/hang/b');
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 504],
  );
  assert.equal(JSON.parse(responses[1]!.body).error, 'upstream_timeout');
  await until('the access log line of /hang/b', () => log.records.some((r) => r.path === '/hang/b'), 5000);
  assert.equal(log.records.find((r) => r.path === '/hang/b')?.status, 504);
  assert.ok(observed.some((o) => o.service === 'hang' && o.status === 504));
});

test('a client that leaves with two pipelined requests in flight: both are 499 and both upstream requests are aborted at once', async () => {
  const c = await converse(g.address.port);
  // Both to the slow upstream, which never closes a connection itself: only an abort on the
  // client's departure closes them before their bodies complete (1.4 s).
  c.write(get('/slow/left1') + get('/slow/left2'));
  const carrying = (path: string) => slow.received.findIndex((r) => r.includes(path));
  await until('both slow requests at the upstream', () => carrying('/slow/left1') !== -1 && carrying('/slow/left2') !== -1, 5000);
  const [first, second] = [carrying('/slow/left1'), carrying('/slow/left2')];
  c.destroy();
  const left = performance.now();
  await until('both slow upstream connections closed', () => slow.closed[first] === true && slow.closed[second] === true, 3000);
  const waited = performance.now() - left;
  assert.ok(waited < 1000, `upstream requests aborted ${waited} ms after the client left`);
  await until('the access log lines of both slow requests', () => log.records.some((r) => r.path === '/slow/left1') && log.records.some((r) => r.path === '/slow/left2'), 5000);
  assert.equal(log.records.find((r) => r.path === '/slow/left1')?.status, 499);
  assert.equal(log.records.find((r) => r.path === '/slow/left2')?.status, 499, 'the queued one too');
});
