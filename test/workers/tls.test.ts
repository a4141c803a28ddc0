/**
 * TLS in workers mode: `graylane serve --workers 2` as real processes, a TLS listener beside a
 * plain one. Every worker serves HTTPS with the certificates the primary read, and a certificate
 * rotated by a Kubernetes-style `..data` symlink swap reaches every worker (the primary reads and
 * checks the files once and sends them; each worker builds its contexts): afterwards every new
 * handshake, on either worker, gets the new certificate. A bad rotation (a key of another
 * certificate) is refused by the primary with the file named, and both workers keep serving the
 * certificate they had.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, copyFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type tls from 'node:tls';
import { tempDir } from '../support/temp.js';
import { makeCa } from '../support/tls.js';
import { until } from '../support/wait.js';
import { configOf, startPrimary, startUpstream, stopPrimary, writeConfig } from './helpers.js';

/** GET over a new HTTPS connection: which worker answered, with which certificate. */
function get(port: number, ca: string): Promise<{ status: number; worker: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername: 'shop.example.test', ca, agent: false, timeout: 5000 }, (res) => {
      const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, worker: String(res.headers['x-graylane-worker']), fingerprint }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Requests over new connections until both workers answered (bounded: 200); the fingerprints each served. */
async function byWorker(port: number, ca: string): Promise<Map<string, Set<string>>> {
  const seen = new Map<string, Set<string>>();
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const r = await get(port, ca);
    assert.equal(r.status, 200);
    if (!seen.has(r.worker)) seen.set(r.worker, new Set());
    seen.get(r.worker)!.add(r.fingerprint);
  }
  assert.deepStrictEqual([...seen.keys()].sort(), ['1', '2'], 'both workers answered over TLS');
  return seen;
}

test('workers: every worker serves TLS, and a rotated certificate reaches every worker; a bad one reaches none', async (t) => {
  const dir = await tempDir();
  const ca = makeCa(dir.path);
  const secret = dir.file('secret');
  mkdirSync(join(secret, '..v1'), { recursive: true });
  const v1 = ca.issue('tls', ['shop.example.test'], { dir: join(secret, '..v1') });
  symlinkSync('..v1', join(secret, '..data'));
  symlinkSync('..data/tls.crt', join(secret, 'tls.crt'));
  symlinkSync('..data/tls.key', join(secret, 'tls.key'));
  const upstream = await startUpstream('stable');
  const file = dir.file('graylane.yaml');
  await writeConfig(
    file,
    [
      'listen:',
      '  - 127.0.0.1:0',
      `  - { address: 127.0.0.1:0, tls: { certificates: [{ cert: ${join(secret, 'tls.crt')}, key: ${join(secret, 'tls.key')} }] } }`,
      'accessLog: false',
      'drain: 0s',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(dir.file('state.db'))} }`,
      'debug: { workerHeader: true }',
      'services:',
      `  web: { versions: { stable: [${upstream.url}] } }`,
      'routes:',
      '  - service: web',
      '',
    ].join('\n'),
  );
  const serve = await startPrimary(file, dir.path, 2);
  const pids = (await configOf(serve.adminUrl)).workers.map((w) => w.pid!);
  t.after(async () => {
    await stopPrimary(serve, pids);
    await upstream.close();
    await dir.remove();
  });
  const listening = serve.log.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'gateway listening' && r.listener === 'listen[1]');
  assert.ok(listening, 'the TLS listener is logged');
  assert.equal(listening.speaks, 'http/1.1 over tls');
  const port = Number(String(listening.listen).split(':').pop());

  const before = await byWorker(port, ca.pem);
  for (const [worker, fingerprints] of before) assert.deepStrictEqual([...fingerprints], [v1.fingerprint], `worker ${worker}`);

  // A Secret update: new files in a new directory, ..data swapped in one rename.
  mkdirSync(join(secret, '..v2'));
  const v2 = ca.issue('tls', ['shop.example.test'], { dir: join(secret, '..v2') });
  symlinkSync('..v2', join(secret, '..data_tmp'));
  renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
  await until('both workers serve the new certificate', async () => {
    const now = await byWorker(port, ca.pem);
    return [...now.values()].every((f) => f.size === 1 && f.has(v2.fingerprint));
  }, 15_000);

  // A bad one: v3's certificate with another key. The primary refuses it; no worker changes.
  mkdirSync(join(secret, '..v3'));
  const v3 = ca.issue('tls', ['shop.example.test'], { dir: join(secret, '..v3') });
  const other = ca.issue('other', ['other.example.test']);
  copyFileSync(other.key, join(secret, '..v3', 'tls.key'));
  symlinkSync('..v3', join(secret, '..data_tmp'));
  renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
  await until('the primary refuses the bad certificate', () =>
    serve.log.some((l) => l.includes('certificate reload refused') && l.includes(`${join(secret, 'tls.key')}: is not the private key of ${join(secret, 'tls.crt')}`)),
  );
  const after = await byWorker(port, ca.pem);
  for (const [worker, fingerprints] of after) assert.deepStrictEqual([...fingerprints], [v2.fingerprint], `worker ${worker} keeps the good certificate`);
  assert.notEqual(v3.fingerprint, v2.fingerprint);
});
