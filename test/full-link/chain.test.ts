/**
 * The full-link chain, every piece real: graylane (entry listener, mesh listener, admin API,
 * registry) and five service processes using the lanes SDK, which register themselves and call the
 * next service through the mesh listener:
 *
 *   entry -> a (stable, gray) -> mesh /b -> b (stable) -> mesh /c -> c (stable, gray)
 *
 * Paths are read from what the instances answer (each reports its name and the next hop's answer).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  call,
  chainConfig,
  hopsFor,
  pathOf,
  startGraylane,
  startInstance,
  stopInstance,
  TOKEN,
  type Graylane,
  type Hop,
  type Instance,
} from './helpers.js';
import { until } from '../support/wait.js';

const CONFIG = chainConfig('{ listen: 127.0.0.1:0 }');

let gl: Graylane;
const running: Instance[] = [];

before(async () => {
  gl = await startGraylane(CONFIG);
  running.push(
    ...(await Promise.all([
      startInstance(gl, 'a-stable', { next: `${gl.mesh}/b/hop` }),
      startInstance(gl, 'a-gray', { next: `${gl.mesh}/b/hop` }),
      startInstance(gl, 'b-stable', { next: `${gl.mesh}/c/hop` }),
      startInstance(gl, 'c-stable'),
    ])),
  );
});

after(async () => {
  await Promise.all(running.map((i) => stopInstance(i, 'SIGKILL')));
  await gl.close();
});

/** One request through the entry as `user`; the path it took. */
const pathFor = async (user: string): Promise<string[]> => pathOf(await hopsFor(gl, user));

async function instanceIds(): Promise<string[]> {
  const r = await call(`${gl.admin}/api/v1/instances`);
  return r.json<{ instances: { id: string }[] }>().instances.map((i) => i.id);
}

test('gray user: a-gray -> b-stable -> c-gray; others all stable; each hop saw the lane', async () => {
  const cGray = await startInstance(gl, 'c-gray');
  running.push(cGray);
  const gray = await call(`${gl.entry}/`, { headers: { 'x-user-id': '1001' } });
  const hop = gray.json<Hop>();
  assert.deepEqual(pathOf(hop), ['a-gray', 'b-stable', 'c-gray']);
  // The lane travelled as header and baggage through every hop, also through b, which has no gray.
  assert.deepEqual([hop.lane, hop.next?.lane, hop.next?.next?.lane], ['gray', 'gray', 'gray']);
  assert.equal(hop.next?.next?.baggage, 'graylane-lane=gray');
  for (const user of ['42', '7', '']) assert.deepEqual(await pathFor(user), ['a-stable', 'b-stable', 'c-stable'], `user ${user}`);
  await stopInstance(cGray);
});

test('c-gray deregisters on SIGTERM: gray goes to c-stable at once; registering again brings it back', async () => {
  const cGray = await startInstance(gl, 'c-gray');
  running.push(cGray);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);

  await stopInstance(cGray, 'SIGTERM');
  assert.equal(await cGray.exited, 'SIGTERM', 'the SDK deregistered, then let the signal end the process');
  assert.ok(!(await instanceIds()).includes(cGray.id));
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-stable']);

  // The registration is in the snapshot when `ready` is printed (the 201 came after the swap).
  const again = await startInstance(gl, 'c-gray');
  running.push(again);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);
  assert.deepEqual(await pathFor('42'), ['a-stable', 'b-stable', 'c-stable']);
  await stopInstance(again);
});

test('c-gray killed without deregistering: gray goes to c-stable once its TTL runs out', async () => {
  const cGray = await startInstance(gl, 'c-gray', { ttlMs: 1_000, heartbeatMs: 200 });
  running.push(cGray);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);

  await stopInstance(cGray, 'SIGKILL');
  // No request is sent to the dead instance meanwhile: the registry alone must notice.
  await until('the TTL of the killed c-gray to run out', async () => !(await instanceIds()).includes(cGray.id));
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-stable']);

  const again = await startInstance(gl, 'c-gray', { ttlMs: 1_000, heartbeatMs: 200 });
  running.push(again);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);
  await stopInstance(again);
});

test('heartbeats keep an instance past its TTL; an operator can remove it through the admin API', async () => {
  const cGray = await startInstance(gl, 'c-gray', { ttlMs: 1_000, heartbeatMs: 200 });
  running.push(cGray);
  const expiry = async () => {
    const r = await call(`${gl.admin}/api/v1/instances`);
    const inst = r.json<{ instances: { id: string; expiresAt: string }[] }>().instances.find((i) => i.id === cGray.id);
    assert.ok(inst !== undefined, 'the instance expired although it heartbeats');
    return Date.parse(inst.expiresAt);
  };
  // Alive until past a whole TTL after its first expiry time: heartbeats renewed it several times.
  const first = await expiry();
  await until('heartbeats to carry the instance past its first expiry', async () => (await expiry()) > first + 1_000);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-gray']);

  // Killed first, so that no heartbeat can register it again between the DELETE and the request.
  await stopInstance(cGray, 'SIGKILL');
  assert.equal((await call(`${gl.admin}/api/v1/instances/${cGray.id}`, { method: 'DELETE', token: TOKEN })).status, 204);
  assert.deepEqual(await pathFor('1001'), ['a-gray', 'b-stable', 'c-stable']);
});
