/**
 * A gRPC call the gateway fails itself is answered as gRPC does (HTTP 200, grpc-status in a
 * trailers-only response), seen by a real @grpc/grpc-js client; `grpc-timeout` bounds the wait.
 * (gRPC end to end through HTTP/2 upstreams is test/grpc's, with the h2c:// endpoints.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Gateway } from '../../src/gateway/server.js';
import type { Spec } from '../../src/spec/types.js';
import { closedPort, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { gatewayWithH2c, h2connect, h2request, type Listener } from './helpers.js';

const upstreams: Upstream[] = [];
const gateways: Gateway[] = [];
const servers: Array<net.Server | http2.Http2Server> = [];
const clients: grpc.Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(gateways.map((g) => g.close({ drainMs: 100 })));
  await Promise.all(upstreams.map((u) => u.close()));
  for (const s of servers) s.close();
});

async function gw(s: Spec): Promise<{ g: Gateway; h2: Listener }> {
  const both = await gatewayWithH2c(s);
  gateways.push(both.g);
  return both;
}

/** A unary call of `/greet.Greeter/Hello` with raw bytes; resolves with the status it ended with. */
function call(h2: Listener, opts: { deadlineMs?: number; authority?: string } = {}): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(`127.0.0.1:${h2.port}`, grpc.credentials.createInsecure(), {
    ...(opts.authority === undefined ? {} : { 'grpc.default_authority': opts.authority }),
  });
  clients.push(client);
  const identity = (b: Buffer): Buffer => b;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/greet.Greeter/Hello',
      identity,
      identity,
      Buffer.from('hi'),
      new grpc.Metadata(),
      opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs },
      (err) => resolve(err),
    );
  });
}

/**
 * An HTTP/2 endpoint (gRPC calls go only to those) that takes every stream and never answers it.
 * Its streams are closed with the server so that `close()` does not wait on them.
 */
async function silentUpstream(): Promise<string> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', () => {});
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sessions) s.destroy();
    return close(cb);
  }) as typeof server.close;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `h2c://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

test('no route: UNIMPLEMENTED (12), with the reason in grpc-message', async () => {
  const { h2 } = await gw(spec({ routes: [route({ match: { host: 'other.test' } })], services: { svc: service({ stable: ['http://127.0.0.1:1'] }) } }));
  const err = await call(h2, { authority: 'greeter.test' });
  assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
  assert.match(err!.details, /no_route/);
});

test('an upstream that refuses the connection: UNAVAILABLE (14)', async () => {
  const { h2 } = await gw(spec({ services: { svc: service({ stable: [`h2c://127.0.0.1:${await closedPort()}`] }) } }));
  const err = await call(h2);
  assert.equal(err?.code, grpc.status.UNAVAILABLE);
  assert.match(err!.details, /bad_gateway/, 'the gateway said it, not an HTTP 502 grpc-js mapped');
});

test('a fail-closed lane without a version: UNAVAILABLE (14)', async () => {
  const { h2 } = await gw(
    spec({
      services: { svc: service({ stable: ['http://127.0.0.1:1'] }, { failClosed: ['beta'] }) },
      routes: [route({ lane: 'beta' })],
    }),
  );
  const err = await call(h2);
  assert.equal(err?.code, grpc.status.UNAVAILABLE);
  assert.match(err!.details, /no_endpoint/);
});

test('grpc-timeout bounds the wait for the upstream: DEADLINE_EXCEEDED (4) from the gateway, the endpoint not counted down', async () => {
  const silent = await silentUpstream();
  const { g, h2 } = await gw(spec({ services: { svc: service({ stable: [silent] }) } }));
  // A raw HTTP/2 client without a timer of its own: the answer at ~300 ms can only be the gateway's.
  const session = await h2connect(h2.url);
  try {
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      const r = await h2request(session, { ':method': 'POST', ':path': '/greet.Greeter/Hello', 'content-type': 'application/grpc', 'grpc-timeout': '300m', te: 'trailers' }, Buffer.from([0, 0, 0, 0, 0]));
      const ms = performance.now() - started;
      assert.equal(r.status, 200);
      assert.equal(r.headers['grpc-status'], '4', 'trailers-only: grpc-status in the one HEADERS frame');
      assert.equal(r.trailers, null);
      assert.equal(r.body.length, 0);
      assert.ok(ms >= 290 && ms < 3000, `answered after ${ms} ms`);
    }
    // spec() has timeouts.headers 5 s; four client deadlines spent are not the endpoint's failures.
    assert.deepEqual(g.health.entries(), []);
  } finally {
    session.close();
  }
  // grpc-js sees the same status.
  const err = await call(h2, { deadlineMs: 300 });
  assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
});

test('a gRPC call whose upstream times out by the gateway\'s own timeout: DEADLINE_EXCEEDED (4), the endpoint counted', async () => {
  const silent = await silentUpstream();
  const base = spec({ services: { svc: service({ stable: [silent] }) } });
  const { g, h2 } = await gw({ ...base, timeouts: { ...base.timeouts, headersMs: 200 } });
  const session = await h2connect(h2.url);
  try {
    const r = await h2request(session, { ':method': 'POST', ':path': '/greet.Greeter/Hello', 'content-type': 'application/grpc+proto', 'grpc-timeout': '10S' }, Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(r.headers['grpc-status'], '4');
    assert.match(decodeURIComponent(String(r.headers['grpc-message'])), /upstream_timeout/);
    assert.deepEqual(
      g.health.entries().map((e) => [e.origin, e.failures]),
      [[silent, 1]],
      "the timeout is the upstream's: passive health counted it",
    );
  } finally {
    session.close();
  }
});

test('gRPC-Web and plain HTTP/2 requests get the JSON answers', async () => {
  const { h2 } = await gw(spec({ routes: [route({ match: { host: 'other.test' } })], services: { svc: service({ stable: ['http://127.0.0.1:1'] }) } }));
  const session = await h2connect(h2.url);
  try {
    const web = await h2request(session, { ':method': 'POST', ':path': '/greet.Greeter/Hello', 'content-type': 'application/grpc-web+proto' }, Buffer.alloc(5));
    assert.equal(web.status, 404);
    assert.equal(web.json().error, 'no_route');
  } finally {
    session.close();
  }
});


test('no endpoint a gRPC call can use: UNAVAILABLE (14), also where the only endpoints speak HTTP/1.1 (never sent to them)', async () => {
  const http1 = await startUpstream('stable');
  upstreams.push(http1);
  // A service whose versions have only http:// endpoints, then one whose version has none at all.
  for (const versions of [{ stable: [http1.url] }, { stable: [] }]) {
    const { h2 } = await gw(spec({ services: { svc: service(versions) } }));
    const err = await call(h2);
    assert.equal(err?.code, grpc.status.UNAVAILABLE, JSON.stringify(versions));
    assert.match(err!.details, /no_endpoint/);
  }
  assert.equal(http1.received.length, 0, 'the HTTP/1.1 endpoint never saw the call');
});
