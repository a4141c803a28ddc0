/**
 * https:// endpoints over graylane's own upstream pool (node:tls under the same client
 * connection): the certificate is checked against the host name (SNI sent for names, not for IP
 * addresses), and a request goes through with keep-alive. The pool runs in a child process, whose
 * NODE_EXTRA_CA_CERTS trusts the test's own certificate (made by openssl, one day), as an operator
 * with a private CA would; the same process without it refuses the upstream.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tempDir } from '../support/temp.js';

let server: https.Server;
let port = 0;
let cert = '';
let connections = 0;

before(async () => {
  const dir = await tempDir();
  const key = dir.file('key.pem');
  cert = dir.file('cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    res.end(`${req.method} ${req.url} sni=${(req.socket as unknown as { servername?: string | false }).servername || 'none'}`);
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const POOLS = new URL('../../src/gateway/pools.js', import.meta.url).pathname;

/** Three sequential requests to `origin` through a graylane PoolSet in a child process: the bodies, or the error code. */
function viaChild(origin: string, trust: boolean): Promise<string> {
  const script = `
    const { PoolSet } = await import(${JSON.stringify(POOLS)});
    const pools = new PoolSet({ connectTimeoutMs: 2000, engine: 'graylane' });
    const out = [];
    try {
      for (const path of ['/a', '/b', '/c']) {
        const r = await pools.get(${JSON.stringify(origin)}).request({ path, method: 'GET' });
        out.push(await r.body.text());
      }
    } catch (err) { out.push('error ' + err.code); }
    await pools.close();
    console.log(out.join('|'));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: trust ? cert : '' }, timeout: 20_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
  });
}

test('an https:// endpoint by name: TLS with SNI, the certificate checked, one kept-alive connection for three requests', async () => {
  const before = connections;
  assert.equal(await viaChild(`https://localhost:${port}`, true), 'GET /a sni=localhost|GET /b sni=localhost|GET /c sni=localhost');
  assert.equal(connections - before, 1);
});

test('an https:// endpoint by IP address: no SNI, the certificate checked against the address', async () => {
  assert.equal(await viaChild(`https://127.0.0.1:${port}`, true), 'GET /a sni=none|GET /b sni=none|GET /c sni=none');
});

test('an https:// endpoint whose certificate is not trusted is refused', async () => {
  assert.match(await viaChild(`https://localhost:${port}`, false), /^error (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
});
