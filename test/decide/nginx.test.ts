/**
 * Decide mode end to end with Debian's nginx: `graylane export nginx` writes the nginx side, nginx
 * runs that file unedited (wrapped in the minimal main config the shared bench harness uses, with
 * its own -p prefix, never the system config), fronts two real upstream versions, and graylane
 * (startApp, its decision listener and syslog outcome listener) decides. Every port comes from the
 * OS, every loop is bounded.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { App } from '../../src/app.js';
import { DECISION_TTL_SECONDS } from '../../src/decide/cache.js';
import { adminUrlOf, api, getRollout, startTestApp, startUpstream, waitForRollout, TOKEN, type Upstream } from '../rollout/helpers.js';
import { connect, roundTrip, startEchoServer } from '../gateway/helpers.js';
import { tempDir } from '../support/temp.js';
import { sleep, until } from '../support/wait.js';
import { client, freePort, freeUdpPort, pool, startNginx, via, type Nginx, SHOP_ROUTES, WEB_V2_ROLLOUT, assertStickyTwentyPercent } from './nginx-helpers.js';

after(() => client.close());

interface Setup {
  app: App;
  nginx: Nginx;
  stable: Upstream;
  beta: Upstream;
  close(): Promise<void>;
}

async function setup(routes: string, rest = '', betaFailEvery?: number, endpoints?: { stable: string; beta: string }, report = ''): Promise<Setup> {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', betaFailEvery === undefined ? {} : { failEvery: betaFailEvery });
  const decidePort = await freePort();
  const syslogPort = await freeUdpPort();
  const file = dir.file('graylane.yaml');
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      'accessLog: false',
      'drain: 0s',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(dir.file('state.db'))} }`,
      `decide: { listen: 127.0.0.1:${decidePort}, proxy: nginx, report: { syslog: 127.0.0.1:${syslogPort}${report} } }`,
      'services:',
      '  web:',
      '    versions:',
      `      stable: [${endpoints?.stable ?? stable.url}]`,
      `      beta: [${endpoints?.beta ?? beta.url}]`,
      'routes:',
      routes,
      rest,
    ].join('\n'),
  );
  const app = await startTestApp(file);
  let nginx: Nginx;
  try {
    nginx = await startNginx(dir.path, file);
  } catch (err) {
    await app.close({ drainMs: 0 });
    throw err;
  }
  return {
    app,
    nginx,
    stable,
    beta,
    async close() {
      await nginx.stop();
      await app.close({ drainMs: 0 });
      await stable.close();
      await beta.close();
      await dir.remove();
    },
  };
}

test('nginx runs the exported config: sticky percent, users list, app version, set-weight within the cache TTL, fallback when graylane is down', async (t) => {
  const s = await setup(
    SHOP_ROUTES,
    WEB_V2_ROLLOUT,
  );
  t.after(() => s.close());
  const admin = adminUrlOf(s.app);
  await waitForRollout(admin, 'web-v2', (v) => v.reason === 'AwaitingPromotion' || v.phase === 'Paused');
  // The shop route caches (identity alone); the app route reads a header, so it does not.
  assert.match(s.nginx.exported, /proxy_cache_key "1 \$gl_key_1";/);
  assert.match(s.nginx.exported, /# not cached: rule new-app reads the app version/);

  // 3,000 users, each sent twice, sticky in the lanes graylane's buckets give (nginx-helpers).
  const { users, first } = await assertStickyTwentyPercent(s.nginx, () => s.stable.count + s.beta.count);

  // A users-list user; the app-version rule, on the uncached route: the answer changes at once.
  assert.equal(await via(s.nginx, '/', { 'x-user-id': 'vip-1' }), 'beta');
  const stableUser = users.find((_, i) => first[i] === 'stable')!;
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': stableUser, 'x-app-version': '2.4.0' }), 'beta');
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': stableUser, 'x-app-version': '2.2.9' }), 'stable');
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': stableUser, 'x-app-version': '2.4.0' }), 'beta');

  // set-weight 100: a user whose decision nginx has cached keeps it until the TTL ends, then moves;
  // anonymous requests are never cached and move at once.
  // Their entries from the second pass expire first, so the ones stored now are known to be fresh.
  const watched = users.filter((_, i) => first[i] === 'stable').slice(0, 20);
  await sleep(DECISION_TTL_SECONDS * 1000 + 200);
  const cachedAt = Date.now();
  for (const u of watched) assert.equal(await via(s.nginx, '/cart', { 'x-user-id': u }), 'stable');
  const set = await api(admin, 'POST', '/api/v1/rollouts/web-v2/set-weight', { weight: 100 }, TOKEN);
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const setAt = Date.now();
  assert.equal(await via(s.nginx, '/cart'), 'beta', 'an anonymous request is decided afresh');
  if (Date.now() - cachedAt < (DECISION_TTL_SECONDS - 1) * 1000) {
    assert.equal(await via(s.nginx, '/cart', { 'x-user-id': watched[0]! }), 'stable', 'the cached decision serves until its TTL ends');
  }
  // What must not happen is a request SENT later than TTL + 1 s after set-weight answered from the
  // old decision; when each answer is read depends on how loaded the machine is, so the bound is
  // checked on the send time of the last request still answered stable.
  const moved = new Set<string>();
  let lastStableSentAt = setAt;
  for (let i = 0; i < 200 && moved.size < watched.length && Date.now() - setAt < (DECISION_TTL_SECONDS + 3) * 1000; i++) {
    for (const u of watched) {
      if (moved.has(u)) continue;
      const sentAt = Date.now();
      if ((await via(s.nginx, '/cart', { 'x-user-id': u })) === 'beta') moved.add(u);
      else lastStableSentAt = Math.max(lastStableSentAt, sentAt);
    }
    if (moved.size < watched.length) await sleep(100);
  }
  const took = Date.now() - setAt;
  assert.equal(moved.size, watched.length, `${watched.length - moved.size} users still on stable ${took} ms after set-weight`);
  const stale = lastStableSentAt - setAt;
  assert.ok(stale <= (DECISION_TTL_SECONDS + 1) * 1000, `a cached user was still answered stable for a request sent ${stale} ms after set-weight, beyond the TTL + 1 s`);

  // The decision listener goes down: nginx's auth_request fails (500), error_page serves the
  // fallback version. The uncached app route shows it at once (2.4.0 would be beta).
  await s.app.decide!.close();
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': 'someone', 'x-app-version': '2.4.0' }), 'stable');
  assert.equal(await via(s.nginx, '/cart', { 'x-user-id': 'vip-new-identity' }), 'stable');
});

test('a rollout aborts on the 5xx graylane learns only from the outcomes nginx reports over syslog', async (t) => {
  const s = await setup(
    `  - name: shop
    match: { host: shop.example.com, pathPrefix: / }
    service: web`,
    `rollouts:
  - name: web-v2
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: { duration: 1m }
        analysis: { templates: [error-rate], startingStep: 1 }
analysisTemplates:
  error-rate:
    interval: 200ms
    failureLimit: 0
    inconclusiveLimit: 100
    successCondition: result < 0.05
    provider: { builtin: { metric: errorRate, version: canary, window: 10s, minRequests: 10 } }`,
    2,
  );
  t.after(() => s.close());
  const admin = adminUrlOf(s.app);
  await waitForRollout(admin, 'web-v2', (v) => v.weight === 50);
  // Traffic through nginx only; the gateway's own listener gets nothing.
  let sent = 0;
  let aborted = false;
  const deadline = Date.now() + 20_000;
  while (!aborted && Date.now() < deadline) {
    await pool(Array.from({ length: 20 }), 4, () => via(s.nginx, '/'));
    sent += 20;
    aborted = (await getRollout(admin, 'web-v2')).phase === 'Degraded';
  }
  const v = await waitForRollout(admin, 'web-v2', (x) => x.phase === 'Degraded', 5000);
  assert.equal(v.reason, 'AnalysisFailed');
  const counts = s.app.decide!.report!.counts();
  assert.ok(counts.counted >= 10, `nginx reported ${counts.counted} outcomes of ${sent} requests`);
  assert.deepEqual(Object.values(counts.refused).filter((n) => n > 0), [], JSON.stringify(counts.refused));
  // After the abort every request is answered stable (the decision names the fallback version).
  const after = await pool(Array.from({ length: 20 }), 4, () => via(s.nginx, '/'));
  assert.deepEqual(new Set(after), new Set(['stable']));
});

test('sampleOneIn 4: nginx reports one in four outcomes below 500, weighted 4, and every 5xx; the counts estimate the traffic, the errors are exact', async (t) => {
  const s = await setup(
    `  - name: shop
    match: { host: shop.example.com, pathPrefix: / }
    service: web
    rules: [{ lane: beta, header: { name: x-canary, equals: "1" } }]`,
    '',
    5,
    undefined,
    ', sampleOneIn: 4',
  );
  t.after(() => s.close());
  assert.match(s.nginx.exported, /access_log syslog:\S+ graylane_outcome_0 if=\$gl_report;/);
  // 400 stable requests (all 200) and 100 beta ones (every 5th a 500 from the upstream).
  const stable = await pool(Array.from({ length: 400 }), 8, () => via(s.nginx, '/'));
  const beta = await pool(Array.from({ length: 100 }), 8, () => via(s.nginx, '/', { 'x-canary': '1' }));
  assert.deepEqual(new Set(stable), new Set(['stable']));
  const errors = beta.filter((v) => v === 'status 500').length;
  assert.equal(errors, 20);
  const report = s.app.decide!.report!;
  const metric = async () => (await (await fetch(`http://127.0.0.1:${s.app.admin.address.port}/metrics`)).text()).split('\n');
  const requests = (lines: string[], version: string, cls: string) =>
    Number(lines.find((l) => l.startsWith(`graylane_requests_total{route="shop",service="web",version="${version}",lane="${version}",class="${cls}"}`))?.split(' ')[1] ?? 0);
  // Every 5xx is reported, and each line counted once: 5xx lines stand for one request, the
  // others for four (UDP on loopback; nginx sends as each request ends, so wait for the last).
  let lines: string[] = [];
  const c = report.counts();
  await until('every outcome line counted: 20 5xx, each 2xx line as 4 requests', async () => {
    lines = await metric();
    Object.assign(c, report.counts());
    return requests(lines, 'beta', '5xx') === 20 && c.counted === 20 + (requests(lines, 'stable', '2xx') + requests(lines, 'beta', '2xx')) / 4;
  }, 10_000);
  // Below 500 one in four is reported, each counted 4 times: an estimate. Binomial(400, 1/4) x 4 has
  // a standard deviation of ~35 around 400; +-40% is over 4 deviations (never seen to flake), and
  // exact counting would give 400 with a quarter of the lines.
  const stable2xx = requests(lines, 'stable', '2xx');
  assert.ok(stable2xx % 4 === 0 && stable2xx >= 240 && stable2xx <= 560, `stable 2xx estimated ${stable2xx} for 400`);
  const beta2xx = requests(lines, 'beta', '2xx');
  assert.ok(beta2xx % 4 === 0, `beta 2xx ${beta2xx} is a multiple of the weight`);
  assert.ok(c.counted < 20 + 480 / 2, `nginx sent ${c.counted} lines for 500 requests: sampling sends far fewer`);
});

test('a WebSocket upgrade through the exported config reaches the version graylane decided', async (t) => {
  const stableWs = await startEchoServer('stable');
  const betaWs = await startEchoServer('beta');
  const s = await setup(
    `  - name: chat
    match: { host: shop.example.com, pathPrefix: / }
    service: web
    identity: [header:x-user-id]
    rules:
      - { name: vip, lane: beta, users: ["vip-1"] }`,
    '',
    undefined,
    { stable: stableWs.url, beta: betaWs.url },
  );
  t.after(async () => {
    await s.close();
    await stableWs.close();
    await betaWs.close();
  });
  for (const [user, version] of [['vip-1', 'beta'], ['someone', 'stable']] as const) {
    const ws = await connect(`ws://127.0.0.1:${s.nginx.port}/chat`, { host: 'shop.example.com', 'x-user-id': user });
    try {
      assert.equal(await roundTrip(ws, 'hi'), `${version}:hi`);
      assert.equal(await roundTrip(ws, 'again'), `${version}:again`, 'the tunnel stays open');
    } finally {
      ws.close();
    }
  }
  assert.equal(betaWs.upgrades.at(-1)?.['x-gray-lane'], 'beta');
  assert.equal(stableWs.upgrades.at(-1)?.['x-gray-lane'], 'stable');
});
