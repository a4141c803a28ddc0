/**
 * graylane's own upstream pool (src/http1/upstream-pool.ts, client-connection.ts) behind the
 * gateway, over real sockets: raw upstreams write exactly the bytes each case is about, raw clients
 * read exactly what the gateway sends. Every gateway here runs with GRAYLANE_UPSTREAM_POOL=graylane
 * (the variable is read when a gateway's PoolSet is made).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PoolSet } from '../../src/gateway/pools.js';
import type { Gateway } from '../../src/gateway/server.js';
import type { RetrySpec, TimeoutsSpec } from '../../src/spec/types.js';
import { raw, startRawUpstream, type RawBehaviour, type RawUpstream } from '../security/helpers.js';
import { until } from '../support/wait.js';
import { gatewayFor, get, route, service, spec } from './helpers.js';

process.env.GRAYLANE_UPSTREAM_POOL = 'graylane';

const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers.reverse()) await c.close();
});

async function upstream(behaviour: RawBehaviour): Promise<RawUpstream> {
  const up = await startRawUpstream(behaviour);
  closers.push(up);
  return up;
}

async function gatewayTo(url: string, opts: { retry?: RetrySpec; timeouts?: Partial<TimeoutsSpec>; connections?: number } = {}): Promise<Gateway> {
  const g = await gatewayFor(
    spec({
      timeouts: { connectMs: 1000, headersMs: 5000, idleMs: 30_000, tunnelIdleMs: 3_600_000, ...opts.timeouts },
      services: { svc: service({ stable: [url] }, { passiveHealth: { consecutiveFailures: 1000, ejectMs: 60_000 }, ...(opts.retry ? { retry: opts.retry } : {}) }) },
    }),
    { connectionsPerOrigin: opts.connections ?? 64 },
  );
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  return g;
}

/** What the upstream received on each connection, as request lines. */
function requestLines(up: RawUpstream): string[][] {
  return up.received.map((r) => r.split('\r\n').filter((l) => /^[A-Z]+ \/\S* HTTP\/1\.1$/.test(l)));
}

const OK: RawBehaviour = (socket, head) => {
  socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${head.startsWith('HEAD') ? '' : 'ok'}`);
};

test('the engine is graylane here: PoolSet made from the environment says so', async () => {
  const pools = new PoolSet({ connectTimeoutMs: 1000 });
  assert.equal(pools.engine, 'graylane');
  await pools.close();
});

test('keep-alive: 20 sequential requests reach the upstream over one connection', async () => {
  const up = await upstream(OK);
  const g = await gatewayTo(up.url);
  for (let i = 0; i < 20; i++) {
    const r = await get(g, `/n/${i}`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
  }
  assert.equal(up.received.length, 1, 'one upstream connection');
  assert.equal(requestLines(up)[0]!.length, 20);
});

test('a response with Content-Length: 0 is complete at its head: answered at once, the connection reused', async () => {
  const up = await upstream((socket) => void socket.write('HTTP/1.1 200 OK\r\nx-version: empty\r\nContent-Length: 0\r\n\r\n'));
  const g = await gatewayTo(up.url);
  for (let i = 0; i < 3; i++) {
    const r = await get(g, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-version'], 'empty');
    assert.equal(r.text, '');
  }
  assert.equal(up.received.length, 1);
});

test('the request head reaches the upstream as one write, with host first and keep-alive', async () => {
  const up = await upstream(OK);
  const g = await gatewayTo(up.url);
  await get(g, '/a?b=1', { 'x-custom': 'v' });
  const head = up.received[0]!;
  assert.match(head, /^GET \/a\?b=1 HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\nconnection: keep-alive\r\n/);
  assert.match(head, /\r\nx-custom: v\r\n/);
  assert.doesNotMatch(head, /content-length|transfer-encoding/i, 'a GET without a body has no framing field');
});

/** Resets the connection when a second request arrives on it: every reuse meets the idle-close race. */
const ONE_PER_CONNECTION: RawBehaviour = (socket, head, n) => {
  if (n === 1) OK(socket, head, n);
  else socket.resetAndDestroy();
};

test('the idle-close race without retry: a request on a dropped kept-alive connection is a 502', async () => {
  const up = await upstream(ONE_PER_CONNECTION);
  const g = await gatewayTo(up.url, { connections: 1 });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await get(g, '/')).status);
  assert.deepEqual(statuses, [200, 502, 200, 502, 200, 502]);
});

test('the idle-close race with retry on reset: every GET succeeds, each reuse sent twice', async () => {
  const up = await upstream(ONE_PER_CONNECTION);
  const g = await gatewayTo(up.url, { connections: 1, retry: { attempts: 1, on: ['reset'] } });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await get(g, '/')).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
  assert.equal(up.received.length, 6, 'each retry went out on a new connection');
  assert.equal(requestLines(up).flat().length, 11, 'the 5 requests after the first were each sent twice');
});

test('the idle-close race with several idle connections: the others idle as long are dropped too, so the retry gets a fresh one', async () => {
  // The upstream's idle timeout (200 ms) fires as a request arrives: it resets any connection that
  // idled that long. Three connections idle together; after 300 ms one request reuses one of them.
  const lastAnswer = new WeakMap<net.Socket, number>();
  const up = await upstream((socket, head, n) => {
    const last = lastAnswer.get(socket);
    if (last !== undefined && performance.now() - last >= 200) return void socket.resetAndDestroy();
    setTimeout(() => {
      OK(socket, head, n);
      lastAnswer.set(socket, performance.now());
    }, 20);
  });
  const g = await gatewayTo(up.url, { retry: { attempts: 1, on: ['reset'] } });
  const first = await Promise.all([get(g, '/1'), get(g, '/2'), get(g, '/3')]);
  assert.deepEqual(first.map((r) => r.status), [200, 200, 200]);
  assert.equal(up.received.length, 3);
  await new Promise((resolve) => setTimeout(resolve, 300));
  // One attempt of retry is enough: the retry does not land on the second stale connection.
  assert.equal((await get(g, '/after')).status, 200);
  assert.equal(up.received.length, 4, 'the retry opened a new connection');
  assert.equal(requestLines(up).flat().length, 5, 'one stale reuse, one retry');
});

test('an upstream that closes right after each response: its FIN drops the idle connection, no request is lost (retry on or off)', async () => {
  const closeAfter: RawBehaviour = (socket, head, n) => {
    OK(socket, head, n);
    socket.end();
  };
  for (const retry of [undefined, { attempts: 1, on: ['reset'] } as RetrySpec]) {
    const up = await upstream(closeAfter);
    const g = await gatewayTo(up.url, { retry });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(g, '/')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200], `retry ${retry ? 'on' : 'off'}`);
    assert.deepEqual(requestLines(up).map((l) => l.length), [1, 1, 1, 1, 1, 1, 1, 1], 'one request per connection, none sent twice');
  }
});

test('a chunked response with extensions and trailers reaches the client whole; the connection is reused', async () => {
  const up = await upstream((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5;ext=1\r\nhello\r\n');
    setTimeout(() => socket.write('6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n'), 20);
  });
  const g = await gatewayTo(up.url);
  for (let i = 0; i < 3; i++) {
    const r = await get(g, '/');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello world');
  }
  assert.equal(up.received.length, 1);
});

test('a close-delimited response is read to the close and passed on whole; the next request opens a new connection', async () => {
  const up = await upstream((socket, head) => {
    socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close:${head.split(' ')[1]}`);
  });
  const g = await gatewayTo(up.url);
  assert.equal((await get(g, '/one')).text, 'until-close:/one');
  assert.equal((await get(g, '/two')).text, 'until-close:/two');
  assert.equal(up.received.length, 2);
});

test('HEAD with a Content-Length: the length is announced, a body sent anyway never reaches anyone, the connection is not reused', async () => {
  const up = await upstream((socket, head) => {
    // A body to HEAD too: an upstream bug that would desynchronise a reused connection.
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n${head.startsWith('HEAD') ? 'HTTP/1.1 666' : 'x'.repeat(12)}`);
  });
  const g = await gatewayTo(up.url);
  const head = await get(g, '/', {}, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '12');
  assert.equal(head.text, '');
  const next = await get(g, '/');
  assert.equal(next.status, 200);
  assert.equal(next.text, 'xxxxxxxxxxxx');
  // As undici: after HEAD, whatever the upstream sends next cannot be framed, so nothing is reused.
  assert.deepEqual(requestLines(up), [['HEAD / HTTP/1.1'], ['GET / HTTP/1.1']]);
});

test('204 and 304 with a body sent anyway: no body reaches the client, and the connection that carried the stray bytes is not reused', async () => {
  for (const status of ['204 No Content', '304 Not Modified']) {
    const up = await upstream((socket, head) => {
      if (head.startsWith('GET /after')) return OK(socket, head, 0);
      socket.write(`HTTP/1.1 ${status}\r\nContent-Length: 5\r\n\r\nSTRAY`);
    });
    const g = await gatewayTo(up.url);
    // Raw, so that a body would be seen: the 304 still announces its representation's length (RFC 9110 §8.6).
    const r = await raw(g, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { waitMs: 300 });
    assert.match(r.text, new RegExp(`^HTTP/1\\.1 ${status}\r\n[^]*\r\n\r\n$`));
    assert.doesNotMatch(r.text, /STRAY/);
    assert.equal((await get(g, '/after')).text, 'ok');
    assert.equal(up.received.length, 2, `${status}: the stray body's connection was dropped`);
  }
});

test('1xx before the final response: 103 Early Hints is passed on, the upstream\'s 100 Continue is not, the 200 follows', async () => {
  const up = await upstream((socket) => {
    socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'), 20);
  });
  const g = await gatewayTo(up.url);
  const r = await raw(g, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 2 });
  assert.match(r.text, /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/style\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/i);
  assert.doesNotMatch(r.text, /100 Continue/);
  assert.ok(r.text.endsWith('done'));
});

test('a body longer than its Content-Length: the client gets exactly the announced bytes, the extra never becomes a response', async () => {
  const up = await upstream((socket, head) => {
    if (head.startsWith('GET /after')) return OK(socket, head, 0);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled');
  });
  const g = await gatewayTo(up.url);
  const r = await raw(g, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 2 });
  assert.equal(r.responses[0]!.body, 'abc');
  assert.equal(r.responses[1]!.body, 'ok');
  assert.doesNotMatch(r.text, /smuggled/);
  assert.equal(up.received.length, 2, 'the connection with extra bytes was closed, not reused');
});

test('malformed responses are 502: garbage, an obs-folded field, a head over 16 KiB', async () => {
  const cases = [
    'NOT HTTP AT ALL\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n',
    `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\nContent-Length: 0\r\n\r\n`,
  ];
  for (const response of cases) {
    const up = await upstream((socket) => void socket.write(response));
    const g = await gatewayTo(up.url);
    const r = await get(g, '/');
    assert.equal(r.status, 502, JSON.stringify(response.slice(0, 40)));
    assert.equal(r.json<{ error: string }>().error, 'bad_gateway');
  }
});

test('an upstream that closes mid-body: the client connection is cut after the bytes that came', async () => {
  const up = await upstream((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
    setTimeout(() => socket.destroy(), 30);
  });
  const g = await gatewayTo(up.url);
  const r = await raw(g, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { waitMs: 3000 });
  assert.ok(r.closedByServer);
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npartial$/);
});

test('an upstream that never answers: 504 after timeouts.headers, and the request is not retried', async () => {
  const up = await upstream(() => {});
  const g = await gatewayTo(up.url, { timeouts: { headersMs: 300 }, retry: { attempts: 2, on: ['reset', 'connect-error'] } });
  const started = performance.now();
  const r = await get(g, '/');
  assert.equal(r.status, 504);
  assert.equal(r.json<{ error: string }>().error, 'upstream_timeout');
  assert.ok(performance.now() - started < 2000);
  assert.equal(up.received.length, 1);
});

test('request bodies: Content-Length streamed as is, chunked re-framed, both read whole by the upstream', async () => {
  const bodies: string[] = [];
  const server = net.createServer((socket) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = text.slice(0, end);
      const body = text.slice(end + 4);
      const cl = /\r\ncontent-length: (\d+)/.exec(head);
      const done = cl !== null ? body.length >= Number(cl[1]) : /\r\ntransfer-encoding: chunked/.test(head) && body.endsWith('0\r\n\r\n');
      if (!done) return;
      bodies.push(`${cl !== null ? 'length' : 'chunked'}:${body}`);
      text = '';
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  const g = await gatewayTo(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const r = await raw(
    g,
    'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n',
    { responses: 2 },
  );
  assert.deepEqual(r.responses.map((x) => x.status), [200, 200]);
  assert.equal(bodies[0], 'length:hello');
  // Chunk boundaries are the gateway's to choose; the extension is dropped (hop-by-hop), the data kept.
  assert.match(bodies[1]!, /^chunked:(?:[0-9a-f]+\r\n[a-e]+\r\n)+0\r\n\r\n$/);
  assert.equal(bodies[1]!.slice(8).replace(/[0-9a-f]+\r\n([a-e]+)\r\n/g, '$1').replace('0\r\n\r\n', ''), 'abcde');
});

test('a slow client: a 64 MiB response is read from the upstream only as fast as the client takes it (bounded memory), then arrives whole', async () => {
  const size = 64 << 20;
  const body = Buffer.alloc(size, 0x61);
  let upstreamSocket: net.Socket | null = null;
  const up = await upstream((socket) => {
    upstreamSocket = socket;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    socket.write(body);
  });
  const g = await gatewayTo(up.url);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const client = net.connect(g.address.port, '127.0.0.1');
  client.pause();
  client.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
  await until('the upstream is answering', () => upstreamSocket !== null, 5000);
  // The client reads nothing for a while: what has left the upstream is bounded by socket buffers
  // and one read held by the gateway, not by the response's size.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const unsent = upstreamSocket!.writableLength;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  assert.ok(unsent > size - (24 << 20), `the upstream could send only ${((size - unsent) / 2 ** 20).toFixed(1)} MiB of 64 (the gateway paused its read)`);
  assert.ok(rssGrowth < 32 << 20, `RSS grew by ${(rssGrowth / 2 ** 20).toFixed(1)} MiB while the client did not read`);
  // Then the client reads it all.
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    client.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= size) resolve();
    });
    client.on('error', reject);
    client.resume();
  });
  client.destroy();
  assert.ok(received >= size);
});

test('the pool itself: at most `connections` upstream connections, the rest queued and served as connections free up', async () => {
  const up = await upstream((socket, head, n) => void setTimeout(() => OK(socket, head, n), 30));
  const pools = new PoolSet({ connectTimeoutMs: 1000, connections: 2 });
  closers.push(pools);
  const pool = pools.get(`http://127.0.0.1:${up.port}`);
  const texts = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const r = await pool.request({ path: '/', method: 'GET' });
      return r.body.text();
    }),
  );
  assert.deepEqual(texts, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  assert.equal(up.received.length, 2, 'two connections served six requests');
  // Idle connections are reused: one more request opens none.
  const last = requestLines(up).map((l) => l.length);
  await (await pool.request({ path: '/lifo', method: 'GET' })).body.text();
  const grew = requestLines(up).map((l, i) => l.length - last[i]!);
  assert.equal(grew.reduce((a, b) => a + b, 0), 1);
  assert.equal(up.received.length, 2);
});

test('a method that is not a token is refused before a byte is written: it cannot split the request line (undici refused it too)', async () => {
  const up = await upstream(OK);
  const pools = new PoolSet({ connectTimeoutMs: 1000, connections: 1 });
  closers.push(pools);
  const pool = pools.get(`http://127.0.0.1:${up.port}`);
  for (const method of ['GET /admin HTTP/1.1\r\nhost: internal\r\n\r\nGET', 'GET /a', 'GE\0T', '']) {
    await assert.rejects(pool.request({ path: '/x', method: method as 'GET' }), (err: Error & { code?: string }) => err.code === 'UND_ERR_INVALID_ARG', JSON.stringify(method));
  }
  assert.deepEqual(requestLines(up).flat(), [], 'no request line reached the upstream');
  assert.doesNotMatch(up.received.join(''), /admin/);
  // The connection is still good for a valid request.
  assert.equal(await (await pool.request({ path: '/after', method: 'GET' })).body.text(), 'ok');
  assert.deepEqual(requestLines(up).flat(), ['GET /after HTTP/1.1']);
});

test('checkedFields: the fields a caller vouches for are written as given; every field after them is still checked', async () => {
  const up = await upstream(OK);
  const pools = new PoolSet({ connectTimeoutMs: 1000, connections: 1 });
  closers.push(pools);
  const pool = pools.get(`http://127.0.0.1:${up.port}`);
  const opts = (headers: string[], checkedFields: number) => ({ path: '/x', method: 'GET' as const, headers, checkedFields });
  // A bad value after the vouched prefix is refused before a byte is written.
  await assert.rejects(pool.request(opts(['x-a', '1', 'x-b', 'v\r\nx-evil: 1'], 2)), (err: Error & { code?: string }) => err.code === 'UND_ERR_INVALID_ARG');
  await assert.rejects(pool.request(opts(['x-a', '1', 'bad name', 'v'], 2)), (err: Error & { code?: string }) => err.code === 'UND_ERR_INVALID_ARG');
  // Framing fields stay the connection's to write, vouched for or not.
  await assert.rejects(pool.request(opts(['transfer-encoding', 'chunked'], 2)), (err: Error & { code?: string }) => err.code === 'UND_ERR_INVALID_ARG');
  assert.deepEqual(requestLines(up).flat(), [], 'no request reached the upstream');
  assert.equal(await (await pool.request(opts(['x-a', '1', 'x-b', '2'], 2))).body.text(), 'ok');
  assert.match(up.received.join(''), /x-a: 1\r\nx-b: 2\r\n/);
});

test('a rule header modifier is checked on its way upstream: a value with CR LF never splits the request', async () => {
  const up = await upstream(OK);
  const g = await gatewayFor(
    spec({
      services: { svc: service({ stable: [up.url] }) },
      routes: [route({ rules: [{ name: 'inject', lane: 'stable', header: { name: 'x-go', equals: '1' }, headers: { set: { 'x-note': 'a\r\nx-evil: 1' } } }] })],
    }),
  );
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  const res = await raw(g.address.port, 'GET / HTTP/1.1\r\nHost: a\r\nx-go: 1\r\nConnection: close\r\n\r\n');
  assert.match(res.text, /^HTTP\/1\.1 50[02] /);
  assert.doesNotMatch(up.received.join(''), /x-evil/);
  const ok = await raw(g.address.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
});
