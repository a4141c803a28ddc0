/**
 * gRPC end to end through graylane (issue 15): a real @grpc/grpc-js greeter in two versions
 * (stable, gray) on h2c:// endpoints, real grpc-js clients on the gateway's h2c listener and on its
 * TLS listener with HTTP/2 by ALPN (a CA made at test time). Unary, server streaming, client
 * streaming and bidi; calls routed by metadata (a header rule on x-user-id) and by user percent
 * (sticky); the version that answered and the lane it was given are in each response; trailers
 * (grpc-status, grpc-message, custom trailing metadata) reach the client as the upstream sent them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type IncomingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { readTlsConfig } from '../../src/gateway/certificates.js';
import { compile } from '../../src/routing/index.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { route, service, spec } from '../gateway/helpers.js';
import { h2connect } from '../http2/helpers.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { makeCa } from '../support/tls.js';
import { definition, greeterClient, LANE_HEADER, metadata, SERVICE, startGreeter, trailersOf, type Greeter, type HelloRequest } from './greeter.js';

let dir: TempDir;
let caPem: string;
let stable: Greeter;
let gray: Greeter;
let gateway: Gateway;
const clients: grpc.Client[] = [];

/** How a client reaches the gateway: the h2c listener, or the TLS one (h2 by ALPN, name `localhost`). */
interface Transport {
  name: string;
  target(): string;
  credentials(): grpc.ChannelCredentials;
  options: grpc.ClientOptions;
  /** URL and options for a raw node:http2 session. */
  raw(): { url: string; opts: http2.SecureClientSessionOptions };
}

const port = (which: 'h2c' | 'tls'): number => gateway.listeners.find((l) => (which === 'h2c' ? l.h2c : l.tls))!.port;

const transports: Transport[] = [
  {
    name: 'h2c',
    target: () => `127.0.0.1:${port('h2c')}`,
    credentials: () => grpc.credentials.createInsecure(),
    options: {},
    raw: () => ({ url: `http://127.0.0.1:${port('h2c')}`, opts: {} }),
  },
  {
    name: 'TLS+h2',
    target: () => `127.0.0.1:${port('tls')}`,
    credentials: () => grpc.credentials.createSsl(Buffer.from(caPem)),
    options: { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' },
    raw: () => ({ url: `https://127.0.0.1:${port('tls')}`, opts: { ca: caPem, servername: 'localhost' } }),
  },
];

before(async () => {
  dir = await tempDir();
  const ca = makeCa(dir.path);
  caPem = ca.pem;
  const leaf = ca.issue('gateway', ['localhost']);
  [stable, gray] = await Promise.all([startGreeter('stable'), startGreeter('gray')]);
  const s = spec({
    services: { svc: service({ stable: [`h2c://127.0.0.1:${stable.port}`], gray: [`h2c://127.0.0.1:${gray.port}`] }) },
    routes: [
      route({
        match: { pathPrefix: `${SERVICE}/` },
        rules: [
          { name: 'testers', lane: 'gray', header: { name: 'x-user-id', equals: '1001' } },
          { name: 'half', lane: 'gray', percent: 50 },
        ],
      }),
    ],
  });
  gateway = await startGateway({
    snapshot: compile(s),
    accessLog: false,
    listeners: [
      { name: 'listen[0]', host: '127.0.0.1', port: 0, h2c: true },
      { name: 'listen[1]', host: '127.0.0.1', port: 0, tls: await readTlsConfig('listen[1]', { certificates: [{ cert: leaf.cert, key: leaf.key }], minVersion: 'TLSv1.2' }), http2: true },
    ],
  });
});

after(async () => {
  for (const c of clients) c.close();
  await gateway.close({ drainMs: 100 });
  await Promise.all([stable.close(), gray.close()]);
  await dir.remove();
});

function clientOf(t: Transport): grpc.Client {
  const c = greeterClient(t.target(), t.credentials(), t.options);
  clients.push(c);
  return c;
}

/** What a call ended with, as the grpc-js client saw it. */
interface Ended<T> {
  value: T;
  /** Initial metadata (response headers). */
  headers: grpc.Metadata;
  status: grpc.StatusObject;
}

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });
const json = <T = Record<string, unknown>>(b: Buffer): T => JSON.parse(b.toString()) as T;

function unary(c: grpc.Client, req: HelloRequest, md: grpc.Metadata): Promise<Ended<Buffer | undefined> & { error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    let value: Buffer | undefined;
    let error: grpc.ServiceError | null = null;
    const call = c.makeUnaryRequest(definition.Hello.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(JSON.stringify(req)), md, deadline(), (err, v) => {
      error = err;
      value = v;
    });
    call.on('metadata', (m) => (headers = m));
    call.on('status', (status) => setImmediate(() => resolve({ value, headers, status, error })));
  });
}

function serverStream(c: grpc.Client, req: HelloRequest, md: grpc.Metadata): Promise<Ended<Buffer[]>> {
  return new Promise((resolve, reject) => {
    const value: Buffer[] = [];
    let headers = new grpc.Metadata();
    const call = c.makeServerStreamRequest(definition.Hellos.path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(JSON.stringify(req)), md, deadline());
    call.on('metadata', (m) => (headers = m));
    call.on('data', (m: Buffer) => value.push(m));
    call.on('error', reject);
    call.on('status', (status) => call.once('end', () => resolve({ value, headers, status })));
  });
}

function clientStream(c: grpc.Client, messages: Buffer[], md: grpc.Metadata): Promise<Ended<Buffer>> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let value: Buffer | undefined;
    const call = c.makeClientStreamRequest(definition.Collect.path, (b: Buffer) => b, (b: Buffer) => b, md, deadline(), (err, v) => (err ? reject(err) : (value = v)));
    call.on('metadata', (m) => (headers = m));
    call.on('status', (status) => setImmediate(() => resolve({ value: value!, headers, status })));
    for (const m of messages) call.write(m);
    call.end();
  });
}

function bidi(c: grpc.Client, messages: Buffer[], md: grpc.Metadata): Promise<Ended<Buffer[]>> {
  return new Promise((resolve, reject) => {
    const value: Buffer[] = [];
    let headers = new grpc.Metadata();
    const call = c.makeBidiStreamRequest(definition.Chat.path, (b: Buffer) => b, (b: Buffer) => b, md, deadline());
    call.on('metadata', (m) => (headers = m));
    call.on('data', (m: Buffer) => value.push(m));
    call.on('error', reject);
    call.on('status', (status) => call.once('end', () => resolve({ value, headers, status })));
    for (const m of messages) call.write(m);
    call.end();
  });
}

const versionOf = (md: grpc.Metadata): string => String(md.get('x-version')[0]);

/** The custom trailing metadata the greeter ends with, as the client sees it. */
function assertTrailers(status: grpc.StatusObject, version: string): void {
  assert.deepEqual(status.metadata.get('x-served-by'), [version]);
  assert.deepEqual(status.metadata.get('x-check-bin'), trailersOf(version).get('x-check-bin'));
}

for (const t of transports) {
  test(`${t.name}: unary, server, client and bidi streaming of a tester (x-user-id 1001) reach gray, in lane gray, with their trailers`, async () => {
    const c = clientOf(t);
    const md = (): grpc.Metadata => metadata({ 'x-user-id': '1001' });
    const u = await unary(c, { name: 'ada' }, md());
    assert.equal(u.error, null);
    assert.deepEqual(json(u.value!), { version: 'gray', lane: 'gray', name: 'ada' });
    assert.equal(versionOf(u.headers), 'gray');
    assert.deepEqual(u.headers.get(LANE_HEADER), ['gray'], 'the lane exposed to the client');
    assert.equal(u.status.code, grpc.status.OK);
    assertTrailers(u.status, 'gray');

    const ss = await serverStream(c, { count: 5, size: 100 }, md());
    assert.equal(ss.value.length, 5);
    assert.ok(ss.value.every((m) => m.equals(Buffer.alloc(100, 'h'))));
    assert.equal(versionOf(ss.headers), 'gray');
    assertTrailers(ss.status, 'gray');

    const cs = await clientStream(c, Array.from({ length: 7 }, (_, i) => Buffer.alloc(10 + i, 'c')), md());
    assert.deepEqual(json(cs.value), { version: 'gray', lane: 'gray', count: 7, bytes: 7 * 10 + 21 });
    assertTrailers(cs.status, 'gray');

    const sent = Array.from({ length: 20 }, (_, i) => Buffer.from(`message ${i}`));
    const bd = await bidi(c, sent, md());
    assert.deepEqual(bd.value.map(String), sent.map(String));
    assert.equal(versionOf(bd.headers), 'gray');
    assertTrailers(bd.status, 'gray');

    // The lane reached the upstream as metadata on every call.
    const lanes = gray.received.slice(-4).map((m) => m.get(LANE_HEADER));
    assert.deepEqual(lanes, [['gray'], ['gray'], ['gray'], ['gray']]);
  });

  test(`${t.name}: a user the percent rule leaves out is stable's, in lane stable, for all four kinds`, async () => {
    const c = clientOf(t);
    // The first of user-0..user-23 answered by stable (the percent test shows each stays put).
    let user = '';
    for (let i = 0; i < 24 && user === ''; i++) {
      const u = await unary(c, {}, metadata({ 'x-user-id': `user-${i}` }));
      if (json<{ version: string }>(u.value!).version === 'stable') user = `user-${i}`;
    }
    assert.notEqual(user, '', 'no stable user among 24 at 50%');
    const md = (): grpc.Metadata => metadata({ 'x-user-id': user });
    const before = stable.received.length;
    const u = await unary(c, { name: 'anon' }, md());
    assert.deepEqual(json(u.value!), { version: 'stable', lane: 'stable', name: 'anon' });
    assertTrailers(u.status, 'stable');
    assert.equal(versionOf((await serverStream(c, { count: 2 }, md())).headers), 'stable');
    assert.equal(json<{ version: string }>((await clientStream(c, [Buffer.from('x')], md())).value).version, 'stable');
    assert.equal(versionOf((await bidi(c, [Buffer.from('x')], md())).headers), 'stable');
    assert.equal(stable.received.length - before, 4);
    assert.deepEqual(stable.received.slice(-4).map((m) => m.get(LANE_HEADER)), [['stable'], ['stable'], ['stable'], ['stable']]);
  });

  test(`${t.name}: by user percent (50): each user always lands on the same version, on new connections too; both versions get users`, async () => {
    const users = Array.from({ length: 24 }, (_, i) => `user-${i}`);
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 3; round++) {
      // A fresh client (and connection) each round: stickiness is the user's, not the connection's.
      const c = clientOf(t);
      for (const user of users) {
        const kind = (round + users.indexOf(user)) % 2;
        const version =
          kind === 0
            ? json<{ version: string }>((await unary(c, {}, metadata({ 'x-user-id': user }))).value!).version
            : versionOf((await bidi(c, [Buffer.from('x')], metadata({ 'x-user-id': user }))).headers);
        seen.set(user, (seen.get(user) ?? new Set()).add(version));
      }
      c.close();
    }
    for (const [user, versions] of seen) assert.equal(versions.size, 1, `${user} answered by ${[...versions].join(' and ')}`);
    const counts = [...seen.values()].map((v) => [...v][0]);
    assert.ok(counts.includes('gray') && counts.includes('stable'), `versions: ${counts.join(',')}`);
  });

  test(`${t.name}: an error status ends the call with the upstream's grpc-status, grpc-message and trailing metadata`, async () => {
    const c = clientOf(t);
    const message = 'not now: 100% ünïcode, "quoted"\tand a tab';
    const u = await unary(c, { fail: { code: grpc.status.FAILED_PRECONDITION, message } }, metadata({ 'x-user-id': '1001' }));
    assert.equal(u.status.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(u.status.details, message);
    assertTrailers(u.status, 'gray');
    // Initial and trailing metadata stay apart, as the upstream sent them.
    assert.equal(versionOf(u.headers), 'gray');
    assert.deepEqual(u.headers.get('x-served-by'), [], 'trailing metadata not in the initial metadata');
    assert.deepEqual(u.status.metadata.get('x-version'), [], 'initial metadata not in the trailers');
  });

  test(`${t.name}: trailers through the gateway are byte-identical to the upstream's (raw HTTP/2, OK and error)`, async () => {
    for (const req of [{ name: 'x' }, { fail: { code: grpc.status.RESOURCE_EXHAUSTED, message: 'quota: 5% left / ünïcode\u{1F600}' } }] satisfies HelloRequest[]) {
      const direct = await rawHello(`http://127.0.0.1:${gray.port}`, {}, req);
      const via = await rawHello(t.raw().url, t.raw().opts, req);
      assert.ok(direct.trailers, 'the upstream sent trailers');
      assert.deepEqual(via.trailers, direct.trailers);
      assert.equal(via.headers['grpc-status'], undefined, 'no status in the head: the trailers were not folded in');
      assert.ok(via.body.equals(direct.body), 'the same message bytes');
    }
  });
}

/** One Hello over a raw node:http2 session as user 1001 (lane gray): the trailers and body as they came. */
async function rawHello(url: string, opts: http2.SecureClientSessionOptions, req: HelloRequest): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders | null; body: Buffer }> {
  const session = await h2connect(url, opts);
  try {
    const json = Buffer.from(JSON.stringify(req));
    const frame = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), json]);
    frame.writeUInt32BE(json.length, 1);
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': definition.Hello.path, 'content-type': 'application/grpc', te: 'trailers', 'x-user-id': '1001', [LANE_HEADER]: 'gray' });
      let trailers: IncomingHttpHeaders | null = null;
      let headers: IncomingHttpHeaders = {};
      stream.on('response', (h) => (headers = h));
      const chunks: Buffer[] = [];
      stream.on('trailers', (tr) => (trailers = tr));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('error', reject);
      stream.once('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
      stream.end(frame);
    });
  } finally {
    session.close();
  }
}
