/**
 * Hot reload: the config file is watched (rename-on-save and ConfigMap symlink swaps), valid changes
 * take effect atomically, invalid ones keep the old config, and no request or connection is lost.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { compile } from '../../src/routing/index.js';
import { parseSpec, type Spec } from '../../src/spec/index.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { watchConfig } from '../../src/source/file.js';
import { connect, roundTrip, startUpstream, type Upstream } from './helpers.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { until } from '../support/wait.js';

const dirs: TempDir[] = [];
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
  for (const d of dirs) await d.remove();
});

/** Saves like an editor: write a temporary file beside the target, then rename it over. */
let saves = 0;
function saveByRename(file: string, text: string): void {
  const tmp = `${file}.tmp-${++saves}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** A config with stable and beta versions; `routeExtra` is YAML appended to the one route. */
function config(stable: string, beta: string, routeExtra: string): string {
  return [
    'listen: 127.0.0.1:0',
    'accessLog: false',
    'services:',
    '  svc:',
    '    versions:',
    `      stable: { endpoints: [${stable}] }`,
    `      beta: { endpoints: [${beta}] }`,
    'routes:',
    '  - name: main',
    '    match: { pathPrefix: / }',
    '    service: svc',
    routeExtra,
    '',
  ].join('\n');
}

const TO_BETA = '    rules:\n      - { name: everyone, lane: beta, percent: 100 }';
const TO_STABLE = '    split: { stable: 1 }';
/** Invalid changes, each of a different kind. */
const BAD = [
  '    rules: [ { lane: beta',
  '    colour: blue',
  '    split: { stable: 1, gamma: 1 }',
  '    rules:\n      - { lane: beta, path: { regex: "([" } }',
  '    split: { stable: -1, beta: 1 }',
  '    rules:\n      - { lane: beta, percent: 150 }',
  '    rules:\n      - { lane: beta, appVersion: { header: x-app-version, range: ">>=2" } }',
  '    rules:\n      - { lane: beta, users: ["1"] }\n    rules:\n      - { lane: beta, users: ["2"] }',
  '    service: nope',
  '    visitorCookie: { name: vid, maxAge: -5 }',
];

/** GET through a keep-alive agent; resolves with the version and the client's local port. */
function httpGet(port: number, agent: http.Agent): Promise<{ status: number; version: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, version: (JSON.parse(body) as { version: string }).version, localPort: req.socket!.localPort! });
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

test('watchConfig: a rename-on-save that changes nothing is skipped; a change is loaded; an invalid one is reported', async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const file = dir.file('graylane.yaml');
  const stableOnly = config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_STABLE);
  writeFileSync(file, stableOnly);
  const specs: Spec[] = [];
  const errors: Error[] = [];
  cleanup.push(watchConfig(file, (s) => specs.push(s), (e) => errors.push(e), { loadedText: stableOnly }));

  saveByRename(file, stableOnly);
  // Wait past the debounce so this save is not merged with the next one.
  await new Promise((r) => setTimeout(r, 200));
  saveByRename(file, config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_BETA));
  await until('the reload', () => specs.length === 1, 5000);
  assert.equal(specs[0]!.routes[0]!.rules[0]!.lane, 'beta');
  assert.equal(specs.length, 1, 'the identical save did not reload');

  saveByRename(file, config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', BAD[1]!));
  await until('the rejected reload', () => errors.length === 1, 5000);
  assert.match(errors[0]!.message, /graylane\.yaml:12:5: routes\[0\]\.colour: unknown key/);
  assert.equal(specs.length, 1);
});

test('watchConfig: a change written between the load and the start of watching is applied, not taken as loaded', async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const file = dir.file('graylane.yaml');
  const loaded = config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_STABLE);
  // The caller loaded `loaded`; by the time it watches, the file already says beta (no event follows).
  writeFileSync(file, config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_BETA));
  const specs: Spec[] = [];
  cleanup.push(watchConfig(file, (s) => specs.push(s), () => {}, { loadedText: loaded }));
  await until('the reload', () => specs.length === 1, 5000);
  assert.equal(specs[0]!.routes[0]!.rules[0]!.lane, 'beta');
});

test('watchConfig: a path that is no longer a regular file is reported once, not on every event in its directory', async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const file = dir.file('graylane.yaml');
  const loaded = config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_STABLE);
  writeFileSync(file, loaded);
  const specs: Spec[] = [];
  const errors: Error[] = [];
  cleanup.push(watchConfig(file, (s) => specs.push(s), (e) => errors.push(e), { loadedText: loaded }));
  rmSync(file);
  mkdirSync(file);
  await until('the rejected reload', () => errors.length === 1, 5000);
  // Other files in the directory keep changing (as the state database next to a config does).
  for (let i = 0; i < 10; i++) {
    writeFileSync(dir.file('state.db'), String(i));
    await new Promise((r) => setTimeout(r, 80));
  }
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
  assert.match(errors[0]!.message, /not a regular file/);
  rmSync(file, { recursive: true });
  saveByRename(file, config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_BETA));
  await until('the reload', () => specs.length === 1, 5000);
  assert.equal(specs[0]!.routes[0]!.rules[0]!.lane, 'beta');
});

test('watchConfig sees a Kubernetes ConfigMap update (the ..data symlink swapped)', async () => {
  const dir = await tempDir();
  dirs.push(dir);
  // The ConfigMap volume layout: graylane.yaml -> ..data/graylane.yaml, ..data -> ..<version dir>.
  mkdirSync(dir.file('..v1'));
  const v1 = config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_STABLE);
  writeFileSync(join(dir.path, '..v1', 'graylane.yaml'), v1);
  symlinkSync('..v1', dir.file('..data'));
  symlinkSync(join('..data', 'graylane.yaml'), dir.file('graylane.yaml'));
  const specs: Spec[] = [];
  cleanup.push(watchConfig(dir.file('graylane.yaml'), (s) => specs.push(s), () => {}, { loadedText: v1 }));

  // What the kubelet does: write the new version dir, point ..data_tmp at it, rename over ..data.
  mkdirSync(dir.file('..v2'));
  writeFileSync(join(dir.path, '..v2', 'graylane.yaml'), config('http://127.0.0.1:9001', 'http://127.0.0.1:9002', TO_BETA));
  symlinkSync('..v2', dir.file('..data_tmp'));
  renameSync(dir.file('..data_tmp'), dir.file('..data'));
  await until('the reload', () => specs.length === 1, 5000);
  assert.equal(specs[0]!.routes[0]!.rules[0]!.lane, 'beta');
});

test('20 reloads, good and bad alternating, under continuous traffic: zero failures, new rules after each good one, old kept after each bad one; keep-alive and WebSocket connections survive', async () => {
  const stable: Upstream = await startUpstream('stable');
  const beta: Upstream = await startUpstream('beta');
  stable.echoWebSockets();
  beta.echoWebSockets();
  cleanup.push(stable.close, beta.close);
  const dir = await tempDir();
  dirs.push(dir);
  const file = dir.file('graylane.yaml');
  writeFileSync(file, config(stable.url, beta.url, TO_STABLE));

  const gateway: Gateway = await startGateway({
    snapshot: compile(parseSpec(config(stable.url, beta.url, TO_STABLE), file)),
    host: '127.0.0.1',
    port: 0,
    accessLog: false,
  });
  cleanup.push(() => gateway.close({ drainMs: 100 }));
  const errors: Error[] = [];
  const stop = watchConfig(
    file,
    (s) => gateway.swap(compile(s)),
    (e) => errors.push(e),
    { loadedText: config(stable.url, beta.url, TO_STABLE) },
  );
  cleanup.push(stop);
  const port = gateway.address.port;

  // A WebSocket opened before any reload: its lane (stable) is fixed at the upgrade.
  const socket = await connect(`ws://127.0.0.1:${port}/live`);
  cleanup.push(() => socket.terminate());
  assert.equal(await roundTrip(socket, 'before'), 'stable:before');

  // Continuous traffic on two keep-alive connections, for as long as the reloads go on.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  cleanup.push(() => agent.destroy());
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const localPorts = new Set<number>();
  const loop = async () => {
    while (running && sent < 200_000) {
      sent++;
      try {
        const r = await httpGet(port, agent);
        localPorts.add(r.localPort);
        if (r.status !== 200) failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const traffic = [loop(), loop()];

  const current = async () => (await httpGet(port, agent)).version;
  let expected = 'stable';
  for (let i = 0; i < 20; i++) {
    if (i % 2 === 0) {
      expected = expected === 'stable' ? 'beta' : 'stable';
      saveByRename(file, config(stable.url, beta.url, expected === 'beta' ? TO_BETA : TO_STABLE));
      const deadline = Date.now() + 5000;
      while ((await current()) !== expected) {
        assert.ok(Date.now() < deadline, `reload ${i} (good) did not take effect`);
      }
      // Every request from now on sees the new rules.
      for (let k = 0; k < 20; k++) assert.equal(await current(), expected);
    } else {
      const before = errors.length;
      saveByRename(file, config(stable.url, beta.url, BAD[(i - 1) / 2]!));
      await until('one more rejected reload', () => errors.length === before + 1, 5000);
      assert.match(errors[before]!.message, /graylane\.yaml:\d+:\d+: /, `reload ${i} (bad) is reported with file:line:col`);
      for (let k = 0; k < 20; k++) assert.equal(await current(), expected, `reload ${i} (bad) keeps the old rules`);
    }
  }
  running = false;
  await Promise.all(traffic);

  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent > 100, `traffic ran (${sent} requests)`);
  assert.equal(errors.length, 10);
  assert.ok(localPorts.size <= 2, `client keep-alive connections survived (${localPorts.size} used)`);
  // At most three requests are in flight at once (two loops and the checks), so pools that survive
  // reloads need at most three connections per upstream (+1 for the WebSocket on stable); pools
  // rebuilt on each reload would have needed new ones every time.
  assert.ok(stable.connections <= 4 && beta.connections <= 3, `upstream connections: ${stable.connections} + ${beta.connections}`);
  assert.equal(await roundTrip(socket, 'after'), 'stable:after', 'the WebSocket survived');
});
