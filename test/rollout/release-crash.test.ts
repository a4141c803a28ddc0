/**
 * kill -9 of the controller in the middle of a release's promotion: `graylane serve` (a child
 * process) is killed with SIGKILL a few milliseconds after `release promote` is sent, at several
 * delays, and started again on the same state file. Each time, either every service of the release
 * has its gray version as stable or none has: the promotion is one committed status.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { bucketOf, threshold } from '../../src/routing/hash.js';
import { api, startServe, startUpstream, TOKEN, writeFile, type ServeChild, type Upstream } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

const SERVICES = ['a', 'b', 'c'];
const SALT = 'crash-salt';
/** A user outside the release's 50% share: routed by the stables alone. */
const OUTSIDER = Array.from({ length: 100 }, (_, i) => `u${i}`).find((u) => bucketOf(SALT, u) >= threshold(50))!;

function configOf(state: string, ups: Record<string, Upstream>): string {
  return [
    'listen: 127.0.0.1:0',
    'accessLog: false',
    'drain: 0s',
    'admin: { listen: 127.0.0.1:0 }',
    `state: { path: ${JSON.stringify(state)} }`,
    'services:',
    ...SERVICES.map((s) => `  ${s}: { versions: { stable: [${ups[`${s}-stable`]!.url}], gray: [${ups[`${s}-gray`]!.url}] } }`),
    'routes:',
    ...SERVICES.map((s) => `  - { name: r${s}, service: ${s}, match: { pathPrefix: /${s} }, identity: [header:x-user-id] }`),
    'releases:',
    '  abc:',
    '    lane: gray',
    `    services: [${SERVICES.join(', ')}]`,
    '    entry: { route: ra }',
    `    salt: ${SALT}`,
    '    steps: [ { setWeight: 50 }, { pause: {} } ]',
    '',
  ].join('\n');
}

/** Which version of each service serves a user outside the share, by path. */
async function servedBy(gateway: string): Promise<string[]> {
  const out: string[] = [];
  for (const s of SERVICES) {
    const res = await request(`${gateway}/${s}`, { headers: { 'x-user-id': OUTSIDER } });
    await res.body.dump();
    out.push(String(res.headers['x-version']));
  }
  return out;
}

interface View {
  phase: string;
  reason: string;
  attempt: number;
  services: { name: string; state: string; previousStable: unknown }[];
}

async function settled(admin: string): Promise<View> {
  let v: View | undefined;
  await until('the release settles', async () => {
    v = (await api<View>(admin, 'GET', '/api/v1/releases/abc')).body;
    return v.phase === 'Healthy' || v.reason === 'AwaitingPromotion';
  }, 15_000);
  return v!;
}

test('kill -9 mid-promotion of a release: after a restart every service is promoted or none is', async (t) => {
  const dir = await tempDir();
  const ups: Record<string, Upstream> = {};
  for (const s of SERVICES) for (const v of ['stable', 'gray']) ups[`${s}-${v}`] = await startUpstream(`${s}-${v}`);
  const children: ServeChild[] = [];
  t.after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await Promise.all(Object.values(ups).map((u) => u.close()));
    await dir.remove();
  });
  const file = dir.file('graylane.yaml');
  await writeFile(file, configOf(dir.file('state.db'), ups));

  const outcomes: string[] = [];
  let serve = await startServe(file, dir.path);
  children.push(serve);
  for (const delayMs of [0, 3, 8, 15, 40]) {
    const before = await settled(serve.adminUrl);
    assert.equal(before.reason, 'AwaitingPromotion');
    assert.deepEqual(await servedBy(serve.gatewayUrl), ['a-stable', 'b-stable', 'c-stable']);
    // When: promote is sent and the process is killed -9 a few ms later
    const sent = request(`${serve.adminUrl}/api/v1/releases/abc/promote`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    }).then((r) => r.body.dump(), () => undefined);
    await new Promise((r) => setTimeout(r, delayMs));
    serve.child.kill('SIGKILL');
    await serve.exited;
    await sent;
    // Then, started again on the same state file: all three promoted, or none
    serve = await startServe(file, dir.path);
    children.push(serve);
    const after = await settled(serve.adminUrl);
    const versions = await servedBy(serve.gatewayUrl);
    if (after.phase === 'Healthy') {
      assert.deepEqual(versions, ['a-gray', 'b-gray', 'c-gray'], `killed ${delayMs} ms after promote`);
      assert.deepEqual(after.services.map((s) => s.state), ['promoted', 'promoted', 'promoted']);
      assert.ok(after.services.every((s) => s.previousStable !== null), 'every previous stable recorded in the same commit');
      outcomes.push(`${delayMs}ms: all promoted`);
      // Back to the pause for the next round: undo, then retry.
      assert.equal((await api(serve.adminUrl, 'POST', '/api/v1/releases/abc/undo', {})).status, 200);
      assert.deepEqual(await servedBy(serve.gatewayUrl), ['a-stable', 'b-stable', 'c-stable']);
      assert.equal((await api(serve.adminUrl, 'POST', '/api/v1/releases/abc/retry', {})).status, 200);
    } else {
      assert.deepEqual(versions, ['a-stable', 'b-stable', 'c-stable'], `killed ${delayMs} ms after promote`);
      outcomes.push(`${delayMs}ms: none promoted`);
    }
  }
  console.log(`# outcomes: ${outcomes.join(', ')}`);
});
