/**
 * Clustered mode as operators run it: three `graylane serve --store etcd://...` processes (two of
 * them controller candidates) on one real etcd, specs written with the real `graylane apply`, and
 * requests sent to every gateway. A rollout's leading controller is killed with SIGKILL part way
 * through, and a registered instance's process too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, stopInstance, type Graylane } from '../full-link/helpers.js';
import { getRollout, runCli, startUpstream, TOKEN, waitForRollout, writeFile, type Upstream } from '../rollout/helpers.js';
import { etcdForFile, freshPrefix } from './helpers.js';
import { adminGet, adminPost, apply, isLeading, startClusterGateway, versionFor, type ClusterGateway } from './serve-helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

const etcd = etcdForFile();

function spec(stable: Upstream, beta: Upstream, rest: string, extraVersions = ''): string {
  return (
    'accessLog: false\n' +
    'drain: 0s\n' +
    'services:\n' +
    '  web:\n' +
    '    versions:\n' +
    `      stable: [${stable.url}]\n` +
    `      beta: [${beta.url}]\n` +
    extraVersions +
    'routes:\n' +
    '  - service: web\n' +
    '    identity: [header:x-user-id]\n' +
    '    visitorCookie: false\n' +
    rest
  );
}

async function cluster(t: { after(fn: () => Promise<void>): void }, names: { name: string; controller?: boolean }[], betaFailEvery?: number) {
  const server = await etcd();
  const prefix = freshPrefix();
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', betaFailEvery === undefined ? {} : { failEvery: betaFailEvery });
  const gateways: ClusterGateway[] = [];
  t.after(async () => {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL')));
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  for (const n of names) gateways.push(await startClusterGateway({ endpoint: server.endpoint, prefix, name: n.name, cwd: dir.path, ...(n.controller === false ? { controller: false } : {}) }));
  const applyText = async (text: string, file = 'graylane.yaml') => {
    await writeFile(dir.file(file), text);
    return apply(server.endpoint, prefix, dir.file(file));
  };
  return { server, prefix, dir, stable, beta, gateways, applyText };
}

test('three gateways, two controllers: apply routes all three, a changed weight converges, every user gets one lane everywhere', async (t) => {
  const c = await cluster(t, [{ name: 'gw-1' }, { name: 'gw-2' }, { name: 'gw-3', controller: false }]);
  const [g1, g2, g3] = c.gateways as [ClusterGateway, ClusterGateway, ClusterGateway];

  // Given no spec applied yet, every gateway is up and routes nothing
  for (const g of c.gateways) assert.equal(await versionFor(g.gatewayUrl), 'status 404');

  // When a spec is applied with the real CLI
  const v1 = spec(c.stable, c.beta, '    rules:\n      - { lane: beta, percent: 30 }\n');
  const applied = await c.applyText(v1);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /^applied .* \(revision \d+, sha256 [0-9a-f]{12}\)/);

  // Then all three route by it
  for (const g of c.gateways) await until(`${g.name} routes`, async () => (await versionFor(g.gatewayUrl, { 'x-user-id': 'probe' })) !== 'status 404', 5000);

  // And each of 1,000 users gets the same lane from all three, about 30% of them beta
  const lanes = async (g: ClusterGateway) => {
    const out: string[] = [];
    for (let i = 0; i < 1000; i++) out.push(await versionFor(g.gatewayUrl, { 'x-user-id': `user-${i}` }));
    return out;
  };
  const [a, b, d] = await Promise.all([lanes(g1), lanes(g2), lanes(g3)]);
  assert.deepEqual(b, a);
  assert.deepEqual(d, a);
  const betaShare = a.filter((v) => v === 'beta').length / 10;
  assert.ok(betaShare > 25 && betaShare < 35, `beta share ${betaShare}%`);

  // And `graylane get spec` returns the text byte for byte
  const got = await runCli(['get', 'spec', '--store', `etcd://${c.server.endpoint.slice(7)}`, '--prefix', c.prefix]);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, v1);

  // When the weight changes (30% -> 60%)
  const appliedAt = Date.now();
  assert.equal((await c.applyText(spec(c.stable, c.beta, '    rules:\n      - { lane: beta, percent: 60 }\n'))).code, 0);

  // Then all three converge on it, and everyone who was in beta stays (monotonic widening)
  const lateUser = a.findIndex((v, i) => v === 'stable' && i > 0); // a user who moves to beta at 60%
  assert.ok(lateUser >= 0);
  const converged: number[] = [];
  for (const g of c.gateways) {
    await until(`${g.name} at 60%`, async () => {
      const ids = [...Array(200).keys()];
      const now = await Promise.all(ids.map((i) => versionFor(g.gatewayUrl, { 'x-user-id': `user-${i}` })));
      const share = now.filter((v) => v === 'beta').length / 2;
      return share > 50 && ids.every((i) => a[i] !== 'beta' || now[i] === 'beta');
    }, 5000);
    converged.push(Date.now() - appliedAt);
  }
  const config = await adminGet<{ reloads: number; store: { kind: string; up: boolean } }>(g3.adminUrl, '/api/v1/config');
  assert.equal(config.store.kind, 'etcd');
  assert.equal(config.store.up, true);
  assert.equal(config.reloads, 2);
  t.diagnostic(`all three gateways routed by the new weight within ${Math.max(...converged)} ms of the apply (polled)`);

  // When an invalid spec is applied, it is refused with the validate message and nothing is written
  const bad = await c.applyText(spec(c.stable, c.beta, '    rules:\n      - { lane: beta, percent: 160 }\n'), 'bad.yaml');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad\.yaml:\d+:\d+: routes\[0\]\.rules\[0\]\.percent: must be <= 100/);
  assert.match(bad.stderr, /nothing was written/);
  const still = await runCli(['get', 'spec', '--store', `etcd://${c.server.endpoint.slice(7)}`, '--prefix', c.prefix]);
  assert.match(still.stdout, /percent: 60/);

  // And exactly one of the two candidates leads; the gateway-only process never does
  await until('one leader', async () => (await isLeading(g1)) !== (await isLeading(g2)), 10_000);
  assert.equal(await isLeading(g3), false);
});

test('the leading controller is killed mid-rollout: the other finishes it, each step exactly once', async (t) => {
  const c = await cluster(t, [{ name: 'ctl-1' }, { name: 'ctl-2' }, { name: 'gw-3', controller: false }]);
  const rollout = `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 20
          # Long enough to sample three gateways at 20% on a loaded machine (3 s was not, under load).
          - pause: { duration: 8s }
          - setWeight: 50
          - pause: { duration: 1s }
          - setWeight: 100
`;
  assert.equal((await c.applyText(spec(c.stable, c.beta, rollout))).code, 0);

  // Given the rollout in its timed pause at 20%, driven by one of the two controllers
  const gw3 = c.gateways[2]!;
  await until('spec applied', async () => (await adminGet<{ snapshotId: string; reloads: number }>(gw3.adminUrl, '/api/v1/config')).reloads === 1, 5000);
  const paused = await waitForRollout(gw3.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'PauseStep', 15_000);
  assert.equal(paused.weight, 20);
  let leader: ClusterGateway | undefined;
  await until('a leader', async () => {
    for (const g of c.gateways.slice(0, 2)) if (await isLeading(g)) leader = g;
    return leader !== undefined;
  }, 10_000);
  const follower = c.gateways.slice(0, 2).find((g) => g !== leader)!;

  // And every gateway routes by the leader's step (20% of users to beta), followers included
  const sample = async (g: ClusterGateway) => {
    const v = await Promise.all([...Array(200).keys()].map((i) => versionFor(g.gatewayUrl, { 'x-user-id': `u${i}` })));
    return v.filter((x) => x === 'beta').length / 2;
  };
  for (const g of c.gateways) {
    const share = await sample(g);
    assert.ok(share > 12 && share < 28, `${g.name}: beta share ${share}% at setWeight 20`);
  }

  // When the leader's process is killed with SIGKILL
  await leader!.stop('SIGKILL');

  // Then the other candidate takes over within the lease TTL and finishes the rollout
  await until(`${follower.name} elected`, () => isLeading(follower), 15_000);
  const done = await waitForRollout(gw3.adminUrl, 'web-beta', (v) => v.phase === 'Healthy', 20_000);
  assert.deepEqual(done.traffic, { beta: 100 });
  for (const g of [follower, gw3]) {
    await until(`${g.name} all beta`, async () => (await versionFor(g.gatewayUrl, { 'x-user-id': 'u1' })) === 'beta' && (await sample(g)) === 100, 5000);
  }

  // And each step ran exactly once across both controllers
  const { events } = await getRollout(gw3.adminUrl, 'web-beta', 1000);
  const count = (reason: string, prefix: string) => events.filter((e) => e.reason === reason && e.message.startsWith(prefix)).length;
  assert.equal(count('RolloutStarted', 'attempt 1'), 1);
  assert.equal(count('WeightSet', 'step 1/5'), 1);
  assert.equal(count('StepStarted', 'step 2/5'), 1);
  assert.equal(count('WeightSet', 'step 3/5'), 1);
  assert.equal(count('StepStarted', 'step 4/5'), 1);
  assert.equal(count('WeightSet', 'step 5/5'), 1);
  assert.equal(count('Completed', ''), 1);
  const seqs = events.map((e) => e.seq);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((x, y) => x - y));
});

test('commands reach the leader from any gateway; a registered instance killed without deregistering leaves routing after its TTL', async (t) => {
  const c = await cluster(t, [{ name: 'ctl-1' }, { name: 'gw-2', controller: false }]);
  const [ctl, gw] = c.gateways as [ClusterGateway, ClusterGateway];
  const rollout = `
    rules:
      - { lane: gray, header: { name: x-gray, equals: "1" } }
${webBetaCanary(['setWeight: 10', 'pause: {}', 'setWeight: 100'])}`;
  // `gray` has no endpoints of its own: instances register for it
  const applied = await c.applyText(spec(c.stable, c.beta, rollout, '      gray: []\n'));
  assert.equal(applied.code, 0, applied.stderr);
  await waitForRollout(gw.adminUrl, 'web-beta', (v) => v.currentStep === 1 && v.reason === 'AwaitingPromotion', 15_000);

  // When a person promotes through the gateway that is not the controller
  const promoted = await adminPost(gw.adminUrl, '/api/v1/rollouts/web-beta/promote');
  assert.equal(promoted.status, 200, JSON.stringify(promoted.body));

  // Then the leader carries on from there to the end
  await waitForRollout(ctl.adminUrl, 'web-beta', (v) => v.phase === 'Healthy', 10_000);

  // Given an instance of a `gray` version registered through one gateway, with a 2 s TTL
  const inst = await startInstance({ admin: ctl.adminUrl } as Graylane, 'web-gray', { ttlMs: 2000, heartbeatMs: 500, token: TOKEN });
  t.after(() => stopInstance(inst, 'SIGKILL'));
  const grayAnswer = async (g: ClusterGateway) => {
    const res = await fetch(`${g.gatewayUrl}/`, { headers: { 'x-gray': '1' } });
    const text = await res.text();
    return res.headers.get('x-version') ?? (text.includes('"web-gray"') ? 'web-gray' : `status ${res.status}`);
  };
  // Then the other gateway sends the gray lane to it
  await until('gray routed to the registered instance', async () => (await grayAnswer(gw)) === 'web-gray', 5000);
  const listed = await adminGet<{ instances: { id: string; version: string }[] }>(gw.adminUrl, '/api/v1/instances');
  assert.deepEqual(listed.instances.map((i) => [i.id, i.version]), [[inst.id, 'gray']]);

  // When its process is killed (no deregistration)
  const killedAt = Date.now();
  await stopInstance(inst, 'SIGKILL');

  // Then its registration disappears from both gateways once the lease runs out (passive health
  // may eject the dead address sooner; the lease is what removes it from every gateway's table)
  const registered = async (g: ClusterGateway) => (await adminGet<{ instances: unknown[] }>(g.adminUrl, '/api/v1/instances')).instances.length;
  for (const g of c.gateways) await until(`${g.name} dropped the dead instance`, async () => (await registered(g)) === 0, 10_000);
  const gone = Date.now() - killedAt;
  assert.ok(gone >= 1000, `dropped after ${gone} ms: before its TTL could have run out`);
  // And the lane is served from the fallback, which is beta now that the rollout completed
  for (const g of c.gateways) await until(`${g.name} serves gray from the fallback`, async () => (await grayAnswer(g)) === 'beta', 5000);
  t.diagnostic(`the killed instance left routing ${gone} ms after SIGKILL (TTL 2 s)`);
});

test('builtin analysis counts the traffic of every gateway: errors seen only by a non-controller gateway abort the rollout', async (t) => {
  const c = await cluster(t, [{ name: 'ctl-1' }, { name: 'gw-2', controller: false }], 5);
  const [ctl, gw] = c.gateways as [ClusterGateway, ClusterGateway];
  const rollout = `
rollouts:
  - name: web-beta
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - analysis: { templates: [error-rate] }
          - setWeight: 100
analysisTemplates:
  error-rate:
    interval: 200ms
    failureLimit: 0
    inconclusiveLimit: 100
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate, version: canary, window: 5s, minRequests: 10 } }
`;
  assert.equal((await c.applyText(spec(c.stable, c.beta, rollout))).code, 0);
  await waitForRollout(gw.adminUrl, 'web-beta', (v) => v.currentStep === 1, 15_000);

  // When traffic reaches only the gateway that does not run the controller (beta fails 1 in 5)
  let sending = true;
  const sender = (async () => {
    for (let i = 0; sending && i < 5000; i++) await versionFor(gw.gatewayUrl, { 'x-user-id': `u${i % 200}` });
  })();
  t.after(async () => {
    sending = false;
    await sender;
  });

  // Then the controller on the other process sees those errors and aborts the rollout
  const aborted = await waitForRollout(ctl.adminUrl, 'web-beta', (v) => v.phase === 'Degraded', 20_000);
  assert.equal(aborted.weight, 0);
  sending = false;
  await sender;
  const { events } = await getRollout(ctl.adminUrl, 'web-beta', 1000);
  assert.ok(events.some((e) => e.reason === 'AnalysisFailed' || /analysis/i.test(e.message)), JSON.stringify(events.map((e) => e.reason)));
  // And both gateways send everyone back to stable
  for (const g of c.gateways) await until(`${g.name} back on stable`, async () => (await versionFor(g.gatewayUrl, { 'x-user-id': 'u7' })) === 'stable', 5000);
});
