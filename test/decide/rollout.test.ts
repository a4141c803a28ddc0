/**
 * Given graylane deciding for nginx with a canary rollout at setWeight 100 (paused there), when the
 * rollout is aborted through the admin API, then the very next decisions are the stable lane: the
 * decision listener reads the gateway's current snapshot, rollout overlays included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { adminUrlOf, api, config, startTestApp, startUpstream, waitForRollout, TOKEN } from '../rollout/helpers.js';
import { raw } from '../security/helpers.js';
import type { App } from '../../src/app.js';
import { tempDir } from '../support/temp.js';

/** The lanes of `n` anonymous nginx auth_request checks (nginx's documented subrequest; see decide.test.ts). */
async function decisions(app: App, n: number, user = ''): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = user === '' ? '' : `x-user-id: ${user}\r\n`;
    const r = await raw(app.decide!.address.port, `GET /_graylane HTTP/1.1\r\nHost: shop.example.com\r\nX-Original-URI: /\r\n${who}\r\n`, { responses: 1 });
    const lane = r.responses[0]?.headers['x-gray-lane'] ?? `status ${r.responses[0]?.status}`;
    out[lane] = (out[lane] ?? 0) + 1;
  }
  return out;
}

test('a rollout\'s weight and its abort change the decisions at once, for users that rules put in the canary\'s lane too', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  const rest = `    identity: [header:x-user-id]
    rules:
      - { lane: beta, users: ["1001"] }
decide: { listen: 127.0.0.1:0, proxy: nginx }
rollouts:
  - name: web-v2
    service: web
    canary: beta
    strategy:
      canary:
        steps:
          - setWeight: 100
          - pause: {}
`;
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest }));
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  await waitForRollout(admin, 'web-v2', (v) => v.reason === 'AwaitingPromotion' && v.weight === 100);
  assert.deepEqual(await decisions(app, 20), { beta: 20 });

  const aborted = await api(admin, 'POST', '/api/v1/rollouts/web-v2/abort', {}, TOKEN);
  assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
  assert.deepEqual(await decisions(app, 20), { stable: 20 });
  // A rule naming the withdrawn canary's lane: answered as the fallback lane, so the proxy's map
  // sends the user where the gateway would (found from outside: it answered beta).
  assert.deepEqual(await decisions(app, 3, '1001'), { stable: 3 });
});
