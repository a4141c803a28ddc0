/**
 * The address the CLI reaches the admin API at (--admin, GRAYLANE_ADMIN), as a new user writes it
 * (issue #13): `HOST:PORT` the way --admin-listen takes it, the gateway's listen by mistake, and
 * things that are no address at all. Real `graylane serve` and CLI child processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startServe, startUpstream, writeFile, type ServeChild } from '../rollout/helpers.js';
import { tempDir } from '../support/temp.js';

test('--admin HOST:PORT reaches the admin API; the gateway or a non-HTTP address is named for what it is', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  let serve: ServeChild | undefined;
  t.after(async () => {
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
    await serve?.exited;
    await stable.close();
    await dir.remove();
  });
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(dir.file('state.db'))} }
services:
  web:
    versions:
      stable: [${stable.url}]
routes:
  - match: { host: shop.example.com }
    service: web
`,
  );
  serve = await startServe(file, dir.path);
  const hostPort = serve.adminUrl.replace(/^http:\/\//, '');

  // As --admin-listen writes it: the same as http://HOST:PORT.
  for (const args of [['--admin', hostPort], []]) {
    const r = await runCli(['rollout', 'list', ...args], args.length === 0 ? { GRAYLANE_ADMIN: hostPort } : {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+SERVICE/);
  }

  // The gateway's own listen (no route for the request's host) answers 404 no_route: say so, not a bare "HTTP 404".
  const gateway = await runCli(['rollout', 'list', '--admin', serve.gatewayUrl]);
  assert.equal(gateway.code, 1);
  assert.equal(
    gateway.stderr.trim(),
    `graylane: ${serve.gatewayUrl} answered GET /api/v1/rollouts with HTTP 404 (no_route): is it graylane's admin API (admin.listen or --admin-listen, default 127.0.0.1:9090), not the gateway's listen? Set --admin or GRAYLANE_ADMIN`,
  );

  // No address at all: refused as such, not "cannot reach ... is graylane serve running?".
  for (const bad of ['ftp://127.0.0.1:9090', ':9090', 'http://a b']) {
    for (const command of [['rollout', 'list', '--admin', bad], ['top', '-n', '1', '--admin', bad]]) {
      const r = await runCli(command);
      assert.equal(r.code, 1, `${command.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim(), `graylane: admin API address "${bad}" (--admin or GRAYLANE_ADMIN) is not http://HOST:PORT, e.g. http://127.0.0.1:9090`);
    }
  }
});
