/**
 * `graylane serve --workers 2` as real processes on real sockets: one primary (config watch,
 * controller, admin API) and two data-plane workers sharing the listener through node:cluster.
 * Which worker served is read from the opt-in `x-graylane-worker` header (debug.workerHeader), and
 * each worker's process and snapshot from /api/v1/config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { readFileSync } from 'node:fs';
import { TOKEN } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { sleep, until } from '../support/wait.js';
import {
  alive,
  allGone,
  configOf,
  connectionsOnEveryWorker,
  fromEveryWorker,
  metrics,
  metricSum,
  once,
  startPrimary,
  startUpstream,
  stopPrimary,
  writeConfig,
  type Upstream,
} from './helpers.js';

/** Service `web` (stable, canary) behind one route that pins `lane`, on free ports, the worker header on. */
function config(o: { stable: string; canary: string; state: string; lane: string; drain?: string; stableEndpoints?: string; passiveHealth?: string }): string {
  return `listen: 127.0.0.1:0
accessLog: false
drain: ${o.drain ?? '0s'}
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(o.state)} }
debug: { workerHeader: true }
services:
  web:
${o.passiveHealth ?? ''}    versions:
      stable: [${o.stableEndpoints ?? o.stable}]
      canary: [${o.canary}]
routes:
  - service: web
    lane: ${o.lane}
`;
}

async function setup(t: { after(fn: () => Promise<void>): void }, over: { drain?: string; stableEndpoints?: (u: Upstream[]) => string; passiveHealth?: string } = {}) {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const canary = await startUpstream('canary');
  const bad = await startUpstream('stable-bad', { alwaysFail: true });
  const file = dir.file('graylane.yaml');
  const write = (lane: string): string =>
    config({
      stable: stable.url,
      canary: canary.url,
      state: dir.file('state.db'),
      lane,
      ...(over.drain !== undefined ? { drain: over.drain } : {}),
      ...(over.stableEndpoints !== undefined ? { stableEndpoints: over.stableEndpoints([stable, bad]) } : {}),
      ...(over.passiveHealth !== undefined ? { passiveHealth: over.passiveHealth } : {}),
    });
  await writeConfig(file, write('stable'));
  const serve = await startPrimary(file, dir.path, 2);
  const pids = (await configOf(serve.adminUrl)).workers.map((w) => w.pid!);
  const known = new Set(pids);
  t.after(async () => {
    // Workers started since (restarts) are checked too.
    for (const w of await configOf(serve.adminUrl).then((c) => c.workers, () => [])) if (w.pid !== null) known.add(w.pid);
    await stopPrimary(serve, [...known]);
    await Promise.all([stable.close(), canary.close(), bad.close()]);
    await dir.remove();
  });
  return { dir, file, serve, pids, write, stable, canary, bad };
}

test('two workers serve one listener; a reload reaches every worker, a rejected one changes none; /metrics sums every worker', async (t) => {
  const { file, serve, pids, write } = await setup(t);
  assert.equal(pids.length, 2);
  assert.ok(pids.every((p) => p !== serve.child.pid && alive(p)), 'two worker processes besides the primary');
  for (const pid of pids) {
    assert.ok(!readFileSync(`/proc/${pid}/environ`, 'latin1').includes(TOKEN), 'a worker does not get the admin token');
  }

  // Both workers answer on the one address, the stable lane.
  const before = await fromEveryWorker(serve.gatewayUrl, 2);
  assert.deepEqual([...before.keys()].sort(), ['1', '2']);
  for (const answers of before.values()) assert.ok(answers.every((a) => a.status === 200 && a.version === 'stable'));

  // A valid reload: the primary accepts it, then every worker serves it.
  const first = await configOf(serve.adminUrl);
  await writeConfig(file, write('canary'));
  await until('the primary accepts the reload', async () => (await configOf(serve.adminUrl)).reloads === 1);
  const accepted = await configOf(serve.adminUrl);
  assert.notEqual(accepted.snapshotId, first.snapshotId);
  // Within compile time + 50 ms on a quiet machine; this one is shared, so the bound is loose.
  await until('every worker reports the new snapshot', async () => (await configOf(serve.adminUrl)).workers.every((w) => w.snapshotId === accepted.snapshotId), 5000);
  const after = await fromEveryWorker(serve.gatewayUrl, 2);
  for (const [worker, answers] of after) {
    assert.ok(answers.every((a) => a.status === 200 && a.version === 'canary'), `worker ${worker} still serves the old config: ${JSON.stringify(answers)}`);
  }

  // A rejected reload: nothing changes on any worker.
  await writeConfig(file, `${write('stable')}nonsense: [\n`);
  await until('the primary rejects the reload', async () => (await configOf(serve.adminUrl)).lastReloadError !== null);
  const rejected = await configOf(serve.adminUrl);
  assert.equal(rejected.snapshotId, accepted.snapshotId);
  assert.ok(rejected.workers.every((w) => w.snapshotId === accepted.snapshotId));
  const still = await fromEveryWorker(serve.gatewayUrl, 2);
  for (const [worker, answers] of still) assert.ok(answers.every((a) => a.version === 'canary'), `worker ${worker} changed on a rejected reload`);

  // /metrics: the sum of both workers' counts equals what was sent, by version.
  const sent = [...before.values(), ...after.values(), ...still.values()].flat();
  const byVersion = (v: string): number => sent.filter((a) => a.version === v).length;
  let page = '';
  await until(
    '/metrics counts every request sent',
    async () => {
      page = await metrics(serve.adminUrl);
      return metricSum(page, 'graylane_requests_total') === sent.length;
    },
    5000,
  ).catch((e: Error) => assert.fail(`${e.message}: counted ${metricSum(page, 'graylane_requests_total')} of ${sent.length}`));
  assert.equal(metricSum(page, 'graylane_requests_total', 'version="stable"'), byVersion('stable'));
  assert.equal(metricSum(page, 'graylane_requests_total', 'version="canary"'), byVersion('canary'));
  assert.equal(metricSum(page, 'graylane_request_duration_seconds_count'), sent.length);
  assert.equal(metricSum(page, 'graylane_workers'), 2);
  assert.equal(metricSum(page, 'graylane_worker_restarts_total'), 0);
  assert.equal(metricSum(page, 'graylane_config_reloads_total', 'result="ok"'), 1);
  assert.equal(metricSum(page, 'graylane_config_reloads_total', 'result="failed"'), 1);
});

test('kill -9 of a worker under load loses only its own in-flight requests; it is restarted and /metrics counts it', async (t) => {
  const { serve } = await setup(t);
  const conns = await connectionsOnEveryWorker(serve.gatewayUrl, 2, 2);
  t.after(() => Promise.all(conns.map((c) => c.client.destroy())).then(() => undefined));
  const victim = (await configOf(serve.adminUrl)).workers.find((w) => w.slot === 1)!;

  // Slow requests on every connection, both workers; worker 1 is killed while they are in flight.
  const inFlight = conns.map(async (c) => {
    try {
      const res = await c.client.request({ path: '/?delay=1500', method: 'GET' });
      await res.body.dump();
      return { worker: c.worker, status: res.statusCode, served: String(res.headers['x-graylane-worker']) };
    } catch (err) {
      return { worker: c.worker, status: 0, served: '', error: (err as Error).message };
    }
  });
  await sleep(400);
  process.kill(victim.pid!, 'SIGKILL');
  const results = await Promise.all(inFlight);
  for (const r of results) {
    if (r.worker === '1') assert.equal(r.status, 0, `a request in flight on the killed worker cannot be answered: ${JSON.stringify(r)}`);
    else assert.deepEqual([r.status, r.served], [200, '2'], `a request on the other worker is untouched: ${JSON.stringify(r)}`);
  }

  // A new worker 1: another process, serving again.
  await until('worker 1 is started again', async () => {
    const w = (await configOf(serve.adminUrl)).workers.find((x) => x.slot === 1)!;
    return w.pid !== null && w.pid !== victim.pid && w.restarts === 1 && w.snapshotId !== '';
  });
  await fromEveryWorker(serve.gatewayUrl, 2, 1);
  assert.equal(metricSum(await metrics(serve.adminUrl), 'graylane_worker_restarts_total'), 1);
  assert.ok(
    serve.log.some((l) => l.includes('"msg":"worker exited; starting a new one"') && l.includes(`"pid":${victim.pid}`) && l.includes('"signal":"SIGKILL"')),
    'the primary logs the exit',
  );
});

test('SIGTERM drains every worker (in-flight requests finish), then the primary exits 0 and no worker is left', async (t) => {
  const { serve, pids } = await setup(t, { drain: '5s' });
  const conns = await connectionsOnEveryWorker(serve.gatewayUrl, 2, 1);
  t.after(() => Promise.all(conns.map((c) => c.client.destroy())).then(() => undefined));
  const inFlight = conns.map(async (c) => {
    const res = await c.client.request({ path: '/?delay=800', method: 'GET' });
    await res.body.dump();
    return { worker: c.worker, status: res.statusCode, connection: String(res.headers.connection) };
  });
  await sleep(200);
  serve.child.kill('SIGTERM');
  const results = await Promise.all(inFlight);
  for (const r of results) assert.equal(r.status, 200, `worker ${r.worker}: an in-flight request finishes during the drain`);
  assert.ok(results.some((r) => r.worker === '1') && results.some((r) => r.worker === '2'));
  const code = await Promise.race([serve.exited, sleep(10_000).then(() => 'still running')]);
  assert.equal(code, 0);
  await allGone(pids, 5000);
  assert.ok(!serve.log.some((l) => l.includes('starting a new one')), 'no worker is restarted while stopping');
});

test('a primary killed with -9 takes its workers with it: they exit when the IPC channel closes', async (t) => {
  const { serve, pids } = await setup(t);
  assert.ok(pids.every(alive));
  serve.child.kill('SIGKILL');
  await serve.exited;
  await allGone(pids, 5000);
});

test('passive health is per worker: an endpoint ejected by one worker still gets the other worker’s share; /metrics shows it down', async (t) => {
  const { serve, bad } = await setup(t, {
    stableEndpoints: ([good, failing]) => `${good!.url}, ${failing!.url}`,
    passiveHealth: '    passiveHealth: { consecutiveFailures: 2, eject: 1m }\n',
  });
  const conns = await connectionsOnEveryWorker(serve.gatewayUrl, 2, 1);
  t.after(() => Promise.all(conns.map((c) => c.client.destroy())).then(() => undefined));
  const one = conns.find((c) => c.worker === '1')!.client;
  const two = conns.find((c) => c.worker === '2')!.client;
  const statuses = async (client: typeof one, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await client.request({ path: '/', method: 'GET' });
      await res.body.dump();
      out.push(res.statusCode);
    }
    return out;
  };
  // Worker 1: round robin over [good, bad] meets bad twice in 5 requests (and once more in its
  // first, above): ejected there. Then only good answers on worker 1.
  await statuses(one, 5);
  assert.deepEqual(await statuses(one, 6), [200, 200, 200, 200, 200, 200], 'worker 1 ejected the failing endpoint');
  // Worker 2 saw one request (the one that found its worker) and keeps sending bad its share.
  const badBefore = bad.count;
  const onTwo = await statuses(two, 1);
  const onTwoNext = await statuses(two, 1);
  assert.ok([...onTwo, ...onTwoNext].includes(500), `worker 2 has not ejected it: ${[...onTwo, ...onTwoNext]}`);
  assert.ok(bad.count > badBefore);
  await until('/metrics shows the endpoint down (ejected on a worker)', async () => {
    const page = await metrics(serve.adminUrl);
    return metricSum(page, 'graylane_endpoint_up', `endpoint="${bad.url}"`) === 0 && page.includes(`graylane_endpoint_up{service="web",version="stable",endpoint="${bad.url}"} 0`);
  });
});

test('a worker that keeps dying is started again after a growing delay; the other worker is untouched', async (t) => {
  const { serve } = await setup(t);
  const slotOf = async (slot: number): Promise<{ pid: number | null; snapshotId: string; restarts: number }> =>
    (await configOf(serve.adminUrl)).workers.find((w) => w.slot === slot)!;
  const other = (await slotOf(2)).pid;
  let pid = (await slotOf(1)).pid!;
  for (let i = 0; i < 3; i++) {
    process.kill(pid, 'SIGKILL');
    await until(`worker 1 forked again (${i + 1})`, async () => {
      const w = await slotOf(1);
      if (w.pid === null || w.pid === pid) return false;
      pid = w.pid;
      return true;
    });
  }
  const delays = serve.log.filter((l) => l.includes('"msg":"worker exited; starting a new one"')).map((l) => (JSON.parse(l) as { restartInMs: number }).restartInMs);
  assert.deepEqual(delays, [0, 100, 200], 'at once, then doubling while it dies within 10 s of its start');
  await until('worker 1 serves again', async () => (await slotOf(1)).snapshotId !== '');
  assert.equal((await slotOf(1)).restarts, 3);
  assert.equal((await slotOf(2)).pid, other, 'worker 2 kept running');
  await fromEveryWorker(serve.gatewayUrl, 2, 1);
});

test('the mesh and decision listeners are the workers’ too, each on one shared address', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const file = dir.file('graylane.yaml');
  await writeConfig(
    file,
    `${config({ stable: stable.url, canary: stable.url, state: dir.file('state.db'), lane: 'stable' })}mesh: { listen: "127.0.0.1:0" }\ndecide: { listen: "127.0.0.1:0", proxy: traefik }\n`,
  );
  const serve = await startPrimary(file, dir.path, 2);
  const pids = (await configOf(serve.adminUrl)).workers.map((w) => w.pid!);
  t.after(async () => {
    await stopPrimary(serve, pids);
    await stable.close();
    await dir.remove();
  });
  const addressOf = (msg: string): string => {
    const line = serve.log.find((l) => l.includes(`"msg":"${msg}`));
    assert.ok(line, `logged: ${msg}`);
    return `http://${(JSON.parse(line) as { listen: string }).listen}`;
  };
  const mesh = addressOf('mesh listening');
  const decide = addressOf('decision listener listening');
  const meshAnswers = await fromEveryWorker(mesh, 2, 2, { host: 'web' });
  for (const [worker, list] of meshAnswers) assert.ok(list.every((a) => a.status === 200 && a.version === 'stable'), `mesh on worker ${worker}`);
  for (let i = 0; i < 4; i++) {
    const res = await request(`${decide}/`, { headers: { connection: 'close', 'x-forwarded-host': 'shop', 'x-forwarded-uri': '/x' } });
    await res.body.dump();
    assert.deepEqual([res.statusCode, res.headers['x-gray-lane']], [200, 'stable']);
  }
});
