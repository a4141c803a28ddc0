/**
 * Something other than a regular file at the config path (issue #19, item 13).
 *
 * - A running `graylane serve` whose config is replaced by a FIFO (renamed over it, as a writer
 *   would): the reload is rejected at once with a message naming the FIFO, logged, and shown in
 *   /api/v1/config; the old config keeps serving; and hot reload still works afterwards, also for a
 *   file with the very content last loaded. Before the fix the read blocked forever and the watcher
 *   never looked at the file again.
 * - At start-up, `serve -c`, `validate`, `apply -f` and `import` refuse a FIFO, a directory and
 *   /dev/zero with a clear error, never a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { api, runCli, send, startServe, startUpstream, tally, writeFile, type ServeChild } from '../rollout/helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

interface ConfigInfo {
  reloads: number;
  lastReloadError: { message: string; issues: { code: string }[] } | null;
}

function configFor(lane: 'stable' | 'beta', urls: { stable: string; beta: string }, state: string): string {
  return `listen: 127.0.0.1:0
accessLog: false
drain: 0s
admin: { listen: 127.0.0.1:0 }
state: { path: ${JSON.stringify(state)} }
services:
  web:
    versions:
      stable: [${urls.stable}]
      beta: [${urls.beta}]
routes:
  - service: web
    visitorCookie: false
    lane: ${lane}
`;
}

/** Makes a FIFO at `path`; returns a function that lets go a reader stuck on it (the bug), if any. */
function mkfifo(path: string): () => void {
  execFileSync('mkfifo', [path]);
  return () => release(path);
}

/** Opens a writer on the FIFO at `path`, so a reader blocked on it returns. */
function release(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: nobody is reading it, as it should be; or it is no FIFO any more.
  }
}

async function configInfo(serve: ServeChild): Promise<ConfigInfo> {
  return (await api<ConfigInfo>(serve.adminUrl, 'GET', '/api/v1/config')).body;
}

test('a FIFO swapped in at the config path of a running gateway: rejected at once, old config serves, hot reload works again after', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  let serve: ServeChild | undefined;
  const releases: (() => void)[] = [];
  t.after(async () => {
    for (const letGo of releases) letGo();
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
    await serve?.exited;
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const urls = { stable: stable.url, beta: beta.url };
  const file = dir.file('graylane.yaml');
  const good = configFor('stable', urls, dir.file('state.db'));
  await writeFile(file, good);
  serve = await startServe(file, dir.path);
  assert.deepEqual(tally(await send(serve.gatewayUrl, 5)), { stable: 5 });

  releases.push(mkfifo(dir.file('incoming.fifo')));
  await rename(dir.file('incoming.fifo'), file);
  // The FIFO now lives at `file`: let go a reader stuck on it there (the bug), if any.
  releases.push(() => release(file));
  await until('the rejection of the FIFO', async () => (await configInfo(serve!)).lastReloadError !== null, 5000);
  const info = await configInfo(serve);
  assert.equal(info.lastReloadError!.message, `${file}: cannot read config file: is a FIFO (named pipe), not a regular file (a config must be a regular file or a symlink to one)`);
  assert.deepEqual(info.lastReloadError!.issues.map((i) => i.code), ['unreadable-file']);
  assert.equal(info.reloads, 0);
  const logged = serve.log.find((l) => l.includes('config rejected'));
  assert.ok(logged, `the rejection is logged:\n${serve.log.join('\n')}`);
  assert.match((JSON.parse(logged) as { error: string }).error, /is a FIFO \(named pipe\), not a regular file/);
  assert.deepEqual(tally(await send(serve.gatewayUrl, 5)), { stable: 5 }, 'the old config keeps serving');

  // The very content last loaded, put back: applied (it clears the error), the watcher is not stuck.
  await writeFile(`${file}.tmp`, good);
  await rename(`${file}.tmp`, file);
  await until('the reload of the restored file', async () => (await configInfo(serve!)).reloads === 1, 5000);
  assert.equal((await configInfo(serve)).lastReloadError, null);

  // And a real change after it.
  await writeFile(`${file}.tmp`, configFor('beta', urls, dir.file('state.db')));
  await rename(`${file}.tmp`, file);
  await until('the reload of the changed file', async () => (await configInfo(serve!)).reloads === 2, 5000);
  assert.deepEqual(tally(await send(serve.gatewayUrl, 5)), { beta: 5 });
});

test('at start-up, serve, validate, apply and import refuse a FIFO, a directory and /dev/zero with a clear error, never a hang', async (t) => {
  const dir = await tempDir();
  const fifo = dir.file('graylane.yaml');
  const release = mkfifo(fifo);
  t.after(async () => {
    release();
    await dir.remove();
  });
  const cases: [string, RegExp][] = [
    [fifo, /is a FIFO \(named pipe\), not a regular file/],
    [dir.path, /is a directory, not a regular file/],
    ['/dev/zero', /is a character device, not a regular file/],
  ];
  for (const [path, reason] of cases) {
    const quoted = path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const commands = [
      ['serve', '-c', path],
      ['validate', path],
      // The store is never reached: the file is refused first.
      ['apply', '-f', path, '--store', 'etcd://127.0.0.1:1'],
    ];
    for (const args of commands) {
      const r = await runCli(args);
      assert.equal(r.code, 1, `graylane ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^${quoted}: cannot read config file: ${reason.source}`, 'm'), `graylane ${args.join(' ')}`);
    }
    if (path === dir.path) continue; // a directory is what import reads its files from
    const r = await runCli(['import', path]);
    assert.equal(r.code, 1, `graylane import ${path}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^graylane: ${quoted}: ${reason.source}`, 'm'));
  }
});
