/**
 * The lanes SDK over real sockets: a node:http service using withLanes() calls a downstream service
 * with fetch, undici and node:http while handling requests in different lanes; the downstream reports
 * the lane each call carried.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http, { get as namedHttpGet } from 'node:http';
import { Agent, fetch as undiciFetch, request as undiciRequest } from 'undici';
import {
  currentLane,
  installLanePropagation,
  runWithLane,
  runWithoutLane,
  withLanes,
  type LanePropagation,
} from '@graylane/lanes';
import { httpJson, listen, startDownstream, type Listening, type Seen } from './helpers.js';
import { sleep, until } from '../support/wait.js';

const originalHttpRequest = http.request;
let down: Awaited<ReturnType<typeof startDownstream>>;
let propagation: LanePropagation;
const cleanup: (() => Promise<void> | void)[] = [];

before(async () => {
  propagation = installLanePropagation();
  down = await startDownstream();
  cleanup.push(down.close);
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function app(handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void): Promise<Listening> {
  const l = await listen(http.createServer(withLanes(handler)));
  cleanup.push(l.close);
  return l;
}

function reply(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const fetchSeen = async (path: string, init?: RequestInit): Promise<Seen> => (await fetch(down.url + path, init)).json() as Promise<Seen>;

test('1,000 interleaved requests in different lanes each keep their own lane, through fetch and http.request', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const service = await app(async (req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const before = currentLane() ?? null;
    await sleep(Math.random() * 4);
    const viaFetch = await fetchSeen('/fetch');
    await sleep(Math.random() * 4);
    const viaHttp = await httpJson<Seen>(`${down.url}/http`);
    // A call made from inside a response callback of an earlier call, on a pooled connection.
    const nested = await new Promise<Seen>((resolve, reject) => {
      http.get(`${down.url}/outer`, (r) => {
        r.resume();
        r.on('end', () => httpJson<Seen>(`${down.url}/nested`).then(resolve, reject));
      });
    });
    inFlight--;
    reply(res, { before, after: currentLane() ?? null, fetch: viaFetch.lane, http: viaHttp.lane, nested: nested.lane });
  });

  // Timer work started outside any request: its calls must never carry a lane, even while the
  // requests below are in flight.
  const tickPaths: string[] = [];
  const ticker = setInterval(() => {
    const path = `/tick${tickPaths.length}`;
    tickPaths.push(path);
    void fetch(down.url + path).then((r) => r.text());
    http.get(down.url + path + 'h', (r) => r.resume());
  }, 2);
  cleanup.push(() => clearInterval(ticker));

  const lanes = ['alpha', 'beta', 'gamma', undefined];
  const client = new Agent({ connections: 250 });
  cleanup.push(() => client.close());
  const results = await Promise.all(
    Array.from({ length: 1000 }, async (_, i) => {
      const lane = lanes[i % lanes.length];
      const res = await undiciRequest(service.url, { dispatcher: client, headers: lane ? { 'x-gray-lane': lane } : {} });
      return { lane: lane ?? null, got: (await res.body.json()) as Record<string, string | null> };
    }),
  );
  clearInterval(ticker);

  for (const { lane, got } of results) {
    assert.deepEqual(got, { before: lane, after: lane, fetch: lane, http: lane, nested: lane });
  }
  assert.ok(maxInFlight > 1, 'the requests interleaved');
  await until('the ticks', () => down.seen.filter((s) => s.path.startsWith('/tick')).length === tickPaths.length * 2);
  const ticks = down.seen.filter((s) => s.path.startsWith('/tick'));
  assert.ok(ticks.length >= 2);
  assert.deepEqual(ticks.filter((s) => s.lane !== null || s.baggage !== null), []);
});

test('a request without a lane on a keep-alive connection does not see the previous request\'s lane', async () => {
  const service = await app(async (_req, res) => {
    await sleep(1);
    reply(res, { lane: currentLane() ?? null, down: (await fetchSeen('/keepalive')).lane });
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanup.push(() => agent.destroy());
  const order = ['beta', undefined, 'alpha', undefined];
  for (const lane of order) {
    const got = await httpJson<{ lane: string | null; down: string | null }>(service.url, {
      agent,
      headers: lane ? { 'x-gray-lane': lane } : {},
    });
    assert.deepEqual(got, { lane: lane ?? null, down: lane ?? null });
  }
});

test('a body read with callbacks keeps the lane in its data and end handlers', async () => {
  const service = await app((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      fetchSeen('/after-body').then(
        (seen) => reply(res, { body, lane: currentLane() ?? null, down: seen.lane }),
        (err: Error) => reply(res, { error: err.message }),
      );
    });
  });
  const body = 'x'.repeat(200_000);
  const got = await httpJson(service.url, { method: 'POST', headers: { 'x-gray-lane': 'beta' } }, body);
  assert.deepEqual(got, { body, lane: 'beta', down: 'beta' });
});

test('every client carries the lane once: global fetch, undici fetch and request, http.get, ESM named get', async () => {
  const service = await app(async (_req, res) => {
    const seen: Record<string, Seen> = {};
    seen.fetch = await fetchSeen('/1');
    seen.undiciFetch = (await (await undiciFetch(`${down.url}/2`)).json()) as Seen;
    seen.undiciRequest = (await (await undiciRequest(`${down.url}/3`)).body.json()) as Seen;
    seen.httpGet = await new Promise((resolve) => {
      http.get(`${down.url}/4`, (r) => {
        let t = '';
        r.on('data', (d: Buffer) => (t += d));
        r.on('end', () => resolve(JSON.parse(t) as Seen));
      });
    });
    seen.namedGet = await new Promise((resolve) => {
      namedHttpGet(`${down.url}/5`, (r) => {
        let t = '';
        r.on('data', (d: Buffer) => (t += d));
        r.on('end', () => resolve(JSON.parse(t) as Seen));
      });
    });
    reply(res, seen);
  });
  const got = await httpJson<Record<string, Seen>>(service.url, { headers: { 'x-gray-lane': 'beta' } });
  assert.deepEqual(Object.keys(got), ['fetch', 'undiciFetch', 'undiciRequest', 'httpGet', 'namedGet']);
  for (const [client, seen] of Object.entries(got)) {
    assert.deepEqual([client, seen.laneLines, seen.baggage], [client, ['beta'], 'graylane-lane=beta']);
  }
});

test('the application wins: explicit lane headers and baggage lanes are left alone, other baggage is merged', async () => {
  const service = await app(async (_req, res) => {
    reply(res, {
      fetchHeader: await fetchSeen('/a', { headers: { 'X-Gray-Lane': 'mine' } }),
      fetchBaggageLane: await fetchSeen('/b', { headers: { baggage: 'u=1, graylane-lane=mine' } }),
      fetchBaggage: await fetchSeen('/c', { headers: { Baggage: 'userId=alice;p=1 ,  k=%20v' } }),
      undiciBaggage: (await (await undiciRequest(`${down.url}/d`, { headers: { baggage: ['a=1', 'b=2'] } })).body.json()) as Seen,
      httpHeader: await httpJson<Seen>(`${down.url}/e`, { headers: { 'x-gray-lane': 'mine' } }),
      httpBaggage: await httpJson<Seen>(`${down.url}/f`, { headers: { baggage: 'k=v;p' } }),
      httpBaggageLane: await httpJson<Seen>(`${down.url}/g`, { headers: { baggage: 'graylane-lane=mine' } }),
    });
  });
  const got = await httpJson<Record<string, Seen>>(service.url, { headers: { 'x-gray-lane': 'beta' } });
  const view = (s: Seen | undefined) => ({ lane: s?.lane, baggage: s?.baggage });
  assert.deepEqual(view(got.fetchHeader), { lane: 'mine', baggage: null });
  assert.deepEqual(view(got.fetchBaggageLane), { lane: null, baggage: 'u=1, graylane-lane=mine' });
  assert.deepEqual(view(got.fetchBaggage), { lane: 'beta', baggage: 'userId=alice;p=1 ,  k=%20v,graylane-lane=beta' });
  assert.deepEqual(view(got.undiciBaggage), { lane: 'beta', baggage: 'a=1,b=2,graylane-lane=beta' });
  assert.deepEqual(view(got.httpHeader), { lane: 'mine', baggage: null });
  assert.deepEqual(view(got.httpBaggage), { lane: 'beta', baggage: 'k=v;p,graylane-lane=beta' });
  assert.deepEqual(view(got.httpBaggageLane), { lane: null, baggage: 'graylane-lane=mine' });
});

test('the lane is read from the lane header, then aliases, then baggage; invalid names are ignored', async () => {
  const l = await listen(
    http.createServer(withLanes((_req, res) => reply(res, { lane: currentLane() ?? null }), { aliases: ['X-Mse-Tag'] })),
  );
  cleanup.push(l.close);
  const cases: [Record<string, string>, string | null][] = [
    [{ 'x-gray-lane': 'beta', 'x-mse-tag': 'alpha', baggage: 'graylane-lane=gamma' }, 'beta'],
    [{ 'x-mse-tag': 'alpha', baggage: 'graylane-lane=gamma' }, 'alpha'],
    [{ baggage: 'a=1, graylane-lane=gamma;p' }, 'gamma'],
    [{ 'x-gray-lane': 'beta, alpha' }, 'beta'],
    [{ 'x-gray-lane': '../etc', 'x-mse-tag': 'alpha' }, 'alpha'],
    [{ 'x-gray-lane': 'beta lane' }, null],
    [{ baggage: 'graylane-lane=a%0Ab' }, null],
    [{ baggage: 'x-graylane-lane=beta' }, null],
    [{}, null],
  ];
  for (const [headers, lane] of cases) {
    assert.deepEqual(await httpJson(l.url, { headers }), { lane }, JSON.stringify(headers));
  }
});

test('timers started in a request inherit its lane; runWithoutLane and runWithLane scope it', async () => {
  const service = await app(async (_req, res) => {
    const fromTimer = await new Promise<Seen>((resolve) => setTimeout(() => void fetchSeen('/timer').then(resolve), 1));
    const detached = await runWithoutLane(() => fetchSeen('/detached'));
    const other = await runWithLane('gamma', () => fetchSeen('/other'));
    reply(res, { fromTimer: fromTimer.lane, detached: detached.lane, other: other.lane, still: currentLane() });
  });
  const got = await httpJson(service.url, { headers: { 'x-gray-lane': 'beta' } });
  assert.deepEqual(got, { fromTimer: 'beta', detached: null, other: 'gamma', still: 'beta' });
});

test('install is idempotent (one header, not two); uninstall stops it; options follow the last install', async () => {
  const service = await app(async (_req, res) => {
    reply(res, { fetch: await fetchSeen('/i'), http: await httpJson<Seen>(`${down.url}/j`) });
  });
  const call = () => httpJson<{ fetch: Seen; http: Seen }>(service.url, { headers: { 'x-gray-lane': 'beta' } });

  const again = installLanePropagation();
  assert.equal(again, propagation);
  let got = await call();
  assert.deepEqual([got.fetch.laneLines, got.http.laneLines], [['beta'], ['beta']]);

  propagation.uninstall();
  propagation.uninstall();
  assert.equal(http.request, originalHttpRequest);
  got = await call();
  assert.deepEqual([got.fetch.lane, got.fetch.baggage, got.http.lane, got.http.baggage], [null, null, null, null]);

  propagation = installLanePropagation({ baggage: false });
  got = await call();
  assert.deepEqual([got.fetch.lane, got.fetch.baggage, got.http.lane, got.http.baggage], ['beta', null, 'beta', null]);
  propagation = installLanePropagation();
});

test('custom lane header: read and written under its own name, aliases count as set by the application', async () => {
  const custom = await startDownstream('x-lane');
  cleanup.push(custom.close);
  installLanePropagation({ header: 'X-Lane', aliases: ['x-mse-tag'] });
  try {
    const l = await listen(
      http.createServer(
        withLanes(
          async (_req, res) => {
            const plain = (await (await fetch(`${custom.url}/p`)).json()) as Seen;
            const aliased = (await (await fetch(`${custom.url}/q`, { headers: { 'x-mse-tag': 'mine' } })).json()) as Seen;
            reply(res, { plain: plain.lane, aliased: aliased.lane });
          },
          { header: 'x-lane' },
        ),
      ),
    );
    cleanup.push(l.close);
    assert.deepEqual(await httpJson(l.url, { headers: { 'x-lane': 'beta' } }), { plain: 'beta', aliased: null });
  } finally {
    installLanePropagation();
  }
});
