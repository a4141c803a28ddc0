/**
 * The lanes SDK's gRPC side with real @grpc/grpc-js servers and clients on 127.0.0.1: a chain
 * client -> A -> B where A is wrapped by withGrpcLanes and calls B through a client with
 * laneClientInterceptor; B reports what metadata it received and the lane it ran in.
 * The service uses a JSON codec (no .proto needed to test metadata).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { currentLane, runWithLane } from '@graylane/lanes';
import { laneClientInterceptor, withGrpcLanes } from '@graylane/lanes/grpc';

interface Seen {
  lane: string | null;
  baggage: string | null;
  /** The lane B's handler ran in (its own withGrpcLanes). */
  current: string | null;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
/** A service with one method of each kind. */
const Chain = {
  unary: method('/chain.Chain/Unary', false, false),
  serverStream: method('/chain.Chain/ServerStream', false, true),
  clientStream: method('/chain.Chain/ClientStream', true, false),
  bidi: method('/chain.Chain/Bidi', true, true),
} as unknown as grpc.ServiceDefinition;
const ChainClient = grpc.makeGenericClientConstructor(Chain, 'Chain');
type Call = (...a: unknown[]) => unknown;
type Client = grpc.Client & { unary: Call; serverStream: Call; clientStream: Call; bidi: Call };

const servers: grpc.Server[] = [];
const clients: grpc.Client[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
});

async function serve(impl: grpc.UntypedServiceImplementation): Promise<string> {
  const server = new grpc.Server();
  server.addService(Chain, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  servers.push(server);
  return `127.0.0.1:${port}`;
}

function client(address: string, interceptors: grpc.Interceptor[] = []): Client {
  const c = new ChainClient(address, grpc.credentials.createInsecure(), { interceptors }) as unknown as Client;
  clients.push(c);
  return c;
}

function unary(c: Client, req: unknown, metadata = new grpc.Metadata()): Promise<unknown> {
  return new Promise((resolve, reject) => c.unary(req, metadata, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))));
}

const first = (md: grpc.Metadata, key: string): string | null => {
  const v = md.get(key);
  return v.length === 0 ? null : String(v.join(','));
};

let toB: Client;
let toA: Client;
before(async () => {
  // B: reports what it received, in its own lane context (withGrpcLanes reads it back).
  const b = await serve(
    withGrpcLanes({
      unary(call: grpc.ServerUnaryCall<unknown, Seen>, cb: grpc.sendUnaryData<Seen>) {
        cb(null, { lane: first(call.metadata, 'x-gray-lane'), baggage: first(call.metadata, 'baggage'), current: currentLane() ?? null });
      },
    }),
  );
  toB = client(b, [laneClientInterceptor()]);
  // A: each kind of handler calls B, from the handler itself or from the call's stream events.
  const a = await serve(
    withGrpcLanes({
      unary(call: grpc.ServerUnaryCall<{ appLane?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
        const md = new grpc.Metadata();
        if (call.request.appLane !== undefined) md.set('x-gray-lane', call.request.appLane);
        // After an await: the lane survives async hops inside the handler.
        void Promise.resolve().then(() => unary(toB, {}, md).then((seen) => cb(null, seen), (err: Error) => cb(err)));
      },
      serverStream(call: grpc.ServerWritableStream<unknown, unknown>) {
        setTimeout(() => {
          void unary(toB, {}).then((seen) => {
            call.write(seen);
            call.end();
          });
        }, 5);
      },
      clientStream(call: grpc.ServerReadableStream<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
        const calls: Promise<unknown>[] = [];
        // 'data' is emitted by grpc-js outside the handler's context: withGrpcLanes runs it in the lane.
        call.on('data', () => calls.push(unary(toB, {})));
        call.on('end', () => void Promise.all(calls).then((seen) => cb(null, seen)));
      },
      bidi(call: grpc.ServerDuplexStream<unknown, unknown>) {
        const writes: Promise<unknown>[] = [];
        call.on('data', () => writes.push(unary(toB, {}).then((seen) => call.write(seen))));
        call.on('end', () => void Promise.all(writes).then(() => call.end()));
      },
    }),
  );
  toA = client(a);
});

function laneMetadata(lane: string, baggage?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (lane !== '') md.set('x-gray-lane', lane);
  if (baggage !== undefined) md.set('baggage', baggage);
  return md;
}

test('unary chain: B sees the lane A received, as the lane header and the baggage member', async () => {
  const seen = await unary(toA, {}, laneMetadata('beta'));
  assert.deepEqual(seen, { lane: 'beta', baggage: 'graylane-lane=beta', current: 'beta' });
});

test('no lane in, no lane out: nothing is added', async () => {
  const seen = await unary(toA, {}, new grpc.Metadata());
  assert.deepEqual(seen, { lane: null, baggage: null, current: null });
});

test('a lane arriving only in baggage is read from it and travels on', async () => {
  const seen = await unary(toA, {}, laneMetadata('', 'userId=7,graylane-lane=gray-2'));
  assert.deepEqual(seen, { lane: 'gray-2', baggage: 'graylane-lane=gray-2', current: 'gray-2' });
});

test('an invalid lane is ignored (as over HTTP): no lane', async () => {
  const seen = await unary(toA, {}, laneMetadata('bad lane!'));
  assert.deepEqual(seen, { lane: null, baggage: null, current: null });
});

test('the application wins: metadata that names a lane already is sent as it is', async () => {
  const seen = await unary(toA, { appLane: 'alpha' }, laneMetadata('beta'));
  assert.deepEqual(seen, { lane: 'alpha', baggage: null, current: 'alpha' });
});

test('server streaming, client streaming and bidi handlers keep the lane, including in stream events', async () => {
  const serverStream = await new Promise<unknown[]>((resolve, reject) => {
    const out: unknown[] = [];
    const call = toA.serverStream({}, laneMetadata('beta')) as grpc.ClientReadableStream<unknown>;
    call.on('data', (m) => out.push(m));
    call.on('end', () => resolve(out));
    call.on('error', reject);
  });
  assert.deepEqual(serverStream, [{ lane: 'beta', baggage: 'graylane-lane=beta', current: 'beta' }]);

  const clientStream = await new Promise<unknown>((resolve, reject) => {
    const call = toA.clientStream(laneMetadata('beta'), (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))) as grpc.ClientWritableStream<unknown>;
    call.write({});
    call.write({});
    call.end();
  });
  assert.deepEqual(clientStream, Array(2).fill({ lane: 'beta', baggage: 'graylane-lane=beta', current: 'beta' }));

  const bidi = await new Promise<unknown[]>((resolve, reject) => {
    const out: unknown[] = [];
    const call = toA.bidi(laneMetadata('gray')) as grpc.ClientDuplexStream<unknown, unknown>;
    call.on('data', (m) => out.push(m));
    call.on('end', () => resolve(out));
    call.on('error', reject);
    for (let i = 0; i < 3; i++) call.write({});
    call.end();
  });
  assert.deepEqual(bidi, Array(3).fill({ lane: 'gray', baggage: 'graylane-lane=gray', current: 'gray' }));
});

test('the client interceptor alone: a call made in a lane carries it; concurrent calls in different lanes do not mix', async () => {
  const results = await Promise.all(
    ['a1', 'b2', 'c3', 'd4'].map((lane) => runWithLane(lane, () => unary(toB, {}))),
  );
  assert.deepEqual(
    results.map((r) => (r as Seen).lane),
    ['a1', 'b2', 'c3', 'd4'],
  );
});

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;

test('the main entry does not load grpc-js (HTTP-only users need not install it); a CommonJS consumer can require the grpc entry', async () => {
  const esm = await run(
    process.execPath,
    ['--input-type=module', '-e', "import { createRequire } from 'node:module'; await import('@graylane/lanes'); const r = createRequire(process.cwd() + '/x.js'); console.log(Object.keys(r.cache).filter((k) => k.includes('grpc-js')).length)"],
    { cwd: ROOT, timeout: 30_000 },
  );
  assert.equal(esm.stdout.trim(), '0');
  const cjs = await run(
    process.execPath,
    ['-e', "const g = require('@graylane/lanes/grpc'); console.log(typeof g.withGrpcLanes, typeof g.laneClientInterceptor)"],
    { cwd: ROOT, timeout: 30_000 },
  );
  assert.equal(cjs.stdout.trim(), 'function function');
});
