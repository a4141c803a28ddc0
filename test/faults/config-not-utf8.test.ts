/**
 * A config file that is not UTF-8 (found trying graylane as a new user, issue #13). Before: the bytes
 * were decoded with U+FFFD for each stray byte, without a word, so a file saved as Latin-1 loaded (and
 * hot-reloaded) with `caf\uFFFD` where it said `café`: a rule that silently never matches.
 *
 * - A running `graylane serve` whose config is changed to Latin-1 rejects the reload with
 *   file:line:column, logs it, shows it in /api/v1/config, and keeps serving the old config.
 * - `validate`, `serve -c` and `apply -f` refuse such a file (and a UTF-16 one) at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile as writeBytes } from 'node:fs/promises';
import { api, runCli, send, startServe, startUpstream, tally, writeFile, type ServeChild } from '../rollout/helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

interface ConfigInfo {
  reloads: number;
  lastReloadError: { message: string; issues: { code: string; line: number; column: number }[] } | null;
}

/** A config whose beta lane is for requests with `x-team: <team>`; the rest go to stable. */
function configFor(team: string, urls: { stable: string; beta: string }, state: string): string {
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
    rules:
      - { lane: beta, header: { name: x-team, equals: ${team} } }
`;
}

async function configInfo(serve: ServeChild): Promise<ConfigInfo> {
  return (await api<ConfigInfo>(serve.adminUrl, 'GET', '/api/v1/config')).body;
}

test('a Latin-1 config swapped in under a running gateway: rejected at its line and column, old config serves', async (t) => {
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
  await writeFile(file, configFor('ops', urls, dir.file('state.db')));
  serve = await startServe(file, dir.path);
  assert.deepEqual(tally(await send(serve.gatewayUrl, 3, { 'x-team': 'ops' })), { beta: 3 });

  // The team renamed to `café`, the file saved as Latin-1 (é is the one byte 0xE9).
  const latin1 = Buffer.from(configFor('café', urls, dir.file('state.db')), 'latin1');
  await writeBytes(`${file}.tmp`, latin1);
  await rename(`${file}.tmp`, file);
  await until('the rejection of the Latin-1 file', async () => (await configInfo(serve!)).lastReloadError !== null, 5000);
  const info = await configInfo(serve);
  const line = configFor('café', urls, '').split('\n').findIndex((l) => l.includes('café')) + 1;
  const column = configFor('café', urls, '').split('\n')[line - 1]!.indexOf('é') + 1;
  assert.equal(
    info.lastReloadError!.message,
    `${file}:${line}:${column}: cannot read config file: is not UTF-8 text: byte 0xE9 here starts no UTF-8 character (saved as Latin-1 or Windows-1252?): save it as UTF-8, the only encoding a config file may have`,
  );
  assert.deepEqual(info.lastReloadError!.issues.map((i) => [i.code, i.line, i.column]), [['unreadable-file', line, column]]);
  assert.equal(info.reloads, 0);
  assert.ok(serve.log.some((l) => l.includes('config rejected') && l.includes('is not UTF-8 text')), serve.log.join('\n'));
  assert.deepEqual(tally(await send(serve.gatewayUrl, 3, { 'x-team': 'ops' })), { beta: 3 }, 'the old config keeps serving');
});

test('at start-up, validate, serve and apply refuse a Latin-1 and a UTF-16 config with file:line:column', async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const text = configFor('café', { stable: 'http://127.0.0.1:1', beta: 'http://127.0.0.1:2' }, dir.file('state.db'));
  const latin1 = dir.file('latin1.yaml');
  await writeBytes(latin1, Buffer.from(text, 'latin1'));
  const utf16 = dir.file('utf16.yaml');
  await writeBytes(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  const line = text.split('\n').findIndex((l) => l.includes('café')) + 1;
  const column = text.split('\n')[line - 1]!.indexOf('é') + 1;
  const cases: [string, string][] = [
    [latin1, `${latin1}:${line}:${column}: cannot read config file: is not UTF-8 text: byte 0xE9 here`],
    [utf16, `${utf16}: cannot read config file: is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8`],
  ];
  for (const [path, expected] of cases) {
    for (const args of [['validate', path], ['serve', '-c', path], ['apply', '-f', path, '--store', 'etcd://127.0.0.1:1']]) {
      const r = await runCli(args);
      assert.equal(r.code, 1, `graylane ${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.split('\n').some((l) => l.startsWith(expected)), `graylane ${args.join(' ')}:\n${r.stderr}`);
    }
  }
});
