/**
 * kill -9 of a process writing the config, and of the gateway itself.
 *
 * - A writer that writes a temporary file and renames it over the config (what `graylane import`,
 *   editors and Kubernetes do), killed halfway through the temporary file: the gateway, watching the
 *   directory, never loads the half file; after its own kill -9 and restart it loads the intact
 *   config. A complete write afterwards is applied, so the watcher was live all along.
 * - A writer that rewrites the config in place, killed halfway: the gateway rejects the torn file
 *   (reported in /api/v1/config, lastReloadError) and keeps serving the previous config. A restart
 *   on a torn file refuses to start with the file's line and column, rather than serve something
 *   else: write configs by rename.
 *
 * kill -9 in the middle of a rollout is covered by test/rollout/restart.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, rename } from 'node:fs/promises';
import { api, runCli, send, startServe, startUpstream, tally, writeFile, type ServeChild } from '../rollout/helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

/** A config whose single route is pinned to `lane`. */
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

/**
 * A writer child: writes the first half of `text` to `path` (opened with `flags`), fsyncs, prints
 * "half" and then waits to be killed.
 */
async function halfWriter(path: string, text: string, flags: 'w'): Promise<{ kill(): Promise<void> }> {
  const half = text.slice(0, Math.floor(text.length / 2));
  const child = spawn(
    process.execPath,
    ['-e', `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(path)},${JSON.stringify(flags)});fs.writeSync(fd,${JSON.stringify(half)});fs.fsyncSync(fd);process.stdout.write('half');setInterval(()=>{},1e9);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
  });
  return {
    kill: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

interface ConfigInfo {
  reloads: number;
  lastReloadError: { message: string } | null;
}

async function configInfo(serve: ServeChild): Promise<ConfigInfo> {
  return (await api<ConfigInfo>(serve.adminUrl, 'GET', '/api/v1/config')).body;
}

test('kill -9 of a rename-writer halfway, then of the gateway: the half file is never loaded, the restart serves the intact config', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const children: ServeChild[] = [];
  t.after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await stable.close();
    await beta.close();
    await dir.remove();
  });
  const urls = { stable: stable.url, beta: beta.url };
  const file = dir.file('graylane.yaml');
  await writeFile(file, configFor('stable', urls, dir.file('state.db')));
  const first = await startServe(file, dir.path);
  children.push(first);
  assert.deepEqual(tally(await send(first.gatewayUrl, 10)), { stable: 10 });

  const writer = await halfWriter(`${file}.tmp`, configFor('beta', urls, dir.file('state.db')), 'w');
  await writer.kill();
  assert.ok((await readdir(dir.path)).includes('graylane.yaml.tmp'), 'the torn temporary file is left behind');
  // Give the watcher every chance to (wrongly) react: its debounce is 50 ms.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(tally(await send(first.gatewayUrl, 10)), { stable: 10 });
  const info = await configInfo(first);
  assert.equal(info.reloads, 0, 'nothing was reloaded');
  assert.equal(info.lastReloadError, null, 'nothing was even rejected: the config file itself never changed');

  first.child.kill('SIGKILL');
  await first.exited;
  const second = await startServe(file, dir.path);
  children.push(second);
  assert.deepEqual(tally(await send(second.gatewayUrl, 10)), { stable: 10 }, 'the restart loads the intact config');

  // A complete write by rename is applied: the watcher was live all along.
  await writeFile(`${file}.tmp`, configFor('beta', urls, dir.file('state.db')));
  await rename(`${file}.tmp`, file);
  await until('the reload', async () => (await configInfo(second)).reloads === 1, 10_000);
  assert.deepEqual(tally(await send(second.gatewayUrl, 10)), { beta: 10 });
});

test('kill -9 of an in-place writer halfway: the torn config is rejected and the old one keeps serving; a restart on it refuses to start', async (t) => {
  const dir = await tempDir();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  let serve: ServeChild | undefined;
  t.after(async () => {
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

  const writer = await halfWriter(file, configFor('beta', urls, dir.file('state.db')), 'w');
  await writer.kill();
  await until('the rejection', async () => (await configInfo(serve!)).lastReloadError !== null, 10_000);
  const info = await configInfo(serve);
  assert.equal(info.reloads, 0);
  t.diagnostic(`torn config rejected: ${info.lastReloadError!.message.split('\n')[0]}`);
  assert.deepEqual(tally(await send(serve.gatewayUrl, 10)), { stable: 10 }, 'the previous config keeps serving');

  serve.child.kill('SIGKILL');
  await serve.exited;
  const restart = await runCli(['serve', '-c', file]);
  assert.equal(restart.code, 1, 'a restart on a torn config refuses to start');
  assert.match(restart.stderr, /graylane\.yaml:\d+:\d+: /);
  assert.notEqual(await readFile(file, 'utf8'), good);
});
