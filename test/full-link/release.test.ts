/**
 * A release of lane `gray` across a three-service chain, every piece real: graylane (entry, mesh,
 * admin API, registry, controller) and six service processes with the lanes SDK calling each other
 * through the mesh listener:
 *
 *   entry route `shop` -> a -> mesh /b -> b -> mesh /c -> c        (each with stable and gray)
 *
 * Released step by step (shares measured at each step against the exact bucket sets), a fault
 * injected in the last service (c-gray killed with SIGKILL) aborts the whole release within the
 * analysis interval, a retry runs to completion (every service's gray becomes its stable), and
 * undo puts every previous stable back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf, threshold } from '../../src/routing/hash.js';
import { call, pathOf, startGraylane, startInstance, stopInstance, TOKEN, type Graylane, type Hop, type Instance } from './helpers.js';
import { sleep, until } from '../support/wait.js';

const SALT = 'chain-gray-salt';
const INTERVAL_MS = 400;
const CONFIG = `
mesh: { listen: 127.0.0.1:0 }
services:
  a: { versions: { stable: [], gray: [] } }
  b: { versions: { stable: [], gray: [] } }
  c: { versions: { stable: [], gray: [] } }
routes:
  - name: shop
    match: { pathPrefix: / }
    service: a
    identity: [header:x-user-id]
    rules:
      - { name: testers, lane: gray, users: ["tester"] }
releases:
  chain-gray:
    lane: gray
    services: [a, b, c]
    entry: { route: shop }
    salt: ${SALT}
    steps:
      - setWeight: 10
      - pause: {}
      - setWeight: 40
      - pause: {}
    analysis: { templates: [error-rate] }
    rollbackWindow: 10m
analysisTemplates:
  error-rate:
    interval: ${INTERVAL_MS}ms
    failureCondition: result > 0.2
    provider: { builtin: { metric: errorRate, window: 1s, minRequests: 0 } }
`;

const USERS = Array.from({ length: 120 }, (_, i) => `user-${i}`);
const GRAY = ['a-gray', 'b-gray', 'c-gray'];
const STABLE = ['a-stable', 'b-stable', 'c-stable'];

let gl: Graylane;
const running: Instance[] = [];

before(async () => {
  gl = await startGraylane(CONFIG);
  running.push(
    ...(await Promise.all([
      startInstance(gl, 'a-stable', { next: `${gl.mesh}/b/hop` }),
      startInstance(gl, 'a-gray', { next: `${gl.mesh}/b/hop` }),
      startInstance(gl, 'b-stable', { next: `${gl.mesh}/c/hop` }),
      startInstance(gl, 'b-gray', { next: `${gl.mesh}/c/hop` }),
      startInstance(gl, 'c-stable'),
      startInstance(gl, 'c-gray'),
    ])),
  );
});

after(async () => {
  await Promise.all(running.map((i) => stopInstance(i, 'SIGKILL')));
  await gl.close();
});

async function pathFor(user: string): Promise<string[]> {
  const r = await call(`${gl.entry}/`, { headers: { 'x-user-id': user } });
  assert.equal(r.status, 200, r.text);
  try {
    return pathOf(r.json<Hop>());
  } catch (e) {
    throw new Error(`${user}: unexpected answer ${r.text}`, { cause: e });
  }
}

interface ReleaseReply {
  phase: string;
  reason: string;
  message: string;
  share: number;
  currentStep: number | null;
  attempt: number;
  services: { name: string; state: string }[];
  events: { reason: string; message: string }[];
}

async function release(): Promise<ReleaseReply> {
  const r = await call(`${gl.admin}/api/v1/releases/chain-gray?events=50`);
  assert.equal(r.status, 200, r.text);
  return r.json<ReleaseReply>();
}

async function waitFor(what: string, cond: (v: ReleaseReply) => boolean, ms = 10_000): Promise<ReleaseReply> {
  let last: ReleaseReply | undefined;
  await until(what, async () => cond((last = await release())), ms).catch((e: Error) => {
    throw new Error(`${e.message}; last: ${last?.phase}/${last?.reason} step ${last?.currentStep}: ${last?.message}`);
  });
  return last!;
}

async function command(verb: string): Promise<ReleaseReply & { status: number }> {
  const r = await call(`${gl.admin}/api/v1/releases/chain-gray/${verb}`, { method: 'POST', body: {}, token: TOKEN });
  return { ...r.json<ReleaseReply>(), status: r.status };
}

/** Every user's path; asserts each is all-gray or all-stable, and returns the gray set. */
async function grayUsers(): Promise<Set<string>> {
  const gray = new Set<string>();
  for (const u of USERS) {
    const p = await pathFor(u);
    if (p.join() === GRAY.join()) gray.add(u);
    else assert.deepEqual(p, STABLE, `${u}: a user walks the whole chain in one lane`);
  }
  return gray;
}

const expected = (percent: number) => new Set(USERS.filter((u) => bucketOf(SALT, u) < threshold(percent)));

test('released step by step: the lane share at each step is exactly the release bucket set, sticky and growing', async () => {
  let v = await waitFor('step 1 paused at 10%', (x) => x.reason === 'AwaitingPromotion' && x.share === 10);
  assert.deepEqual(v.services.map((s) => `${s.name}:${s.state}`), ['a:follows', 'b:follows', 'c:follows']);
  const at10 = await grayUsers();
  assert.deepEqual(at10, expected(10), 'exactly the users whose release bucket is below 10%');
  console.log(`# share at 10%: ${at10.size}/${USERS.length} users walk a-gray -> b-gray -> c-gray`);
  assert.deepEqual(await pathFor('tester'), GRAY, 'the route rule puts the tester in the lane first');

  assert.equal((await command('promote')).status, 200);
  v = await waitFor('step 3 paused at 40%', (x) => x.reason === 'AwaitingPromotion' && x.share === 40);
  const at40 = await grayUsers();
  assert.deepEqual(at40, expected(40));
  for (const u of at10) assert.ok(at40.has(u), `${u} stays in the lane when the share grows`);
  console.log(`# share at 40%: ${at40.size}/${USERS.length} users`);
});

test('a fault in the last service only aborts the whole release within the analysis interval; every user, rule-put ones included, is back on stable', async () => {
  // Gray users keep calling while c-gray dies (SIGKILL: its registration stays, its connections are refused).
  let stop = false;
  const traffic = (async () => {
    for (let i = 0; !stop && i < 5000; i++) await call(`${gl.entry}/`, { headers: { 'x-user-id': 'tester' } }).catch(() => undefined);
  })();
  const cGray = running.find((i) => i.name === 'c-gray')!;
  const injected = Date.now();
  await stopInstance(cGray, 'SIGKILL');
  const v = await waitFor('the abort', (x) => x.phase === 'Degraded', 10_000);
  const tookMs = Date.now() - injected;
  stop = true;
  await traffic;
  console.log(`# abort ${tookMs} ms after the fault (interval ${INTERVAL_MS} ms, window 1 s)`);
  assert.equal(v.reason, 'AnalysisFailed');
  assert.match(v.message, /error-rate@c/, 'the run names the service whose error rate failed');
  assert.ok(tookMs < 1000 + 3 * INTERVAL_MS, `aborted ${tookMs} ms after the fault`);
  assert.ok(v.events.some((e) => e.reason === 'AnalysisFailed'), 'the abort is in the events');
  assert.deepEqual(v.services.map((s) => s.state), ['withdrawn', 'withdrawn', 'withdrawn']);
  assert.equal((await grayUsers()).size, 0);
  assert.deepEqual(await pathFor('tester'), STABLE, 'the lane is withdrawn everywhere, for rule-put users too');
});

test('retried and promoted to the end, every gray becomes its stable in one commit; undo puts every previous stable back', async () => {
  // The operator replaces the dead c-gray: its registration goes, a new instance registers.
  const dead = running.find((i) => i.name === 'c-gray')!;
  assert.equal((await call(`${gl.admin}/api/v1/instances/${dead.id}`, { method: 'DELETE', token: TOKEN })).status, 204);
  running.push(await startInstance(gl, 'c-gray'));
  // The builtin window (1 s) still holds the fault's errors for a moment: a retry at once would be
  // judged on them (the window is the last second's traffic, not the attempt's). Let it pass.
  await sleep(1200);
  assert.equal((await command('retry')).status, 200);
  await waitFor('attempt 2 at 10%', (x) => x.attempt === 2 && x.reason === 'AwaitingPromotion' && x.share === 10);
  await command('promote');
  await waitFor('attempt 2 at 40%', (x) => x.reason === 'AwaitingPromotion' && x.share === 40);
  await command('promote');
  const done = await waitFor('completed', (x) => x.phase === 'Healthy');
  assert.deepEqual(done.services.map((s) => s.state), ['promoted', 'promoted', 'promoted']);
  const completions = done.events.filter((e) => e.reason === 'Completed');
  assert.equal(completions.length, 1, 'one Completed event: one commit');
  // every user now walks the gray versions, in the stable lane
  for (const u of USERS.slice(0, 30)) assert.deepEqual(await pathFor(u), GRAY, u);

  const undone = await command('undo');
  assert.equal(undone.status, 200, JSON.stringify(undone));
  assert.equal(undone.reason, 'Undone');
  for (const u of [...USERS.slice(0, 30), 'tester']) assert.deepEqual(await pathFor(u), STABLE, u);
  const again = await command('undo');
  assert.equal(again.status, 409);
});
