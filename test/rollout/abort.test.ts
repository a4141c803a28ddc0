/**
 * What `rollout abort` does to requests the routes' own rules put into the canary's lane (issue #19
 * item 8): an aborted rollout's canary version gets nothing at all, rules and mirrors included,
 * until a retry; only the aborted rollout's service loses it (the lane goes on elsewhere, full-link);
 * a fail-closed lane answers 503; the state survives a restart. Real upstreams on 127.0.0.1 that
 * record what they received, the whole app in-process, commands through the admin API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import type { App } from '../../src/app.js';
import type { Overview } from '../../src/metrics/overview.js';
import { adminUrlOf, api, gatewayUrlOf, startTestApp, waitForRollout, writeFile } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

/** An upstream that says which version it is and keeps the lane header of every request it got. */
interface Recorder {
  url: string;
  /** Lane header of each request received (mirrored copies included), in order. */
  lanes: string[];
  /** Mirrored copies received. */
  copies: number;
  close(): Promise<void>;
}

async function recorder(version: string): Promise<Recorder> {
  const lanes: string[] = [];
  const self = { lanes, copies: 0 } as Recorder;
  const server = http.createServer((req, res) => {
    lanes.push(String(req.headers['x-gray-lane'] ?? ''));
    if (req.headers['x-graylane-mirror'] !== undefined) self.copies++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'x-version': version, 'content-length': 0 }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return self;
}

const rollout = (name: string, service: string) => `
  - name: ${name}
    service: ${service}
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: {}
`;

/**
 * `web` has a users list, a path keyword and a 30% sticky percent rule naming lane beta, and
 * mirrors every request to beta; `api` (another service with a beta version, same lane) and `pay`
 * (beta fail-closed) have their own rollouts.
 */
function configText(u: Record<string, Recorder>, state: string): string {
  return `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(state)} }
services:
  web:
    versions:
      stable: [${u.webStable!.url}]
      beta: [${u.webBeta!.url}]
  api:
    versions:
      stable: [${u.apiStable!.url}]
      beta: [${u.apiBeta!.url}]
  pay:
    failClosed: [beta]
    versions:
      stable: [${u.payStable!.url}]
      beta: [${u.payBeta!.url}]
routes:
  - match: { pathPrefix: /api/ }
    service: api
    identity: [header:x-user-id]
    visitorCookie: false
    rules:
      - { lane: beta, users: ["1001"] }
  - match: { pathPrefix: /pay/ }
    service: pay
    identity: [header:x-user-id]
    visitorCookie: false
    rules:
      - { lane: beta, users: ["1001"] }
  - service: web
    identity: [header:x-user-id]
    visitorCookie: false
    rules:
      - { lane: beta, users: ["1001"] }
      - { lane: beta, path: { contains: /new-checkout } }
      - { lane: beta, percent: 30 }
    mirror: { lane: beta, percent: 100 }
rollouts:${rollout('web-beta', 'web')}${rollout('api-beta', 'api')}${rollout('pay-beta', 'pay')}`;
}

/** The version that answered, or `status N`. */
async function versionOf(gateway: string, path: string, user?: string): Promise<string> {
  const res = await request(`${gateway}${path}`, { headers: user === undefined ? {} : { 'x-user-id': user } });
  await res.body.dump();
  return res.headers['x-version'] === undefined ? `status ${res.statusCode}` : String(res.headers['x-version']);
}

/** One request over a raw keep-alive connection; resolves with the response head (the bodies are empty). */
function rawRequest(socket: net.Socket, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => done(new Error(`no answer in 5 s; got ${JSON.stringify(got)}`)), 5000);
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.includes('\r\n\r\n')) done(null);
    };
    const done = (err: Error | null) => {
      clearTimeout(timer);
      socket.off('data', onData);
      if (err) reject(err);
      else resolve(got);
    };
    socket.on('data', onData);
    socket.write(head);
  });
}

const USERS = Array.from({ length: 60 }, (_, i) => `u${i}`);

test('abort: the canary gets nothing, rules, percent and mirror included, on its service only; fail-closed lanes 503; retry and restart', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir();
  const names = ['webStable', 'webBeta', 'apiStable', 'apiBeta', 'payStable', 'payBeta'];
  const u: Record<string, Recorder> = {};
  for (const n of names) u[n] = await recorder(n.endsWith('Beta') ? 'beta' : 'stable');
  const file = dir.file('graylane.yaml');
  await writeFile(file, configText(u, dir.file('state.db')));
  let app: App | undefined = await startTestApp(file);
  t.after(async () => {
    await app?.close({ drainMs: 0 });
    for (const r of Object.values(u)) await r.close();
    await dir.remove();
  });
  let gw = gatewayUrlOf(app);
  let admin = adminUrlOf(app);
  for (const name of ['web-beta', 'api-beta', 'pay-beta']) await waitForRollout(admin, name, (v) => v.reason === 'AwaitingPromotion');

  // Given the rules put these requests into lane beta, and beta serves them
  const percentUsers: string[] = [];
  for (const user of USERS) {
    // explain tells the percent rule from the rollout's (non-sticky) 20% split
    const e = await api<{ lane: string; by: string }>(admin, 'POST', '/api/v1/explain', { url: 'http://any.test/', headers: { 'x-user-id': user } });
    if (e.body.lane === 'beta' && e.body.by !== 'split') percentUsers.push(user);
  }
  for (const user of percentUsers) assert.equal(await versionOf(gw, '/', user), 'beta', `percent user ${user}`);
  assert.ok(percentUsers.length >= 8, `the 30% rule puts some users in beta: ${percentUsers.length} of ${USERS.length}`);
  assert.equal(await versionOf(gw, '/', '1001'), 'beta');
  assert.equal(await versionOf(gw, '/new-checkout/cart', 'x-anyone'), 'beta');
  // And beta gets a copy of every request stable serves
  const nobody = USERS.find((x) => !percentUsers.includes(x))!;
  let servedByStable = 0;
  for (let i = 0; i < 10; i++) if ((await versionOf(gw, '/', nobody)) === 'stable') servedByStable++;
  await until('mirrored copies reach beta', () => u.webBeta!.copies >= servedByStable && servedByStable > 0, 5000);

  // (and a raw keep-alive connection that was routed to beta before the abort)
  const port = Number(new URL(gw).port);
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  const userHead = 'GET / HTTP/1.1\r\nHost: any.test\r\nx-user-id: 1001\r\n\r\n';
  assert.match(await rawRequest(socket, userHead), /^HTTP\/1\.1 200[^]*\r\nx-version: beta\r\n/i);

  // When web's rollout is aborted
  const aborted = await api<{ traffic: Record<string, number> }>(admin, 'POST', '/api/v1/rollouts/web-beta/abort', {});
  assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
  await new Promise((r) => setTimeout(r, 200)); // copies mirrored before the abort land
  const betaBefore = u.webBeta!.lanes.length;
  const stableBefore = u.webStable!.lanes.length;
  const copiesBefore = u.webBeta!.copies;

  // Then every request of web goes to stable: the users list (on the same keep-alive connection
  // too), the keyword, the percent users, and nothing more is mirrored to beta
  assert.match(await rawRequest(socket, userHead), /^HTTP\/1\.1 200[^]*\r\nx-version: stable\r\n/i);
  assert.equal(await versionOf(gw, '/', '1001'), 'stable');
  assert.equal(await versionOf(gw, '/new-checkout/cart', 'x-anyone'), 'stable');
  for (const user of percentUsers) assert.equal(await versionOf(gw, '/', user), 'stable', `percent user ${user}`);
  // And the request keeps its lane on the way down (full-link: the next hops still serve beta)
  const sent = u.webStable!.lanes.slice(stableBefore);
  assert.equal(sent.length, 3 + percentUsers.length);
  assert.deepEqual(new Set(sent), new Set(['beta']), 'stable served them in lane beta');
  for (let i = 0; i < 10; i++) assert.equal(await versionOf(gw, '/', nobody), 'stable');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(u.webBeta!.copies, copiesBefore, 'mirroring to the aborted canary stopped');
  assert.equal(u.webBeta!.lanes.length, betaBefore, 'web beta received nothing after the abort');
  // And the other services keep their beta version for the same lane
  assert.equal(await versionOf(gw, '/api/x', '1001'), 'beta');
  assert.equal(await versionOf(gw, '/pay/x', '1001'), 'beta');

  // And explain and the overview say so
  const why = await api<{ version: string; fellBack: boolean; dispatchReason: string }>(admin, 'POST', '/api/v1/explain', {
    url: 'http://any.test/',
    headers: { 'x-user-id': '1001' },
  });
  assert.equal(why.body.version, 'stable');
  assert.equal(why.body.fellBack, true);
  assert.match(why.body.dispatchReason, /withdrawn/);
  const overview = await api<Overview>(admin, 'GET', '/api/v1/overview');
  const versions = (svc: string) => overview.body.services.find((s) => s.name === svc)!.versions;
  assert.equal(versions('web').find((v) => v.name === 'beta')?.withdrawn, true);
  assert.equal(versions('api').find((v) => v.name === 'beta')?.withdrawn, false);

  // When pay's rollout, whose beta lane is fail-closed, is aborted: 503 instead of stable
  assert.equal((await api(admin, 'POST', '/api/v1/rollouts/pay-beta/abort', {})).status, 200);
  const payBeta = u.payBeta!.lanes.length;
  assert.equal(await versionOf(gw, '/pay/x', '1001'), 'status 503');
  assert.equal(await versionOf(gw, '/pay/x', 'someone-else'), 'stable');
  assert.equal(u.payBeta!.lanes.length, payBeta);

  // When the process restarts on the same state file: still aborted, still nothing to beta
  await app.close({ drainMs: 0 });
  app = await startTestApp(file);
  gw = gatewayUrlOf(app);
  admin = adminUrlOf(app);
  assert.equal(await versionOf(gw, '/', '1001'), 'stable');
  assert.equal(await versionOf(gw, '/pay/x', '1001'), 'status 503');
  assert.equal(await versionOf(gw, '/api/x', '1001'), 'beta');
  assert.equal(u.webBeta!.lanes.length, betaBefore);

  // When web's rollout is retried: the rules send their users to beta again
  assert.equal((await api(admin, 'POST', '/api/v1/rollouts/web-beta/retry', {})).status, 200);
  await waitForRollout(admin, 'web-beta', (v) => v.attempt === 2 && v.reason === 'AwaitingPromotion');
  assert.equal(await versionOf(gw, '/', '1001'), 'beta');
  assert.equal(await versionOf(gw, '/new-checkout/cart', 'x-anyone'), 'beta');
  for (const user of percentUsers) assert.equal(await versionOf(gw, '/', user), 'beta', `percent user ${user}`);
});
