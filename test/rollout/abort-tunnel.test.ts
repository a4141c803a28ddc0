/**
 * An upgraded connection (WebSocket) to a canary that is then aborted: the tunnel is closed at the
 * abort, since an aborted rollout's canary gets no traffic at all (issue #19 item 8; found from
 * outside: frames kept flowing to the aborted canary for as long as the tunnel lived).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { adminUrlOf, api, config, startTestApp, startUpstream, waitForRollout, TOKEN } from './helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

/** An upstream that switches every upgrade request to its protocol and then echoes bytes. */
async function echoUpgrades(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let switched = false;
    s.on('data', (d) => {
      if (switched) return void s.write(d);
      if (d.includes('\r\n\r\n')) {
        switched = true;
        s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('abort closes the tunnels open to the canary; a new upgrade goes to stable', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await echoUpgrades();
  const file = dir.file('graylane.yaml');
  const rest = `    identity: [header:x-user-id]
    rules:
      - { lane: beta, users: ["1001"] }
${webBetaCanary(['setWeight: 10', 'pause: {}'])}`;
  await writeFile(file, config({ stable: stable.url, beta: beta.url, state: dir.file('state.db'), rest }));
  const app = await startTestApp(file);
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const admin = adminUrlOf(app);
  await waitForRollout(admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion' || v.phase === 'Paused');

  const client = net.connect(app.gateway.address.port, '127.0.0.1');
  let text = '';
  let closed = false;
  client.on('data', (d) => (text += d.toString('latin1')));
  client.on('close', () => (closed = true));
  client.on('error', () => {});
  client.write('GET /ws HTTP/1.1\r\nHost: shop.example\r\nx-user-id: 1001\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await until('the 101 from beta', () => text.includes('101 Switching Protocols'), 5000);
  client.write('before');
  await until('the echo through the tunnel', () => text.endsWith('before'), 5000);

  assert.equal((await api(admin, 'POST', '/api/v1/rollouts/web-beta/abort', {}, TOKEN)).status, 200);
  await until('the tunnel to the aborted canary closed', () => closed, 5000);

  // A new upgrade by the same user is served by stable (a plain upstream: an ordinary answer).
  const again = net.connect(app.gateway.address.port, '127.0.0.1');
  let answer = '';
  again.on('data', (d) => (answer += d.toString('latin1')));
  again.on('error', () => {});
  again.write('GET /ws HTTP/1.1\r\nHost: shop.example\r\nx-user-id: 1001\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n');
  await until('an answer to the new upgrade', () => answer.includes('\r\n\r\n'), 5000);
  assert.doesNotMatch(answer, /101 Switching Protocols/);
  again.destroy();
});
