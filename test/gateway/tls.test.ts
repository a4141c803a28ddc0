/**
 * TLS listeners over real sockets, graylane started as `graylane serve` starts it (startApp on a
 * config file), with a CA made at test time by openssl (test/support/tls.ts):
 *
 * - HTTPS/1.1 through graylane to a plain HTTP upstream (X-Forwarded-Proto: https); `curl --cacert`.
 * - SNI: the certificate whose DNS names match, exact before wildcard (one label), the first one
 *   for an unknown name and for a client that sends none. ALPN: h2 only where `http2: true`.
 * - Rotation while a client keeps connecting, in place and by a Kubernetes-style `..data` symlink
 *   swap: new handshakes get the new certificate, no request fails.
 * - Bad reloads (key of another certificate, expired certificate, missing file) are refused with
 *   an error naming the listener and the file; the old certificate keeps serving. At start the same
 *   stops graylane. A file graylane may not read, at start and at reload (`graylane serve` as
 *   nobody when the test runs as root).
 * - TLS 1.1 refused; the server's cipher order wins; the redirect listener sends browsers to the
 *   TLS port.
 * - Hostile clients: plaintext HTTP on the TLS port, a handshake that never finishes (bounded by
 *   limits.headersTimeout, 1 s here), a huge ClientHello.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { handshake, makeCa, opensslDate, type Leaf, type TestCa } from '../support/tls.js';
import { sleep, until } from '../support/wait.js';

const run = promisify(execFile);

let dir: TempDir;
let ca: TestCa;
let upstream: Upstream;
let app: App;
const logLines: string[] = [];
/** Certificates of the rotation tests, written where the config points. */
let inPlace: { cert: string; key: string };
let k8s: string;
let shop: Leaf;
let api: Leaf;
let rotating: Leaf;
let secretV1: Leaf;
/** listen[5]'s TLS 1.2 suites, in the server's order of preference: AES-256 first. */
const SERVER_CIPHERS = 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256';

function portOf(name: string): number {
  const l = app.gateway.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name}`);
  return l.port;
}

/** The log records whose msg is `msg`, parsed. */
function logged(msg: string): Record<string, unknown>[] {
  return logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === msg);
}

before(async () => {
  dir = await tempDir();
  ca = makeCa(dir.path);
  shop = ca.issue('shop', ['shop.example.test']);
  api = ca.issue('api', ['api.example.test', '*.api.example.test']);
  rotating = ca.issue('rotating', ['rotate.example.test']);
  // The in-place pair: files rewritten where they are.
  inPlace = { cert: dir.file('inplace.crt'), key: dir.file('inplace.key') };
  copyFileSync(rotating.cert, inPlace.cert);
  copyFileSync(rotating.key, inPlace.key);
  // A Kubernetes Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..v1 (swapped by rename).
  k8s = dir.file('secret');
  mkdirSync(join(k8s, '..v1'), { recursive: true });
  secretV1 = ca.issue('tls', ['secret.example.test'], { dir: join(k8s, '..v1') });
  symlinkSync('..v1', join(k8s, '..data'));
  symlinkSync('..data/tls.crt', join(k8s, 'tls.crt'));
  symlinkSync('..data/tls.key', join(k8s, 'tls.key'));

  upstream = await startUpstream('stable');
  const config = dir.file('graylane.yaml');
  writeFileSync(
    config,
    [
      'listen:',
      '  - 127.0.0.1:0',
      '  - address: 127.0.0.1:0',
      '    tls:',
      '      certificates:',
      `        - { cert: ${shop.cert}, key: ${shop.key} }`,
      `        - { cert: ${api.cert}, key: ${api.key} }`,
      '  - address: 127.0.0.1:0',
      `    tls: { certificates: [{ cert: ${inPlace.cert}, key: ${inPlace.key} }] }`,
      '    http2: true',
      '  - address: 127.0.0.1:0',
      `    tls: { certificates: [{ cert: ${join(k8s, 'tls.crt')}, key: ${join(k8s, 'tls.key')} }], minVersion: TLSv1.3 }`,
      '  - { address: 127.0.0.1:0, redirect: "https:1" }',
      '  - address: 127.0.0.1:0',
      `    tls: { certificates: [{ cert: ${shop.cert}, key: ${shop.key} }], ciphers: "${SERVER_CIPHERS}" }`,
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${dir.file('state.db')} }`,
      'accessLog: false',
      'limits: { headersTimeout: 1s }',
      'services:',
      `  svc: { versions: { stable: [${upstream.url}] } }`,
      'routes:',
      '  - { name: main, match: { pathPrefix: / }, service: svc }',
      '',
    ].join('\n'),
  );
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logLines.push(line);
      cb();
    },
  });
  app = await startApp({ configFile: config, logger: pino({ level: 'info' }, stream), cwd: dir.path });
});

after(async () => {
  await app?.close({ drainMs: 0 });
  await upstream?.close();
  await dir?.remove();
});

/** GET over HTTPS/1.1 with a new connection (so a new handshake), verified against the test CA. */
function httpsGet(port: number, servername: string, path = '/'): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path, servername, headers: { host: servername }, ca: ca.pem, agent: false, timeout: 5000 },
      (res) => {
        const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, fingerprint }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('HTTPS/1.1 through graylane to a plain upstream: the upstream sees X-Forwarded-Proto https', async () => {
  const r = await httpsGet(portOf('listen[1]'), 'shop.example.test', '/hello?x=1');
  assert.equal(r.status, 200);
  assert.equal(r.fingerprint, shop.fingerprint);
  const echo = JSON.parse(r.body) as { version: string; url: string; headers: Record<string, string> };
  assert.equal(echo.version, 'stable');
  assert.equal(echo.url, '/hello?x=1');
  assert.equal(echo.headers['x-forwarded-proto'], 'https');
  // The plain listener beside it says http.
  const plain = await fetch(`http://127.0.0.1:${portOf('listen[0]')}/`);
  assert.equal(((await plain.json()) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
});

test('curl --cacert: HTTPS/1.1 verified against the test CA', async () => {
  const port = portOf('listen[1]');
  const { stdout } = await run('curl', ['-sS', '--max-time', '5', '--cacert', ca.certFile, '--resolve', `api.example.test:${port}:127.0.0.1`, '-w', '\n%{http_code} %{http_version}', `https://api.example.test:${port}/via-curl`]);
  const [body, status] = stdout.split('\n');
  assert.equal(status, '200 1.1');
  assert.equal((JSON.parse(body!) as { url: string }).url, '/via-curl');
});

test('SNI: exact names, a one-label wildcard, a trailing dot ignored, and the first certificate for anything else', async () => {
  const port = portOf('listen[1]');
  const cases: [string | undefined, Leaf][] = [
    ['shop.example.test', shop],
    ['SHOP.Example.Test', shop],
    ['api.example.test', api],
    ['v2.api.example.test', api],
    ['a.b.api.example.test', shop], // a wildcard covers one label only (RFC 6125 section 6.4.3)
    ['unknown.example.test', shop],
    // The absolute form (a trailing dot) names the same host, as routing reads the Host.
    ['api.example.test.', api],
    ['V2.Api.Example.Test.', api],
    [undefined, shop], // no SNI at all
  ];
  for (const [servername, leaf] of cases) {
    const r = await handshake(port, servername === undefined ? {} : { servername });
    assert.equal(r.fingerprint, leaf.fingerprint, `SNI ${servername ?? '(none)'}`);
  }
  // Verified by a client that checks names: the matching certificate passes for both names.
  await handshake(port, { servername: 'v2.api.example.test', ca: ca.pem });
  await handshake(port, { servername: 'shop.example.test', ca: ca.pem });
});

test('ALPN: h2 and http/1.1 offered where http2 is on, http/1.1 alone elsewhere; TLS 1.2+ (1.3 where asked)', async () => {
  assert.equal((await handshake(portOf('listen[2]'), { alpn: ['h2', 'http/1.1'] })).alpn, 'h2');
  assert.equal((await handshake(portOf('listen[2]'), { alpn: ['http/1.1'] })).alpn, 'http/1.1');
  assert.equal((await handshake(portOf('listen[1]'), { alpn: ['h2', 'http/1.1'] })).alpn, 'http/1.1');
  assert.equal((await handshake(portOf('listen[1]'))).alpn, false, 'no ALPN offered: none chosen, HTTP/1.1 served');
  // An h2-only client (gRPC) where http2 is off: a clear alert (RFC 7301 section 3.2), not HTTP/1.1 bytes.
  await assert.rejects(handshake(portOf('listen[1]'), { alpn: ['h2'] }), /no application protocol/i);
  assert.equal((await handshake(portOf('listen[1]'), { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  // minVersion: TLSv1.3 refuses a 1.2 client, serves a 1.3 one.
  await assert.rejects(handshake(portOf('listen[3]'), { maxVersion: 'TLSv1.2' }), /protocol version|unsupported protocol|alert/i);
  assert.equal((await handshake(portOf('listen[3]'))).protocol, 'TLSv1.3');
});

test("the server's cipher order wins over the client's (TLS 1.2), with tls.ciphers and with Node's default list", async () => {
  // The client prefers AES-128; listen[5] lists AES-256 first: AES-256 it is (honorCipherOrder).
  const clientPrefers = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384';
  assert.equal((await handshake(portOf('listen[5]'), { maxVersion: 'TLSv1.2', ciphers: clientPrefers })).cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384');
  // A suite the listener does not list is refused, even one the client likes.
  await assert.rejects(handshake(portOf('listen[5]'), { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }), /handshake failure|no shared cipher|alert/i);
  // Without tls.ciphers, Node's default list (AES-128-GCM before AES-256-GCM) in the server's order.
  const clientPrefers256 = 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256';
  assert.equal((await handshake(portOf('listen[1]'), { maxVersion: 'TLSv1.2', ciphers: clientPrefers256 })).cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
});

test('TLS 1.1 is refused by the server (a protocol_version alert)', async () => {
  // The client must be allowed to offer 1.1 at all: OpenSSL 3 forbids it below security level 0.
  const err = await new Promise<Error>((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: portOf('listen[1]'), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(new Error('handshake succeeded'));
    });
    socket.once('error', resolve);
  });
  assert.match(err.message, /alert protocol version/i);
});

test('redirect: the plain listener sends a 308 to https on the port it names', async () => {
  const r = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: portOf('listen[4]'), path: '/cart?id=7', headers: { host: 'shop.example.test' }, agent: false }, resolve).on('error', reject);
  });
  r.resume();
  assert.equal(r.statusCode, 308);
  assert.equal(r.headers.location, 'https://shop.example.test:1/cart?id=7');
});

test('rotation in place while a client keeps connecting: new handshakes get the new certificate, no request fails', async (t) => {
  const port = portOf('listen[2]');
  const next = ca.issue('rotating-next', ['rotate.example.test']);
  // A keep-alive connection opened before the rotation must outlive it.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const kept = await keptAliveGet(port, agent);
  assert.equal(kept.fingerprint, rotating.fingerprint);
  const results = await whileRequesting(port, 'rotate.example.test', async () => {
    // What cert-manager's and most tools' in-place writes look like: the certificate, then the key.
    writeFileSync(inPlace.cert, readFileSync(next.cert));
    await sleep(20);
    writeFileSync(inPlace.key, readFileSync(next.key));
    await until('the new certificate served', async () => (await handshake(port, { servername: 'rotate.example.test' })).fingerprint === next.fingerprint);
  });
  t.diagnostic(`${results.requests} requests over new connections during the rotation, ${results.failures.length} failed`);
  assert.deepStrictEqual(results.failures, []);
  assert.ok(results.fingerprints.has(rotating.fingerprint) && results.fingerprints.has(next.fingerprint), 'old then new certificate seen');
  assert.equal(results.last, next.fingerprint);
  assert.ok(logged('certificates reloaded').some((r) => r.listener === 'listen[2]'));
  const again = await keptAliveGet(port, agent);
  assert.deepStrictEqual([again.status, again.localPort, again.fingerprint], [200, kept.localPort, rotating.fingerprint], 'the same connection, still on the old certificate');
});

test('rotation by a ..data symlink swap (Kubernetes Secret): new handshakes get the new certificate, no request fails', async (t) => {
  const port = portOf('listen[3]');
  mkdirSync(join(k8s, '..v2'));
  const v2 = ca.issue('tls', ['secret.example.test'], { dir: join(k8s, '..v2') });
  const results = await whileRequesting(port, 'secret.example.test', async () => {
    // kubelet: the new files in a new directory, then ..data replaced in one rename.
    symlinkSync('..v2', join(k8s, '..data_tmp'));
    renameSync(join(k8s, '..data_tmp'), join(k8s, '..data'));
    await until('the new certificate served', async () => (await handshake(port, { servername: 'secret.example.test' })).fingerprint === v2.fingerprint);
  });
  t.diagnostic(`${results.requests} requests over new connections during the rotation, ${results.failures.length} failed`);
  assert.deepStrictEqual(results.failures, []);
  assert.ok(results.fingerprints.has(secretV1.fingerprint) && results.fingerprints.has(v2.fingerprint));
  assert.equal(results.last, v2.fingerprint);
  rmSync(join(k8s, '..v1'), { recursive: true });
  secretV1 = v2;
});

test('a bad reload is refused with the listener and the file named; the old certificate keeps serving', async () => {
  const port = portOf('listen[2]');
  const serving = (await handshake(port)).fingerprint;
  const refusals = (): Record<string, unknown>[] => logged('certificate reload refused; still serving the previous certificates');
  const other = ca.issue('other', ['other.example.test']);
  const expired = ca.issue('expired', ['rotate.example.test'], { from: opensslDate(new Date(Date.now() - 10 * 86_400_000)), to: opensslDate(new Date(Date.now() - 86_400_000)) });
  const future = ca.issue('future', ['rotate.example.test'], { from: opensslDate(new Date(Date.now() + 86_400_000)), to: opensslDate(new Date(Date.now() + 10 * 86_400_000)) });
  const good = { cert: readFileSync(inPlace.cert), key: readFileSync(inPlace.key) };
  const bad: [string, () => void, RegExp][] = [
    ['a key of another certificate', () => writeFileSync(inPlace.key, readFileSync(other.key)), new RegExp(`^listen\\[2\\]\\.tls\\.certificates\\[0\\]: ${esc(inPlace.key)}: is not the private key of ${esc(inPlace.cert)}`)],
    ['an expired certificate', () => writeFileSync(inPlace.cert, readFileSync(expired.cert)), new RegExp(`^listen\\[2\\]\\.tls\\.certificates\\[0\\]: ${esc(inPlace.cert)}: expired on `)],
    ['a certificate not valid yet', () => writeFileSync(inPlace.cert, readFileSync(future.cert)), new RegExp(`^listen\\[2\\]\\.tls\\.certificates\\[0\\]: ${esc(inPlace.cert)}: is not valid yet`)],
    ['a missing key file', () => unlinkSync(inPlace.key), new RegExp(`^listen\\[2\\]\\.tls\\.certificates\\[0\\]: ${esc(inPlace.key)}: no such file$`)],
    ['a directory where the certificate was', () => (unlinkSync(inPlace.cert), mkdirSync(inPlace.cert)), new RegExp(`${esc(inPlace.cert)}: is a directory, not a regular file`)],
    ['text that is no certificate', () => (rmSync(inPlace.cert, { recursive: true }), writeFileSync(inPlace.cert, 'hello\n')), new RegExp(`${esc(inPlace.cert)}: is not a PEM certificate`)],
  ];
  for (const [what, breakIt, message] of bad) {
    const before = refusals().length;
    breakIt();
    await until(`${what}: refused`, () => refusals().length > before);
    const refusal = refusals().at(-1)!;
    assert.equal(refusal.listener, 'listen[2]', what);
    assert.match(String(refusal.error), message, what);
    assert.equal((await handshake(port)).fingerprint, serving, `${what}: the old certificate keeps serving`);
    assert.equal((await httpsGet(port, 'rotate.example.test')).status, 200, `${what}: requests are served`);
    // Mend it for the next case.
    rmSync(inPlace.cert, { recursive: true, force: true });
    writeFileSync(inPlace.cert, good.cert);
    writeFileSync(inPlace.key, good.key);
    await sleep(400);
  }
  assert.equal((await handshake(port)).fingerprint, serving);
});

test('plaintext HTTP to the TLS port: the connection is closed at once, the listener keeps serving', async (t) => {
  const r = await raw(portOf('listen[1]'), Buffer.from('GET / HTTP/1.1\r\nHost: shop.example.test\r\n\r\n'), 3000);
  t.diagnostic(`closed after ${r.ms} ms, ${r.bytes.length} bytes answered`);
  assert.equal(r.closed, true);
  assert.ok(r.ms < 1000, `closed after ${r.ms} ms`);
  assert.doesNotMatch(r.bytes.toString('latin1'), /HTTP\/1\.1/);
  assert.equal((await httpsGet(portOf('listen[1]'), 'shop.example.test')).status, 200);
});

test('a handshake that never finishes is cut after limits.headersTimeout (1 s here), silent or stalled mid-ClientHello', async (t) => {
  const silent = await raw(portOf('listen[1]'), Buffer.alloc(0), 5000);
  t.diagnostic(`silent client closed after ${silent.ms} ms`);
  assert.equal(silent.closed, true);
  assert.ok(silent.ms >= 900 && silent.ms < 3500, `silent client closed after ${silent.ms} ms`);
  // A record header announcing 300 bytes of ClientHello, then 10 of them, then nothing.
  const stalled = await raw(portOf('listen[1]'), Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0x2c, 0x01, 0x00, 0x01, 0x28]), Buffer.alloc(10, 0x03)]), 5000);
  assert.equal(stalled.closed, true);
  assert.ok(stalled.ms >= 900 && stalled.ms < 3500, `stalled client closed after ${stalled.ms} ms`);
});

test('a huge ClientHello (a 16 MiB handshake message announced, 1 MiB sent) is refused without buffering it', async (t) => {
  const rssBefore = process.memoryUsage().rss;
  // Handshake records of 16 KiB each; the first starts a ClientHello claiming 16 MiB.
  const records: Buffer[] = [];
  const first = Buffer.alloc(16384, 0x41);
  first.set([0x01, 0xff, 0xff, 0xff, 0x03, 0x03]);
  records.push(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), first]));
  for (let i = 0; i < 63; i++) records.push(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), Buffer.alloc(16384, 0x41)]));
  const r = await raw(portOf('listen[1]'), Buffer.concat(records), 5000);
  t.diagnostic(`closed after ${r.ms} ms, ${r.bytes.length} bytes answered, RSS +${Math.round((process.memoryUsage().rss - rssBefore) / 1024)} KiB`);
  assert.equal(r.closed, true);
  assert.ok(r.ms < 2000, `closed after ${r.ms} ms`);
  assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024, 'no large buffering');
  assert.equal((await httpsGet(portOf('listen[1]'), 'shop.example.test')).status, 200);
});

test('at start, a certificate that cannot serve stops graylane with the listener and the file named', async () => {
  const config = dir.file('bad-start.yaml');
  const other = ca.issue('start-other', ['other.example.test']);
  const expired = ca.issue('start-expired', ['shop.example.test'], { from: opensslDate(new Date(Date.now() - 10 * 86_400_000)), to: opensslDate(new Date(Date.now() - 86_400_000)) });
  const future = ca.issue('start-future', ['shop.example.test'], { from: opensslDate(new Date(Date.now() + 86_400_000)), to: opensslDate(new Date(Date.now() + 10 * 86_400_000)) });
  const chainCaFirst = dir.file('ca-first-chain.crt');
  writeFileSync(chainCaFirst, ca.pem + readFileSync(shop.cert, 'utf8'));
  const cases: [string, string, RegExp][] = [
    [dir.file('nope.crt'), shop.key, new RegExp(`^listen\\[1\\]\\.tls\\.certificates\\[0\\]: ${esc(dir.file('nope.crt'))}: no such file$`)],
    [shop.cert, other.key, new RegExp(`^listen\\[1\\]\\.tls\\.certificates\\[0\\]: ${esc(other.key)}: is not the private key of ${esc(shop.cert)}`)],
    [dir.path, shop.key, new RegExp(`${esc(dir.path)}: is a directory, not a regular file`)],
    [expired.cert, expired.key, new RegExp(`^listen\\[1\\]\\.tls\\.certificates\\[0\\]: ${esc(expired.cert)}: expired on `)],
    [future.cert, future.key, new RegExp(`^listen\\[1\\]\\.tls\\.certificates\\[0\\]: ${esc(future.cert)}: is not valid yet`)],
    // A chain written CA first: named as the order it is, not as a mismatch.
    [chainCaFirst, shop.key, new RegExp(`^listen\\[1\\]\\.tls\\.certificates\\[0\\]: ${esc(chainCaFirst)}: has the certificate of ${esc(shop.key)} in position 2, not first`)],
  ];
  for (const [cert, key, message] of cases) {
    writeFileSync(
      config,
      [
        'listen:',
        '  - 127.0.0.1:0',
        `  - { address: 127.0.0.1:0, tls: { certificates: [{ cert: ${cert}, key: ${key} }] } }`,
        'admin: { listen: 127.0.0.1:0 }',
        `state: { path: ${dir.file('bad-start.db')} }`,
        'services:',
        `  svc: { versions: { stable: [${upstream.url}] } }`,
        'routes:',
        '  - { name: main, match: { pathPrefix: / }, service: svc }',
        '',
      ].join('\n'),
    );
    await assert.rejects(startApp({ configFile: config, logger: pino({ level: 'silent' }), cwd: dir.path }), (err: Error) => {
      assert.match(err.message, message);
      return true;
    });
  }
});

/**
 * `graylane serve` as a user who may not read a file made unreadable: as root (who reads anything)
 * it runs as nobody, in a directory nobody can enter, with a state directory it can write. The TLS
 * listener's certificate and key are copies of shop's in that directory.
 */
function asUserWithoutAccess(): { root: string; cert: string; key: string; config: string; makeUnreadable(file: string): void; serve(): ReturnType<typeof spawn>; remove(): void } {
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const root = mkdtempSync(join(tmpdir(), 'graylane-unreadable-'));
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'state'));
  chmodSync(join(root, 'state'), 0o777);
  const cert = join(root, 'shop.crt');
  const key = join(root, 'shop.key');
  copyFileSync(shop.cert, cert);
  copyFileSync(shop.key, key);
  chmodSync(cert, 0o644);
  chmodSync(key, 0o644);
  const config = join(root, 'graylane.yaml');
  writeFileSync(
    config,
    [
      'listen:',
      '  - 127.0.0.1:0',
      `  - { address: 127.0.0.1:0, tls: { certificates: [{ cert: ${cert}, key: ${key} }] } }`,
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${join(root, 'state', 'state.db')} }`,
      'accessLog: false',
      'services:',
      `  svc: { versions: { stable: [${upstream.url}] } }`,
      'routes:',
      '  - { name: main, match: { pathPrefix: / }, service: svc }',
      '',
    ].join('\n'),
  );
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  return {
    root,
    cert,
    key,
    config,
    // Readable by the owner only (root) when graylane runs as nobody; by no one otherwise.
    makeUnreadable: (file) => chmodSync(file, 'uid' in asNobody ? 0o600 : 0o000),
    serve: () => spawn(process.execPath, [cli, 'serve', '-c', config, '--log-format', 'json'], { ...asNobody, stdio: ['ignore', 'ignore', 'pipe'] }),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

test('at start, a certificate file graylane may not read stops `graylane serve` with the listener and the file named', async () => {
  const f = asUserWithoutAccess();
  try {
    f.makeUnreadable(f.cert);
    const child = f.serve();
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, stderr);
    assert.equal(stderr.trim(), `listen[1].tls.certificates[0]: ${f.cert}: cannot be read (permission denied)`);
  } finally {
    f.remove();
  }
});

test('at reload, a certificate file graylane may no longer read is refused with the listener and the file named; the old one keeps serving', async () => {
  const f = asUserWithoutAccess();
  const child = f.serve();
  try {
    const records: Record<string, unknown>[] = [];
    // JSON log records; anything else on stderr (a Node warning) is not one.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('{')) records.push(JSON.parse(line) as Record<string, unknown>);
    });
    await until('graylane serve listening on TLS', () => records.some((r) => r.listener === 'listen[1]' && r.msg === 'gateway listening'), 15_000);
    const port = Number(String(records.find((r) => r.listener === 'listen[1]')!.listen).split(':')[1]);
    const serving = (await handshake(port)).fingerprint;
    // A rotation to a file graylane cannot read (written aside, then renamed over the old one).
    const next = join(f.root, 'next.crt');
    copyFileSync(shop.cert, next);
    f.makeUnreadable(next);
    renameSync(next, f.cert);
    await until('the reload refused', () => records.some((r) => r.msg === 'certificate reload refused; still serving the previous certificates'), 15_000);
    const refusal = records.find((r) => r.msg === 'certificate reload refused; still serving the previous certificates')!;
    assert.equal(refusal.listener, 'listen[1]');
    assert.equal(refusal.error, `listen[1].tls.certificates[0]: ${f.cert}: cannot be read (permission denied)`);
    assert.equal((await handshake(port)).fingerprint, serving, 'the old certificate keeps serving');
    assert.equal((await httpsGet(port, 'shop.example.test')).status, 200);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => undefined);
    f.remove();
  }
});

test('/metrics: each served certificate\'s notAfter (Unix seconds) by listener, file and name, updated by a reload', async () => {
  const scrape = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`http://127.0.0.1:${app.admin.address.port}/metrics`)).text();
    const out = new Map<string, number>();
    for (const m of text.matchAll(/^graylane_tls_certificate_not_after_seconds\{([^}]*)\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
    return out;
  };
  const notAfter = (file: string): number => Date.parse(new X509Certificate(readFileSync(file)).validTo) / 1000;
  const series = (listener: string, file: string, name: string): string => `listener="${listener}",file="${file}",server_name="${name}"`;
  const expected = (): Map<string, number> =>
    new Map([
      [series('listen[1]', shop.cert, 'shop.example.test'), notAfter(shop.cert)],
      [series('listen[1]', api.cert, 'api.example.test'), notAfter(api.cert)],
      [series('listen[2]', inPlace.cert, 'rotate.example.test'), notAfter(inPlace.cert)],
      [series('listen[3]', join(k8s, 'tls.crt'), 'secret.example.test'), notAfter(join(k8s, 'tls.crt'))],
      [series('listen[5]', shop.cert, 'shop.example.test'), notAfter(shop.cert)],
    ]);
  assert.deepEqual(await scrape(), expected());

  // A certificate that expires in three days replaces listen[2]'s: the gauge follows the reload.
  const soon = ca.issue('expires-soon', ['rotate.example.test'], { to: opensslDate(new Date(Date.now() + 3 * 86_400_000)) });
  writeFileSync(inPlace.key, readFileSync(soon.key));
  writeFileSync(inPlace.cert, readFileSync(soon.cert));
  await until('the reload', async () => (await handshake(portOf('listen[2]'))).fingerprint === soon.fingerprint);
  const after = await scrape();
  assert.equal(after.get(series('listen[2]', inPlace.cert, 'rotate.example.test')), notAfter(soon.cert));
  assert.ok(Math.abs(notAfter(soon.cert) - (Date.now() / 1000 + 3 * 86_400)) < 120, 'three days from now');
  assert.deepEqual(after, expected());
});

// ---------------------------------------------------------------------------------------------

/**
 * Runs `during` while four clients keep making requests over new connections (each a new
 * handshake; bounded: at most 500 each), and 500 ms more; every failure and every fingerprint seen.
 */
async function whileRequesting(port: number, servername: string, during: () => Promise<void>): Promise<{ failures: string[]; fingerprints: Set<string>; last: string; requests: number }> {
  const failures: string[] = [];
  let requests = 0;
  const fingerprints = new Set<string>();
  let last = '';
  let stop = false;
  // Four clients at once, each a new connection per request.
  const client = async (): Promise<void> => {
    for (let i = 0; i < 500 && !stop; i++) {
      requests++;
      try {
        const r = await httpsGet(port, servername);
        if (r.status !== 200) failures.push(`status ${r.status}`);
        fingerprints.add(r.fingerprint);
        last = r.fingerprint;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const clients = Promise.all([client(), client(), client(), client()]);
  await sleep(300);
  try {
    await during();
    await sleep(500);
  } finally {
    stop = true;
    await clients;
  }
  return { failures, fingerprints, last, requests };
}

/** GET over `agent` (keep-alive): the status, the client's local port (which connection) and the certificate. */
function keptAliveGet(port: number, agent: https.Agent): Promise<{ status: number; localPort: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername: 'rotate.example.test', ca: ca.pem, agent, timeout: 5000 }, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const out = { status: res.statusCode!, localPort: socket.localPort!, fingerprint: socket.getPeerCertificate().fingerprint256 };
      res.resume();
      res.on('end', () => resolve(out));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Writes `bytes` to a raw TCP connection and waits (bounded) for the server to close it. */
function raw(port: number, bytes: Buffer, ms: number): Promise<{ closed: boolean; bytes: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, bytes: Buffer.concat(chunks), ms: Date.now() - started });
    }, ms);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, bytes: Buffer.concat(chunks), ms: Date.now() - started });
    });
    if (bytes.length > 0) socket.write(bytes);
  });
}

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
