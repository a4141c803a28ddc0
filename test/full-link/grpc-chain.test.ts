/**
 * The full-link chain with a gRPC hop, as examples/full-link runs it, every piece real: graylane
 * (entry listener, a mesh listener speaking h2c, admin API, registry) and service processes using
 * the lanes SDK, which register themselves:
 *
 *   entry -> a (HTTP; stable, gray) -> mesh /b with fetch (HTTP/1.1 on the h2c mesh) -> b (HTTP; stable)
 *            -> mesh, gRPC call with :authority c -> c (gRPC; stable, gray)
 *
 * b calls c with a grpc-js client carrying laneClientInterceptor; c reads the lane with
 * withGrpcLanes. Paths are read from what the instances answer (b reports c's gRPC reply).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chainConfig, hopsFor, pathOf, startGraylane, startInstance, stopInstance, type Graylane, type Instance } from './helpers.js';

const CONFIG = chainConfig('{ listen: { address: 127.0.0.1:0, h2c: true } }');

let gl: Graylane;
const running: Instance[] = [];

before(async () => {
  gl = await startGraylane(CONFIG);
  const mesh = new URL(gl.mesh).host;
  running.push(
    ...(await Promise.all([
      startInstance(gl, 'a-stable', { next: `http://${mesh}/b/hop` }),
      startInstance(gl, 'a-gray', { next: `http://${mesh}/b/hop` }),
      startInstance(gl, 'b-stable', { next: `grpc://${mesh}/c` }),
      startInstance(gl, 'c-stable', { grpc: true }),
    ])),
  );
});

after(async () => {
  await Promise.all(running.map((i) => stopInstance(i, 'SIGKILL')));
  await gl.close();
});

/** One request through the entry as `user`: the path it took. */
const pathFor = async (user: string): Promise<string[]> => pathOf(await hopsFor(gl, user));

test('gray user: a-gray -> b-stable -> c-gray over gRPC, c saw the lane; other users all stable', async () => {
  const cGray = await startInstance(gl, 'c-gray', { grpc: true });
  running.push(cGray);
  const gray = await hopsFor(gl, '1001');
  assert.deepEqual(pathOf(gray), ['a-gray', 'b-stable', 'c-gray']);
  // The lane crossed b, which has no gray, and went on as gRPC metadata (header and baggage).
  const c = gray.next?.next;
  assert.equal(c?.via, 'gRPC', 'b called c over gRPC');
  assert.deepEqual([gray.lane, gray.next?.lane, c?.lane], ['gray', 'gray', 'gray']);
  assert.equal(c?.baggage, 'graylane-lane=gray');
  for (const user of ['42', '7', '']) {
    const stable = await hopsFor(gl, user);
    assert.deepEqual(pathOf(stable), ['a-stable', 'b-stable', 'c-stable'], `user ${user}`);
    assert.equal(stable.next?.next?.lane, 'stable', `user ${user}: the gRPC hop ran in the lane the entry decided`);
  }
  await stopInstance(cGray);
});

test('c-gray deregisters: the gray user\'s gRPC call falls back to c-stable, keeping its lane; back when it registers', async () => {
  const cGray = await startInstance(gl, 'c-gray', { grpc: true });
  running.push(cGray);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);

  await stopInstance(cGray, 'SIGTERM');
  const fallback = await hopsFor(gl, '1001');
  assert.deepEqual(pathOf(fallback), ['a-gray', 'b-stable', 'c-stable']);
  assert.equal(fallback.next?.next?.lane, 'gray', 'c-stable serves the call in lane gray');
  assert.deepEqual(await pathFor('42'), ['a-stable', 'b-stable', 'c-stable']);

  const again = await startInstance(gl, 'c-gray', { grpc: true });
  running.push(again);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);
  await stopInstance(again);
});

test('a gray version of c with only an http:// endpoint counts as absent for the gRPC call: c-stable answers', async () => {
  // An HTTP instance registered as c's gray: HTTP requests would reach it, a gRPC call must not.
  const httpGray = await startInstance(gl, 'c-gray');
  running.push(httpGray);
  assert.match(httpGray.url, /^http:\/\//);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-stable']);
  await stopInstance(httpGray);
});

test('no instance of c at all: the mesh answers b\'s gRPC call as gRPC does, UNAVAILABLE (14); c back, calls go through', async () => {
  const cStable = running.find((i) => i.name === 'c-stable')!;
  await stopInstance(cStable, 'SIGTERM');
  const failed = await hopsFor(gl, '42');
  assert.deepEqual(pathOf(failed), ['a-stable', 'b-stable', 'gRPC status 14']);
  assert.match(failed.next?.next?.error ?? '', /no_endpoint/, 'the gateway said why');
  const again = await startInstance(gl, 'c-stable', { grpc: true });
  running.push(again);
  assert.deepEqual(await pathFor('42'), ['a-stable', 'b-stable', 'c-stable']);
});
