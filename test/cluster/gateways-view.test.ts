/**
 * The cluster-wide view (issue #21): three `graylane serve --store etcd://...` processes on one real
 * etcd; requests sent to each show up per gateway and summed per version in the /api/v1/overview of
 * every gateway, with the leader and the local gateway marked; `graylane top` prints the same; a
 * gateway killed with SIGKILL is shown stale, then gone, within the bounds docs/cluster.md gives;
 * one stopped with SIGTERM is gone at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_LEASE_SEC, PUBLISH_MS, STALE_AFTER_MS } from '../../src/metrics/gateways.js';
import type { Overview } from '../../src/metrics/overview.js';
import { adminUrlOf, config, gatewayUrlOf, runCli, send, startTestApp, startUpstream, writeFile } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';
import { sleep, until } from '../support/wait.js';
import { etcdForFile } from './helpers.js';
import { adminGet, isLeading } from './serve-helpers.js';
import { gatewaysSeenBy, row, sendTo, startViewCluster } from './view-helpers.js';

const etcd = etcdForFile();

const requestsOf = (view: Overview['gateways'], name: string, version: string) => row(view, name)?.versions.web?.[version]?.requests ?? 0;

test('every gateway lists all three with their traffic, the totals per version across them, the leader and itself marked; top prints it', { timeout: 90_000 }, async (t) => {
  const c = await startViewCluster(await etcd());
  t.after(() => c.close());
  const [g1, g2, g3] = c.gateways;

  // Given what each gateway counted so far (the start-up probes), once all of it is published: the
  // totals across gateways are then what the upstreams received
  const settled = async () => {
    const view = await gatewaysSeenBy(g1);
    return view.gateways.length === 3 && view.totals.web?.stable?.requests === c.stable.count && (view.totals.web?.beta?.requests ?? 0) === c.beta.count;
  };
  await until('the start-up probes published', settled, 10_000);
  const before = await gatewaysSeenBy(g1);
  const base = (name: string, version: string) => requestsOf(before, name, version);

  // When each gateway gets its own mix of requests (beta answers 500 to every second one)
  await sendTo(c, [[5, 2], [3, 0], [4, 4]]);
  const expected: Record<string, { stable: number; beta: number }> = {
    'gw-1': { stable: base('gw-1', 'stable') + 5, beta: base('gw-1', 'beta') + 2 },
    'gw-2': { stable: base('gw-2', 'stable') + 3, beta: base('gw-2', 'beta') },
    'gw-3': { stable: base('gw-3', 'stable') + 4, beta: base('gw-3', 'beta') + 4 },
  };

  // Then every gateway's overview lists the three, each with its own counts, itself marked local
  for (const g of c.gateways) {
    await until(
      `${g.name} sees every gateway's counts`,
      async () => {
        const view = await gatewaysSeenBy(g);
        return ['gw-1', 'gw-2', 'gw-3'].every((n) => requestsOf(view, n, 'stable') === expected[n]!.stable && requestsOf(view, n, 'beta') === expected[n]!.beta);
      },
      10_000,
    );
    const view = await gatewaysSeenBy(g);
    assert.equal(view.mode, 'cluster');
    assert.equal(view.staleAfterMs, STALE_AFTER_MS);
    assert.equal(view.goneAfterMs, GATEWAY_LEASE_SEC * 1000);
    assert.deepEqual(view.gateways.map((x) => [x.name, x.local, x.state]), [
      [g.name, true, 'live'],
      ...c.gateways.filter((o) => o !== g).map((o) => [o.name, false, 'live']),
    ]);
    for (const o of c.gateways) {
      const r = row(view, o.name)!;
      assert.equal(`http://${r.address}`, o.gatewayUrl, `${o.name}'s address as seen by ${g.name}`);
      assert.equal(`http://${r.admin}`, o.adminUrl);
      assert.deepEqual(r.store, { up: true });
      assert.equal(r.candidate, o.name !== 'gw-3');
      assert.ok(r.publishedAt !== null && r.silentMs !== null && r.silentMs < STALE_AFTER_MS, JSON.stringify(r));
    }
    // And the totals per version are the sums, which are what the upstreams received
    assert.deepEqual(view.totals.web, {
      beta: { requests: c.beta.count, errors: Math.floor(c.beta.count / 2) },
      stable: { requests: c.stable.count, errors: 0 },
    });
    assert.equal(c.stable.count, expected['gw-1']!.stable + expected['gw-2']!.stable + expected['gw-3']!.stable);
  }

  // And an idle gateway stays live: each publishes every period, counted or not
  await sleep(STALE_AFTER_MS + 1000);
  for (const g of c.gateways) assert.deepEqual((await gatewaysSeenBy(g)).gateways.map((x) => x.state), ['live', 'live', 'live'], `${g.name} after ${STALE_AFTER_MS + 1000} ms without traffic`);

  // And exactly one gateway is the leader, the one whose controller was elected, in every view
  await until('one leader in every view', async () => {
    const views = await Promise.all(c.gateways.map(gatewaysSeenBy));
    return views.every((v) => v.gateways.filter((x) => x.role === 'leader').length === 1);
  }, 10_000);
  const leader = row(await gatewaysSeenBy(g3), 'gw-1')!.role === 'leader' ? g1 : g2;
  assert.equal(await isLeading(leader), true);
  assert.equal(row(await gatewaysSeenBy(g1), 'gw-3')!.role, 'follower');

  // And `graylane top` against gw-2 prints the gateways, itself marked, and the totals
  const top = await runCli(['top', '--admin', g2.adminUrl, '-n', '1']);
  assert.equal(top.code, 0, top.stderr);
  const lines = top.stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith('gateways  (cluster: 3, * this one'));
  assert.ok(start >= 0, top.stdout);
  assert.match(lines[start + 1]!, /^ {2}GATEWAY +ADDRESS +ROLE +STORE +PUBLISHED +STATE +REQUESTS$/);
  const rows = lines.slice(start + 2, start + 5);
  assert.match(rows[0]!, new RegExp(`^\\* gw-2 +${g2.gatewayUrl.slice(7)} +(leader|follower) +up +\\d+\\.\\ds ago +live +${expected['gw-2']!.stable + expected['gw-2']!.beta}$`));
  assert.match(rows.find((l) => l.startsWith('  gw-3'))!, /^ {2}gw-3 .* follower +up .* live /);
  assert.match(rows.find((l) => l.includes(leader.name))!, / leader /);
  assert.match(top.stdout, new RegExp(`totals across gateways\\n {2}SERVICE +VERSION +REQUESTS +ERRORS\\n {2}web +beta +${c.beta.count} +${Math.floor(c.beta.count / 2)}\\n {2}web +stable +${c.stable.count} +0\\n`));
});

test('a gateway killed with SIGKILL is shown stale after three publish periods, then gone when its lease ends; the totals drop it', { timeout: 90_000 }, async (t) => {
  const c = await startViewCluster(await etcd());
  t.after(() => c.close());
  const [g1, g2, g3] = c.gateways;
  await sendTo(c, [[1, 0], [1, 0], [6, 0]]);
  await until('gw-3 counted everywhere', async () => requestsOf(await gatewaysSeenBy(g1), 'gw-3', 'stable') >= 7 && requestsOf(await gatewaysSeenBy(g2), 'gw-3', 'stable') >= 7, 10_000);

  // Given gw-3 live in gw-1's view, its last document having arrived `silentMs` before
  const asked = Date.now();
  const seen = row(await gatewaysSeenBy(g1), 'gw-3')!;
  assert.equal(seen.state, 'live');
  const lastArrival = asked - seen.silentMs!;

  // When gw-3 is killed with SIGKILL (no lease revoked, no last publish)
  const killedAt = Date.now();
  await g3.stop('SIGKILL');

  // Then gw-1 shows it stale, then drops it, polling every 100 ms
  let staleAt: number | undefined;
  let goneAt: number | undefined;
  const deadline = killedAt + GATEWAY_LEASE_SEC * 1000 + 5000;
  while (goneAt === undefined && Date.now() < deadline) {
    const view = await gatewaysSeenBy(g1);
    const now = Date.now();
    const r = row(view, 'gw-3');
    if (r === undefined) goneAt = now;
    else if (r.state === 'stale') {
      staleAt ??= now;
      // Still in the totals while stale: its last counts.
      assert.equal(view.totals.web!.stable!.requests, view.gateways.reduce((n, g) => n + (g.versions.web?.stable?.requests ?? 0), 0));
      assert.equal(requestsOf(view, 'gw-3', 'stable'), seen.versions.web!.stable!.requests);
    } else assert.equal(staleAt, undefined, 'stale, then live again, without a publish');
    await sleep(100);
  }
  assert.ok(staleAt !== undefined, 'gw-3 was never shown stale');
  assert.ok(goneAt !== undefined, `gw-3 still listed ${Date.now() - killedAt} ms after the kill`);
  t.diagnostic(`stale ${staleAt - killedAt} ms after the kill, gone ${goneAt - killedAt} ms after it`);
  // Stale no sooner than three periods after its last document arrived, and soon after that
  assert.ok(staleAt >= lastArrival + STALE_AFTER_MS, `stale at ${staleAt - lastArrival} ms after its last document`);
  assert.ok(staleAt - killedAt <= STALE_AFTER_MS + 2000, `stale ${staleAt - killedAt} ms after the kill`);
  // Gone when the lease ran out: renewed at the latest at the kill, so within its TTL (+ etcd's 0.5 s sweep)
  assert.ok(goneAt - killedAt <= GATEWAY_LEASE_SEC * 1000 + 500 + 1500, `gone ${goneAt - killedAt} ms after the kill`);
  // ...and not before two thirds of it (the lease is renewed every third, at a publish): long after
  // it turned stale. (With the 5 s lease the counters had before, it could go before it was stale.)
  assert.ok(goneAt - killedAt >= (GATEWAY_LEASE_SEC * 1000 * 2) / 3 - PUBLISH_MS - 500, `gone only ${goneAt - killedAt} ms after the kill`);

  // And the other gateway agrees, and the totals no longer hold gw-3's requests
  await until('gw-2 drops gw-3', async () => row(await gatewaysSeenBy(g2), 'gw-3') === undefined, 3000);
  const view = await gatewaysSeenBy(g2);
  assert.deepEqual(view.gateways.map((x) => [x.name, x.state]), [['gw-2', 'live'], ['gw-1', 'live']]);
  assert.equal(view.totals.web!.stable!.requests, requestsOf(view, 'gw-1', 'stable') + requestsOf(view, 'gw-2', 'stable'));

  // When gw-2 stops cleanly (SIGTERM: its lease is revoked), it is gone at once, never stale
  const termAt = Date.now();
  await g2.stop('SIGTERM');
  await until('gw-2 gone after SIGTERM', async () => {
    const r = row(await gatewaysSeenBy(g1), 'gw-2');
    assert.notEqual(r?.state, 'stale');
    return r === undefined;
  }, 1500);
  t.diagnostic(`gone ${Date.now() - termAt} ms after SIGTERM (exit included)`);
  const left = await gatewaysSeenBy(g1);
  assert.deepEqual(left.gateways.map((x) => [x.name, x.state]), [['gw-1', 'live']]);
  assert.equal(left.totals.web!.stable!.requests, requestsOf(left, 'gw-1', 'stable'));
});

test('one process lists itself alone in the same shape', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir();
  const up = await startUpstream('stable');
  await writeFile(dir.file('g.yaml'), config({ stable: up.url, beta: up.url, state: dir.file('state.db'), rest: '' }));
  const app = await startTestApp(dir.file('g.yaml'));
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await up.close();
    await dir.remove();
  });
  await send(gatewayUrlOf(app), 3);
  const o = await adminGet<Overview>(adminUrlOf(app), '/api/v1/overview');
  assert.equal(o.gateways.mode, 'single');
  assert.equal(o.gateways.gateways.length, 1);
  const me = o.gateways.gateways[0]!;
  assert.deepEqual([me.local, me.role, me.state, me.publishedAt, me.store.up], [true, 'leader', 'live', null, true]);
  assert.equal(`http://${me.admin}`, adminUrlOf(app));
  assert.equal(`http://${me.address}`, gatewayUrlOf(app));
  assert.deepEqual(o.gateways.totals, { web: { stable: { requests: 3, errors: 0 } } });
});
