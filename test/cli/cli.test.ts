/**
 * The `graylane` command as a user runs it: real child processes of dist/src/cli/main.js, real
 * upstreams and sockets on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startUpstream } from '../gateway/helpers.js';
import { until } from '../support/wait.js';
import { makeCa, opensslDate } from '../support/tls.js';
import { bucketOf } from '../../src/routing/index.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const QUICKSTART = new URL('../../../examples/quickstart.yaml', import.meta.url).pathname;

function run(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Write atomically, as editors do (rename-on-save). */
function save(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

test('validate: the quickstart is valid; a broken file prints file:line:col: key: message and exits 1', () => {
  const ok = run(['validate', QUICKSTART]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: .*quickstart\.yaml \(1 service, 2 routes, 1 rollout; config hash [0-9a-f]{12}\)/);

  const dir = mkdtempSync(join(tmpdir(), 'graylane-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    ['services:', '  web:', '    versions:', '      stable: [http://127.0.0.1:1]', 'routes:', '  - match: { pathPrefix: / }', '    service: web', '    rules:', '      - { lane: stable, percent: 101 }', '      - { lane: stable, path: { regex: "(a+)+$" } }', ''].join('\n'),
  );
  const r = run(['validate', bad]);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, new RegExp(`^${bad}:9:\\d+: routes\\[0\\]\\.rules\\[0\\]\\.percent: `));
  assert.match(lines[1]!, new RegExp(`^${bad}:10:\\d+: routes\\[0\\]\\.rules\\[1\\]\\.path\\.regex: `));
});

test('validate -c: TLS certificate files are checked as serve checks them at start, each error at its key, naming the file; nothing starts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-cli-tls-'));
  const ca = makeCa(dir);
  const good = ca.issue('good', ['good.example.test']);
  const other = ca.issue('other', ['other.example.test']);
  const day = 86_400_000;
  const expired = ca.issue('expired', ['old.example.test'], { from: opensslDate(new Date(Date.now() - 10 * day)), to: opensslDate(new Date(Date.now() - day)) });
  const future = ca.issue('future', ['new.example.test'], { from: opensslDate(new Date(Date.now() + day)), to: opensslDate(new Date(Date.now() + 10 * day)) });
  const caFirst = join(dir, 'ca-first.crt');
  writeFileSync(caFirst, ca.pem + readFileSync(good.cert, 'utf8'));
  const fifo = join(dir, 'fifo.crt');
  execFileSync('mkfifo', [fifo]);
  const notPem = join(dir, 'hello.crt');
  writeFileSync(notPem, 'hello\n');
  // The same certificate in DER, binary (not UTF-8): still "not a PEM certificate".
  const der = join(dir, 'good.der');
  execFileSync('openssl', ['x509', '-in', good.cert, '-outform', 'DER', '-out', der]);
  // A port that is taken and a state file in a directory that does not exist: serve would fail on
  // both; validate starts nothing, so neither matters.
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as AddressInfo).port;
  const state = join(dir, 'no-such-dir', 'state.db');
  const config = (pairs: [string, string][], statePath = state): string => {
    const file = join(dir, 'graylane.yaml');
    writeFileSync(
      file,
      [
        'listen:',
        `  - 127.0.0.1:${port}`,
        '  - address: 127.0.0.1:0',
        '    tls:',
        '      certificates:',
        ...pairs.map(([cert, key]) => `        - { cert: ${cert}, key: ${key} }`),
        `state: { path: ${statePath} }`,
        'services:',
        '  web: { versions: { stable: [http://127.0.0.1:1] } }',
        'routes:',
        '  - service: web',
        '',
      ].join('\n'),
    );
    return file;
  };
  try {
    const ok = run(['validate', '-c', config([[good.cert, good.key]])]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^ok: .*graylane\.yaml \(1 service, 1 route; config hash [0-9a-f]{12}\)/);

    const file = config([
      [join(dir, 'missing.crt'), good.key],
      [good.cert, other.key],
      [dir, good.key],
      [fifo, good.key],
      [notPem, good.key],
      [expired.cert, expired.key],
      [future.cert, future.key],
      [caFirst, good.key],
      [good.cert, join(dir, 'missing.key')],
      [der, good.key],
      [good.cert, good.key],
    ]);
    const started = Date.now();
    const r = run(['validate', '-c', file]);
    assert.ok(Date.now() - started < 15_000, 'the FIFO is refused, not waited on');
    assert.equal(r.status, 1, r.stdout);
    const at = (i: number, key: 'cert' | 'key', line: number) => `^${esc(file)}:${line}:\\d+: listen\\[1\\]\\.tls\\.certificates\\[${i}\\]\\.${key}: `;
    const expected = [
      `${at(0, 'cert', 6)}${esc(join(dir, 'missing.crt'))}: no such file$`,
      `${at(1, 'key', 7)}${esc(other.key)}: is not the private key of ${esc(good.cert)} \\(the key and the certificate do not match\\)$`,
      `${at(2, 'cert', 8)}${esc(dir)}: is a directory, not a regular file`,
      `${at(3, 'cert', 9)}${esc(fifo)}: .*not a regular file`,
      `${at(4, 'cert', 10)}${esc(notPem)}: is not a PEM certificate`,
      `${at(5, 'cert', 11)}${esc(expired.cert)}: expired on \\d{4}-`,
      `${at(6, 'cert', 12)}${esc(future.cert)}: is not valid yet: valid from \\d{4}-`,
      `${at(7, 'cert', 13)}${esc(caFirst)}: has the certificate of ${esc(good.key)} in position 2, not first`,
      `${at(8, 'key', 14)}${esc(join(dir, 'missing.key'))}: no such file$`,
      `${at(9, 'cert', 15)}${esc(der)}: is not a PEM certificate`,
    ];
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, expected.length, r.stderr);
    lines.forEach((line, i) => assert.match(line, new RegExp(expected[i]!), `line ${i + 1}`));
    assert.equal(existsSync(join(dir, 'no-such-dir')), false, 'no state store was opened');

    // serve says the same of the first one, naming the listener and the file.
    const serve = run(['serve', '-c', config([[good.cert, other.key]], join(dir, 'serve-state.db'))]);
    assert.equal(serve.status, 1);
    assert.match(serve.stderr, new RegExp(`listen\\[1\\]\\.tls\\.certificates\\[0\\]: ${esc(other.key)}: is not the private key of ${esc(good.cert)}`));

    // A certificate graylane may not read: validate run as a user without access (nobody, as root
    // reads anything), in a directory it may enter.
    const shared = mkdtempSync(join(tmpdir(), 'graylane-cli-unreadable-'));
    try {
      chmodSync(shared, 0o755);
      const cert = join(shared, 'good.crt');
      const key = join(shared, 'good.key');
      copyFileSync(good.cert, cert);
      copyFileSync(good.key, key);
      chmodSync(cert, 0o644);
      chmodSync(key, 0o000);
      const unreadable = join(shared, 'graylane.yaml');
      writeFileSync(unreadable, readFileSync(config([[cert, key]]), 'utf8'));
      chmodSync(unreadable, 0o644);
      const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      const denied = spawnSync(process.execPath, [CLI, 'validate', '-c', unreadable], { encoding: 'utf8', timeout: 20_000, cwd: shared, ...asNobody });
      assert.equal(denied.status, 1, denied.stderr);
      assert.match(denied.stderr.trim(), new RegExp(`^${esc(unreadable)}:\\d+:\\d+: listen\\[1\\]\\.tls\\.certificates\\[0\\]\\.key: ${esc(key)}: cannot be read \\(permission denied\\)$`));
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }

    // A relative path resolves against the working directory, as serve resolves it.
    writeFileSync(join(dir, 'rel.yaml'), readFileSync(config([['good.crt', 'good.key']]), 'utf8'));
    const rel = spawnSync(process.execPath, [CLI, 'validate', '-c', 'rel.yaml'], { encoding: 'utf8', timeout: 20_000, cwd: dir });
    assert.equal(rel.status, 0, rel.stderr);
    const elsewhere = spawnSync(process.execPath, [CLI, 'validate', join(dir, 'rel.yaml')], { encoding: 'utf8', timeout: 20_000, cwd: tmpdir() });
    assert.equal(elsewhere.status, 1);
    assert.match(elsewhere.stderr, new RegExp(`certificates\\[0\\]\\.cert: ${esc(join(tmpdir(), 'good.crt'))}: no such file`));
  } finally {
    await new Promise((r) => taken.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('explain: prints the route, rule, lane, version and endpoint of a request, and why', () => {
  const r = run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/new-checkout', '-H', 'x-user-id: 1001', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(e.route, 'checkout');
  assert.equal(e.by, 'internal-users');
  assert.equal(e.lane, 'alpha');
  assert.equal(e.version, 'alpha');
  assert.equal(e.endpoint, 'http://127.0.0.1:9201');
  assert.match(String(e.reason), /internal-users/);

  const kw = run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/new-checkout', '-H', 'x-user-id: 55']);
  assert.equal(kw.status, 0, kw.stderr);
  assert.match(kw.stdout, /^by:\s+keyword$/m);
  assert.match(kw.stdout, /^version:\s+beta$/m);

  // Each step checked: the app version read and parsed, the user's bucket and each threshold.
  const app = run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/cart', '-H', 'x-user-id: 77', '-H', 'x-app-version: 2.4']);
  assert.equal(app.status, 0, app.stderr);
  assert.match(app.stdout, /^by:\s+new-app$/m);
  assert.match(app.stdout, /^\s+yes\s+app version \(header x-app-version\) >=2\.3\.0 \(read "2\.4": version 2\.4\.0 satisfies >=2\.3\.0\)$/m);
  const bucket = bucketOf('checkout-2026-11', '77');
  assert.ok(bucket >= 1000, 'user 77 is outside the ten percent');
  const out = run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/cart', '-H', 'x-user-id: 77', '-H', 'x-app-version: 2.4.0 (1234)']);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /^\s+no\s+app version \(header x-app-version\) >=2\.3\.0 \(read "2\.4\.0 \(1234\)": not a version: unexpected " " at character 6/m);
  assert.match(out.stdout, new RegExp(`^bucket:\\s+${bucket} of 0\\.\\.9999 \\(identity "77"\\)$`, 'm'));
  assert.match(out.stdout, new RegExp(`^\\s+no\\s+percent 10 \\(bucket < 1000\\) \\(bucket ${bucket} >= 1000: out\\)$`, 'm'));
  const json = JSON.parse(run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/cart', '-H', 'x-user-id: 77', '--json']).stdout) as { bucket: { value: number } };
  assert.equal(json.bucket.value, bucket);

  // Read as the gateway reads it: a trailing dot on the host, encoded unreserved characters, ;parameters.
  const encoded = run(['explain', '-c', QUICKSTART, '--url', 'http://Prod.Example.com.:8080/new%2Dch%65ckout;x=1', '-H', 'x-user-id: 55']);
  assert.equal(encoded.status, 0, encoded.stderr);
  assert.match(encoded.stdout, /^route:\s+checkout$/m);
  assert.match(encoded.stdout, /^by:\s+keyword$/m);
  const refused = run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/public/..;/new-checkout']);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /dot segment with ;parameters.*the gateway answers 400/);

  const none = run(['explain', '-c', QUICKSTART, '--url', 'http://elsewhere.example.com/']);
  assert.equal(none.status, 2, 'no route matched is exit 2');
  assert.match(none.stdout, /no route matches/);
});

test('explain -c on a release entry route says the release share is not in the file, and where to ask', () => {
  // carol is in checkout-demo's 20% step (examples/release), but the step lives in the gateway's
  // status: a dry run on the file alone must not read as "no rule marked her" without a word.
  const RELEASE = new URL('../../../examples/release/graylane.yaml', import.meta.url).pathname;
  const text = run(['explain', '-c', RELEASE, '--url', 'http://shop.example/', '-H', 'x-user-id: carol']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^note: +route shop is the entry of release checkout-demo \(lane gray\): the release's share of users is in the running gateway's status, not in this file.*graylane release get checkout-demo, or POST \/api\/v1\/explain/m);
  const json = run(['explain', '-c', RELEASE, '--url', 'http://shop.example/', '-H', 'x-user-id: carol', '--json']);
  assert.equal((JSON.parse(json.stdout) as { route: string }).route, 'shop', 'stdout stays the explanation alone');
  assert.match(json.stderr, /^note: route shop is the entry of release checkout-demo/);
  const other = run(['explain', '-c', QUICKSTART, '--url', 'http://prod.example.com/cart', '-H', 'x-user-id: 77']);
  assert.doesNotMatch(other.stdout + other.stderr, /note:/, 'no note where no release enters');
});

test('top on an unreachable admin API says it retries only when another refresh follows; exit 1', async () => {
  const port = await freePort(); // closed again: nothing listens there
  const reason = `cannot reach the admin API at http://127.0.0.1:${port} (ECONNREFUSED): is \`graylane serve\` running? Set --admin or GRAYLANE_ADMIN`;
  const once = run(['top', '--admin', `http://127.0.0.1:${port}`, '-n', '1']);
  assert.equal(once.status, 1, once.stderr);
  assert.equal(once.stdout, `${reason}\n`);
  const twice = run(['top', '--admin', `http://127.0.0.1:${port}`, '-n', '2', '--interval', '50']);
  assert.equal(twice.status, 1, twice.stderr);
  assert.equal(twice.stdout, `${reason} (retrying)\n${reason}\n`);
});

test('serve --admin-token-file: a missing file, an empty one, a FIFO and a directory are refused at once, naming the flag', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-cli-'));
  try {
    writeFileSync(join(dir, 'empty.tok'), '\n');
    execFileSync('mkfifo', [join(dir, 'fifo.tok')]);
    const cases: [string, string][] = [
      ['missing.tok', 'no such file'],
      ['empty.tok', 'the file is empty'],
      ['fifo.tok', 'is a FIFO (named pipe), not a regular file (an admin token must be a regular file or a symlink to one)'],
      ['.', 'is a directory, not a regular file (an admin token must be a regular file or a symlink to one)'],
    ];
    for (const [file, reason] of cases) {
      const started = Date.now();
      const r = spawnSync(process.execPath, [CLI, 'serve', '-c', QUICKSTART, '--admin-token-file', file, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(r.status, 1, `${file}: ${r.stderr} (signal ${r.signal})`);
      assert.equal(r.stderr.trim(), `graylane: --admin-token-file ${file}: ${reason}`);
      assert.ok(Date.now() - started < 8000, `${file}: refused at once`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve with neither -c nor --store says what to name; with both, that it is one or the other', () => {
  const env = { ...process.env };
  delete env.GRAYLANE_STORE;
  const neither = spawnSync(process.execPath, [CLI, 'serve'], { encoding: 'utf8', timeout: 20_000, env });
  assert.equal(neither.status, 2, neither.stderr);
  assert.equal(
    neither.stderr.trim(),
    'graylane serve: name what to serve: -c FILE (one process, e.g. graylane serve -c graylane.yaml) or --store etcd://HOST:PORT (clustered mode)',
  );
  const both = spawnSync(process.execPath, [CLI, 'serve', '-c', QUICKSTART, '--store', 'etcd://127.0.0.1:1'], { encoding: 'utf8', timeout: 20_000, env });
  assert.equal(both.status, 2, both.stderr);
  assert.equal(both.stderr.trim(), 'graylane serve: give either -c FILE (one process) or --store etcd://HOST:PORT (clustered mode), not both');
});

test('serve --listen / --admin-listen without a host (:8080) is refused with what to write, no promise of a :port form', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-cli-'));
  try {
    const form = 'must be host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 ([::1]:8080 for IPv6)';
    for (const [flag, other] of [['--listen', '--admin-listen'], ['--admin-listen', '--listen']] as const) {
      const r = spawnSync(process.execPath, [CLI, 'serve', '-c', QUICKSTART, flag, ':8080', other, '127.0.0.1:0', '--state', join(dir, 'state.db')], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr.trim(), `graylane: bad listen address ":8080" (${flag}): ${form}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: proxies by the file, reloads a good change, keeps serving through a bad one, drains on SIGTERM', async (t) => {
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  t.after(() => Promise.all([stable.close(), beta.close()]));
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'graylane-serve-'));
  const file = join(dir, 'graylane.yaml');
  const config = (lane: string) =>
    [
      `listen: 127.0.0.1:${port}`,
      'services:',
      '  web:',
      '    versions:',
      `      stable: [${stable.url}]`,
      `      beta: [${beta.url}]`,
      'routes:',
      '  - match: { pathPrefix: / }',
      '    service: web',
      `    rules: [{ lane: ${lane}, header: { name: x-canary, equals: always } }]`,
      '',
    ].join('\n');
  save(file, config('beta'));
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  child.stdout!.on('data', (c: Buffer) => (stdout += c));
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));

  const get = async (canary: boolean) => {
    const res = await request(`http://127.0.0.1:${port}/x`, { headers: canary ? { 'x-canary': 'always' } : {} });
    return ((await res.body.json()) as { version: string }).version;
  };
  for (let i = 0; i < 100 && !/gateway listening/.test(stderr); i++) await sleep(50);
  assert.match(stderr, /gateway listening/);
  assert.equal(await get(true), 'beta');
  assert.equal(await get(false), 'stable');

  save(file, config('stable'));
  for (let i = 0; i < 100 && !/config reloaded/.test(stderr); i++) await sleep(20);
  assert.equal(await get(true), 'stable', 'the reloaded rule applies');

  save(file, config('beta').replace('equals: always', 'equals: [always'));
  for (let i = 0; i < 100 && !/config rejected/.test(stderr); i++) await sleep(20);
  const rejected = stderr.split('\n').find((l) => l.includes('config rejected'))!;
  assert.match(JSON.parse(rejected).error as string, new RegExp(`^${file.replace(/[/.]/g, '\\$&')}:10:\\d+: `));
  assert.equal(await get(true), 'stable', 'the old config keeps serving');

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0);
  // The access log is batched; a clean exit flushes it: one line per request, the last one stable.
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 4);
  assert.equal(lines.at(-1)!.route, '/', 'default route name: host + pathPrefix');
  assert.equal(lines.at(-1)!.version, 'stable');
});

test('demo: starts its upstreams and graylane, sends traffic, shows the top view and where each kind landed', async () => {
  const ports = await Promise.all(Array.from({ length: 6 }, freePort));
  const dir = mkdtempSync(join(tmpdir(), 'graylane-demo-'));
  const file = join(dir, 'quickstart.yaml');
  const text = readFileSync(QUICKSTART, 'utf8')
    .replace('127.0.0.1:8080', `127.0.0.1:${ports[0]}`)
    .replace(':9001', `:${ports[1]}`)
    .replace(':9002', `:${ports[2]}`)
    .replace(':9101', `:${ports[3]}`)
    .replace(':9201', `:${ports[4]}`);
  writeFileSync(file, text);
  const adminListen = `127.0.0.1:${ports[5]}`;
  const child = spawn(process.execPath, [CLI, 'demo', '-c', file, '--admin-listen', adminListen, '--duration', '1.5', '--rate', '120'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, out);
  const last = out.slice(out.lastIndexOf('graylane demo on'));
  assert.match(last, new RegExp(`dashboard http://${adminListen}/  \\(admin token for its buttons: \\S+\\)`));
  // The top view, read from the demo's own admin API: every version of whoami with its requests.
  const topRow = (version: string) => last.split('\n').find((l) => new RegExp(`^  ${version}\\s`).test(l)) ?? '';
  for (const v of ['stable', 'beta', 'alpha']) {
    const m = /\s(\d+)\s+(\d)\/\2 up$/.exec(topRow(v));
    assert.ok(m && Number(m[1]) > 0, `top row for ${v} has requests and all endpoints up: "${topRow(v)}"`);
  }
  const table = last.slice(last.lastIndexOf('request kind'));
  const row = (label: string) => table.split('\n').find((l) => l.startsWith(label)) ?? '';
  assert.match(row('user 1001'), /\s0 \(0\.0%\)\s+0 \(0\.0%\)\s+\d+ \(100\.0%\)\s+0$/, 'user 1001 all on alpha');
  assert.match(row('path /new-checkout'), /\s0 \(0\.0%\)\s+\d+ \(100\.0%\)\s+0 \(0\.0%\)\s+0$/, 'keyword all on beta');
  assert.match(row('host alpha.example.com'), /\s0 \(0\.0%\)\s+0 \(0\.0%\)\s+\d+ \(100\.0%\)\s+0$/);
});

test('demo: its rollout walks its steps; pause, resume, promote and abort work from the CLI with the printed token', async (t) => {
  const ports = await Promise.all(Array.from({ length: 6 }, freePort));
  const dir = mkdtempSync(join(tmpdir(), 'graylane-demo-'));
  const file = join(dir, 'quickstart.yaml');
  writeFileSync(
    file,
    readFileSync(QUICKSTART, 'utf8')
      .replace('127.0.0.1:8080', `127.0.0.1:${ports[0]}`)
      .replace(':9001', `:${ports[1]}`)
      .replace(':9002', `:${ports[2]}`)
      .replace(':9101', `:${ports[3]}`)
      .replace(':9201', `:${ports[4]}`),
  );
  const admin = `http://127.0.0.1:${ports[5]}`;
  const child = spawn(process.execPath, [CLI, 'demo', '-c', file, '--admin-listen', `127.0.0.1:${ports[5]}`, '--duration', '60', '--rate', '50'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  const printed = /--admin (\S+) --token (\S+)/;
  for (let i = 0; i < 200 && !printed.test(out); i++) await sleep(50);
  const [, shownAdmin, token] = printed.exec(out) ?? assert.fail(`the demo prints the rollout command with its token:\n${out}`);
  assert.equal(shownAdmin, admin);
  assert.match(out, /^rollout whoami-beta: pause, promote, abort on the dashboard, or$/m);

  const status = async () => {
    const res = await request(`${admin}/api/v1/rollouts/whoami-beta`);
    return (await res.body.json()) as { phase: string; reason: string; currentStep: number | null; weight: number };
  };
  // test/support's one way to poll; the failure names the status last read.
  let last: Awaited<ReturnType<typeof status>> | undefined;
  const waitFor = (what: string, cond: (s: Awaited<ReturnType<typeof status>>) => boolean): Promise<void> =>
    until(what, async () => cond((last = await status())), 10_000).catch((err: Error) => assert.fail(`${err.message}; last status: ${JSON.stringify(last)}`));
  // Not spawnSync: this process keeps reading the demo's output (and its own sockets) meanwhile.
  const rollout = async (...args: string[]) => {
    const cmd = spawn(process.execPath, [CLI, 'rollout', ...args, 'whoami-beta', '--admin', admin, '--token', token!], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cmd.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => cmd.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((r) => cmd.once('close', r));
    clearTimeout(timer);
    assert.equal(code, 0, `graylane rollout ${args.join(' ')}: ${stderr}`);
  };

  // It starts by itself: 10% to beta, then the 20 s pause, which promote ends (one command inside
  // those 20 s): 50%, then the pause that waits for a person, with no timer to race.
  await waitFor('the timed pause at 10%', (s) => s.currentStep === 1 && s.weight === 10 && s.reason === 'PauseStep');
  await rollout('promote');
  await waitFor('the manual pause at 50%', (s) => s.currentStep === 3 && s.weight === 50 && s.reason === 'AwaitingPromotion');
  await rollout('pause');
  await waitFor('paused by a person', (s) => s.reason === 'PausedByUser');
  await rollout('resume');
  await waitFor('resumed: waiting for promote again', (s) => s.currentStep === 3 && s.reason === 'AwaitingPromotion');
  await rollout('abort');
  await waitFor('aborted, all traffic back on stable', (s) => s.phase === 'Degraded' && s.reason === 'Aborted' && s.weight === 0);

  // SIGTERM stops it long before its --duration of 60 s.
  const t1 = Date.now();
  child.kill('SIGTERM');
  assert.equal(await new Promise<number | null>((r) => child.once('exit', r)), 0);
  assert.ok(Date.now() - t1 < 15_000, `the demo stopped ${Date.now() - t1} ms after SIGTERM`);
});

test('import: a Traefik WRR file becomes a config that validate accepts; malformed input writes nothing and exits 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graylane-import-'));
  const out = join(dir, 'imported.yaml');
  const fixture = new URL('../../../test/fixtures/import/traefik/wrr.yaml', import.meta.url).pathname;
  const r = run(['import', fixture, '-o', out]);
  assert.equal(r.status, 0, r.stderr);
  const text = readFileSync(out, 'utf8');
  assert.match(text, /appv1: \{ endpoints: \[ http:\/\/private-ip-server-1\/? \] \}/);
  assert.match(text, /split: \{ appv1: 3, appv2: 1 \}/);
  assert.match(r.stderr, /warning: .*entryPoints are not imported/);
  const v = run(['validate', out]);
  assert.equal(v.status, 0, v.stderr);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'http:\n  routers:\n    r: { rule: "Host(`a`)", service: missing }\n');
  const b = run(['import', bad, '-o', join(dir, 'never.yaml')]);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /bad\.yaml:\d+ \(document 1\): .*missing/);
  assert.throws(() => readFileSync(join(dir, 'never.yaml')), /ENOENT/);
});

test('serve --log-format: readable lines on a terminal (auto) or when asked; JSON on a pipe', async (t) => {
  const up = await startUpstream('stable');
  t.after(() => up.close());
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'graylane-logs-'));
  const file = join(dir, 'graylane.yaml');
  save(file, [`listen: 127.0.0.1:${port}`, 'admin: { listen: 127.0.0.1:0 }', 'services:', '  web:', '    versions:', `      stable: [${up.url}]`, 'routes:', '  - match: { pathPrefix: / }', '    service: web', ''].join('\n'));
  const clock = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

  /** Starts `command` (its output collected), sends one request, stops it with SIGTERM. */
  const serveOnce = async (command: string, args: string[]) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    t.after(() => child.exitCode === null && process.kill(-child.pid!, 'SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c));
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    for (let i = 0; i < 200 && !/gateway listening/.test(stdout + stderr); i++) await sleep(50);
    assert.match(stdout + stderr, /gateway listening/);
    await (await request(`http://127.0.0.1:${port}/x`)).body.dump();
    // The access log line is written at the end of the response, JSON in batches of up to a second.
    for (let i = 0; i < 100 && !/GET \/x|"method":"GET"/.test(stdout); i++) await sleep(50);
    process.kill(-child.pid!, 'SIGTERM');
    await new Promise((r) => child.once('close', r));
    return { stdout, stderr };
  };

  // Asked for: the operational log (stderr) and the access log (stdout) in readable lines.
  const pretty = await serveOnce(process.execPath, [CLI, 'serve', '-c', file, '--log-format', 'pretty']);
  assert.match(pretty.stderr, new RegExp(`^${clock} INFO  gateway listening  listen=127\\.0\\.0\\.1:${port} source=\\S+ id=\\w+$`, 'm'));
  assert.match(pretty.stdout, new RegExp(`^${clock} GET /x 200 [\\d.]+ms  route=/ lane=stable by=\\S+ version=stable endpoint=${up.url}$`, 'm'));

  // On pipes, auto is JSON, every line of both.
  const piped = await serveOnce(process.execPath, [CLI, 'serve', '-c', file]);
  for (const line of [...piped.stderr.trim().split('\n'), ...piped.stdout.trim().split('\n')]) assert.doesNotThrow(() => JSON.parse(line), line);

  // On a terminal (a pseudo-terminal from util-linux `script`), auto is readable.
  const command = [process.execPath, CLI, 'serve', '-c', file].map((a) => `'${a}'`).join(' ');
  const tty = await serveOnce('script', ['-qefc', command, '/dev/null']);
  assert.match(tty.stdout, new RegExp(`^${clock} INFO  gateway listening  listen=127\\.0\\.0\\.1:${port}`, 'm'));
  assert.match(tty.stdout, new RegExp(`^${clock} GET /x 200 [\\d.]+ms  route=/`, 'm'));
});
