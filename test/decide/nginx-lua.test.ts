/**
 * The Lua tier (`graylane export nginx --lua`) end to end with Debian's nginx and its
 * libnginx-mod-http-lua: nginx runs the exported file unedited (two workers, so the decision cache
 * and the outcome counts are shared between them), fronts two real upstream versions, and graylane
 * (startApp) or a stand-in decision listener answers. Every port comes from the OS, every loop is
 * bounded.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import { DECISION_TTL_SECONDS } from '../../src/decide/cache.js';
import { adminUrlOf, api, getRollout, startUpstream, waitForRollout, TOKEN, type Upstream } from '../rollout/helpers.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { sleep, until } from '../support/wait.js';
import { client, freePort, pool, startNginx, via, type Nginx, SHOP_ROUTES, WEB_V2_ROLLOUT, assertStickyTwentyPercent } from './nginx-helpers.js';

after(() => client.close());

const REPORT_TOKEN = 'lua-tier-report-token-0123456789';

interface Setup {
  app: App;
  nginx: Nginx;
  stable: Upstream;
  beta: Upstream;
  metrics(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * graylane with decide.report.http behind GRAYLANE_REPORT_TOKEN, and nginx on the Lua export of the
 * same file; nginx reads the token from a file (--report-token-file).
 */
async function setup(routes: string, rest = '', betaFailEvery?: number): Promise<Setup> {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta', betaFailEvery === undefined ? {} : { failEvery: betaFailEvery });
  const [decidePort, reportPort] = [await freePort(), await freePort()];
  const file = dir.file('graylane.yaml');
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      'accessLog: false',
      'drain: 0s',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(dir.file('state.db'))} }`,
      `decide: { listen: 127.0.0.1:${decidePort}, proxy: nginx, report: { http: 127.0.0.1:${reportPort} } }`,
      'services:',
      '  web:',
      '    versions:',
      `      stable: [${stable.url}]`,
      `      beta: [${beta.url}]`,
      'routes:',
      routes,
      rest,
    ].join('\n'),
  );
  const tokenFile = dir.file('report-token');
  writeFileSync(tokenFile, `${REPORT_TOKEN}\n`, { mode: 0o600 });
  const app = await startApp({ configFile: file, logger: pino({ level: 'silent' }), adminToken: TOKEN, reportToken: REPORT_TOKEN });
  let nginx: Nginx;
  try {
    nginx = await startNginx(dir.path, file, { lua: true, workers: 2, exportArgs: ['--lua', '--report-token-file', tokenFile] });
  } catch (err) {
    await app.close({ drainMs: 0 });
    throw err;
  }
  return {
    app,
    nginx,
    stable,
    beta,
    metrics: async () => (await (await fetch(`${adminUrlOf(app)}/metrics`)).text()).split('\n'),
    async close() {
      await nginx.stop();
      await app.close({ drainMs: 0 });
      await stable.close();
      await beta.close();
      await dir.remove();
    },
  };
}

test('the Lua tier: sticky percent for 3,000 users twice, a users-list user, set-weight within the TTL + 1 s, cached decisions outlive graylane only until their TTL', async (t) => {
  const s = await setup(
    SHOP_ROUTES,
    WEB_V2_ROLLOUT,
  );
  t.after(() => s.close());
  const admin = adminUrlOf(s.app);
  await waitForRollout(admin, 'web-v2', (v) => v.reason === 'AwaitingPromotion' || v.phase === 'Paused');
  assert.match(s.nginx.exported, /access_by_lua_block \{ graylane\.decide\(1\) \}/);
  assert.doesNotMatch(s.nginx.exported, /^\s*(proxy_cache|auth_request|access_log syslog)/m, 'no file cache, no subrequest per request, no syslog line per request');

  // 3,000 users, each sent twice, sticky in the lanes graylane's buckets give (nginx-helpers).
  const { users, first } = await assertStickyTwentyPercent(s.nginx, () => s.stable.count + s.beta.count);

  // A users-list user; the app-version rule on the uncached route changes with each request.
  assert.equal(await via(s.nginx, '/', { 'x-user-id': 'vip-1' }), 'beta');
  const stableUser = users.find((_, i) => first[i] === 'stable')!;
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': stableUser, 'x-app-version': '2.4.0' }), 'beta');
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': stableUser, 'x-app-version': '2.2.9' }), 'stable');

  // set-weight 100: a cached user keeps the old decision until its TTL ends, then moves; anonymous
  // requests are never cached and move at once. The second pass's entries expire first, so the
  // ones stored now are known to be fresh.
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
  // No request SENT later than TTL + 1 s after set-weight may be answered from the old decision.
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
  assert.equal(moved.size, watched.length, `${watched.length - moved.size} users still on stable ${Date.now() - setAt} ms after set-weight`);
  const stale = lastStableSentAt - setAt;
  assert.ok(stale <= (DECISION_TTL_SECONDS + 1) * 1000, `a cached user was answered stable for a request sent ${stale} ms after set-weight, beyond the TTL + 1 s`);

  // graylane's decision listener goes down. A decision cached a moment ago still serves (no
  // subrequest on a hit) but only until its TTL ends; then nginx falls back to stable. The uncached
  // app route falls back at once.
  const storedSentAt = Date.now();
  assert.equal(await via(s.nginx, '/cart', { 'x-user-id': 'fresh-user-vip' }), 'beta', 'set-weight 100: every user is in beta');
  await s.app.decide!.close();
  assert.equal(await via(s.nginx, '/app/home', { 'x-user-id': 'someone', 'x-app-version': '2.4.0' }), 'stable', 'no answer: the fallback version');
  assert.equal(await via(s.nginx, '/cart', { 'x-user-id': 'another-user' }), 'stable', 'no answer: the fallback version');
  if (Date.now() - storedSentAt < (DECISION_TTL_SECONDS - 1) * 1000) {
    assert.equal(await via(s.nginx, '/cart', { 'x-user-id': 'fresh-user-vip' }), 'beta', 'a cached decision needs no graylane');
  }
  let lastBetaSentAt = storedSentAt;
  let fellBack = false;
  while (!fellBack && Date.now() - storedSentAt < (DECISION_TTL_SECONDS + 3) * 1000) {
    const sentAt = Date.now();
    if ((await via(s.nginx, '/cart', { 'x-user-id': 'fresh-user-vip' })) === 'stable') fellBack = true;
    else lastBetaSentAt = sentAt;
    await sleep(100);
  }
  assert.ok(fellBack, 'the cached decision outlived its TTL');
  assert.ok(lastBetaSentAt - storedSentAt <= (DECISION_TTL_SECONDS + 1) * 1000, `a cached decision served a request sent ${lastBetaSentAt - storedSentAt} ms after it was stored`);
});

/** graylane_requests_total{route, service="web", version, lane=version, class} from /metrics. */
function requests(lines: string[], route: string, version: string, cls: string): number {
  return Number(lines.find((l) => l.startsWith(`graylane_requests_total{route="${route}",service="web",version="${version}",lane="${version}",class="${cls}"}`))?.split(' ')[1] ?? 0);
}

test('the Lua tier: a rollout aborts on 5xx graylane learns only from nginx\'s aggregated reports; every outcome is counted, in a few reports', async (t) => {
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
  assert.match(s.nginx.exported, /log_by_lua_block \{ graylane\.count\(0\) \}/);
  const admin = adminUrlOf(s.app);
  await waitForRollout(admin, 'web-v2', (v) => v.weight === 50);
  // Traffic through nginx only; the gateway's own listener gets nothing.
  const seen: string[] = [];
  let aborted = false;
  const deadline = Date.now() + 20_000;
  while (!aborted && Date.now() < deadline) {
    seen.push(...(await pool(Array.from({ length: 20 }), 4, () => via(s.nginx, '/'))));
    aborted = (await getRollout(admin, 'web-v2')).phase === 'Degraded';
  }
  const v = await waitForRollout(admin, 'web-v2', (x) => x.phase === 'Degraded', 5000);
  assert.equal(v.reason, 'AnalysisFailed');
  seen.push(...(await pool(Array.from({ length: 20 }), 4, () => via(s.nginx, '/'))));
  assert.deepEqual(new Set(seen.slice(-20)), new Set(['stable']), 'after the abort every request is answered stable');

  // Every request the client saw is counted once, by version and status class (nginx posts once a
  // second; wait for the last report), though nginx sent far fewer outcome objects than requests.
  const expected = { stable: seen.filter((x) => x === 'stable').length, beta: seen.filter((x) => x === 'beta').length, beta5xx: seen.filter((x) => x === 'status 500').length };
  assert.ok(expected.beta5xx > 0 && expected.stable + expected.beta + expected.beta5xx === seen.length, JSON.stringify(expected));
  let got = {};
  await until(`every outcome counted: ${JSON.stringify(expected)}`, async () => {
    const lines = await s.metrics();
    got = { stable: requests(lines, 'shop', 'stable', '2xx'), beta: requests(lines, 'shop', 'beta', '2xx'), beta5xx: requests(lines, 'shop', 'beta', '5xx') };
    return JSON.stringify(got) === JSON.stringify(expected);
  }, 10_000).catch((err: Error) => assert.fail(`${err.message}; counted ${JSON.stringify(got)}`));
  const counts = s.app.decide!.reportHttp!.counts();
  assert.deepEqual(Object.entries(counts.refused).filter(([, n]) => n > 0), [], 'nothing refused: the token is right, every name known');
  assert.ok(counts.counted < seen.length / 2, `${counts.counted} outcome objects for ${seen.length} requests: aggregated`);
  assert.doesNotMatch(s.nginx.errors(), /graylane: outcome report/, 'every report delivered');
});

test('the Lua tier stores only what the decision listener allows, never past the TTL: a stand-in listener answering cacheable, malformed and failed decisions', async (t) => {
  const dir: TempDir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  // The stand-in: what it answers depends on the user; it counts the checks per user.
  const checks = new Map<string, number>();
  const seenHeaders: http.IncomingHttpHeaders[] = [];
  const decide = http.createServer((req, res) => {
    const user = String(req.headers['x-user-id'] ?? '');
    checks.set(user, (checks.get(user) ?? 0) + 1);
    seenHeaders.push(req.headers);
    const beta = ['x-gray-lane', 'beta', 'x-graylane-version', 'beta', 'baggage', 'graylane-lane=beta'];
    const answers: Record<string, [number, string[]]> = {
      long: [200, [...beta, 'x-accel-expires', '3600']],
      twice: [200, [...beta, 'x-gray-lane', 'alpha', 'x-accel-expires', '3600']],
      junk: [200, [...beta, 'x-accel-expires', '5abc']],
      cookie: [200, [...beta, 'set-cookie', 'gl_vid=abc; Path=/', 'x-accel-expires', '5']],
      unsaid: [200, beta],
      failing: [500, ['x-accel-expires', '5']],
      denied: [403, ['x-accel-expires', '5']],
    };
    const [status, headers] = answers[user] ?? [200, [...beta, 'x-accel-expires', '5']];
    res.writeHead(status, [...headers, 'content-length', '0']);
    res.end();
  });
  await new Promise<void>((resolve) => decide.listen(0, '127.0.0.1', resolve));
  const file = dir.file('graylane.yaml');
  writeFileSync(
    file,
    [
      `decide: { listen: 127.0.0.1:${(decide.address() as AddressInfo).port}, proxy: nginx }`,
      'services:',
      `  web: { versions: { stable: [${stable.url}], beta: [${beta.url}] } }`,
      'routes:',
      '  - { name: shop, match: { host: shop.example.com }, service: web, identity: [header:x-user-id, query:uid], rules: [{ lane: beta, percent: 50 }] }',
    ].join('\n'),
  );
  const nginx = await startNginx(dir.path, file, { lua: true, workers: 2, exportArgs: ['--lua'] });
  t.after(async () => {
    await nginx.stop();
    decide.close();
    decide.closeAllConnections();
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const five = async (user: string, extra: Record<string, string> = {}) => {
    const out: string[] = [];
    for (let i = 0; i < 5; i++) out.push(await via(nginx, '/cart?x=1', { 'x-user-id': user, ...extra }));
    return out;
  };

  // The check request: the original URI, the route and identity nginx keys by.
  assert.deepEqual(await five('ok'), Array(5).fill('beta'));
  assert.equal(checks.get('ok'), 1, 'one check, four hits');
  const h = seenHeaders[0]!;
  assert.equal(h['x-original-uri'], '/cart?x=1');
  assert.equal(h['x-graylane-route'], 'shop');
  assert.equal(h['x-graylane-identity'], 'ok');
  // The identity from the query when the header is absent: keyed and sent the same way.
  assert.equal(await via(nginx, '/cart?uid=q-user'), 'beta');
  assert.equal(seenHeaders.at(-1)!['x-graylane-identity'], 'q-user');

  // Not stored: a repeated lane header (not a decision: the fallback), a TTL that is not a number,
  // a visitor cookie, an answer that does not say it may be stored, a failed check (the fallback).
  assert.deepEqual(await five('twice'), Array(5).fill('stable'));
  assert.deepEqual(await five('junk'), Array(5).fill('beta'));
  assert.deepEqual(await five('cookie'), Array(5).fill('beta'));
  assert.deepEqual(await five('unsaid'), Array(5).fill('beta'));
  assert.deepEqual(await five('failing'), Array(5).fill('stable'));
  assert.deepEqual(await five('denied'), Array(5).fill('status 403'));
  for (const user of ['twice', 'junk', 'cookie', 'unsaid', 'failing', 'denied']) assert.equal(checks.get(user), 5, `${user}: every request asked`);
  // Never looked up: a request with baggage (the answer carries it), an anonymous one.
  assert.deepEqual(await five('ok', { baggage: 'a=b' }), Array(5).fill('beta'));
  assert.equal(checks.get('ok'), 6, 'with baggage every request asks');
  const anonymousBefore = checks.get('') ?? 0; // the query-identity request above sent no x-user-id
  assert.deepEqual(await five(''), Array(5).fill('beta'));
  assert.equal(checks.get(''), anonymousBefore + 5, 'anonymous: every request asks');

  // An answer that asks for an hour is kept for the TTL: a request sent later than the TTL + 1 s
  // after the one that stored it asks again.
  const storedSentAt = Date.now();
  assert.equal(await via(nginx, '/cart', { 'x-user-id': 'long' }), 'beta');
  let lastHitSentAt = storedSentAt;
  while (checks.get('long') === 1 && Date.now() - storedSentAt < (DECISION_TTL_SECONDS + 3) * 1000) {
    const sentAt = Date.now();
    await via(nginx, '/cart', { 'x-user-id': 'long' });
    if (checks.get('long') === 1) lastHitSentAt = sentAt;
    await sleep(100);
  }
  assert.equal(checks.get('long'), 2, 'asked again once the TTL ended');
  assert.ok(lastHitSentAt > storedSentAt, 'the stored answer served no request');
  assert.ok(lastHitSentAt - storedSentAt <= (DECISION_TTL_SECONDS + 1) * 1000, `kept ${lastHitSentAt - storedSentAt} ms, beyond the TTL + 1 s`);
});
