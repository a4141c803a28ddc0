/**
 * HTTP/2 where the config asks for it: on a TLS listener with `http2: true` (h2 chosen by ALPN,
 * HTTP/1.1 clients on the same port), and on a mesh listener with `h2c: true`. The certificate is
 * made for the test by openssl (a P-256 key for localhost, one day).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { promisify } from 'node:util';
import { readTlsConfig } from '../../src/gateway/certificates.js';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, service, spec, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { h2connect, h2request } from './helpers.js';

const run = promisify(execFile);
let dir: TempDir;
let upstream: Upstream;
let gw: Gateway;
let ca: Buffer;
let certFile: string;

before(async () => {
  dir = await tempDir();
  const key = dir.file('key.pem');
  certFile = dir.file('cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', key, '-out', certFile],
    { stdio: 'ignore' },
  );
  ca = readFileSync(certFile);
  upstream = await startUpstream('stable');
  const tlsConfig = await readTlsConfig('listen[0]', { certificates: [{ cert: certFile, key }], minVersion: 'TLSv1.2' });
  gw = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) }, mesh: { listen: '127.0.0.1:0' } }), {
    listeners: [{ name: 'listen[0]', host: '127.0.0.1', port: 0, tls: tlsConfig, http2: true }],
    mesh: { h2c: true },
  });
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await upstream.close();
  await dir.remove();
});

test('TLS with http2: an h2 client and an HTTP/1.1 client on one port, each answered in its protocol', async () => {
  const port = gw.address.port;
  const session = await h2connect(`https://localhost:${port}`, { ca });
  try {
    assert.equal(session.alpnProtocol, 'h2');
    const r = await h2request(session, { ':path': '/over-h2' });
    assert.equal(r.status, 200);
    const echo = r.json<Echo>();
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers.host, `localhost:${port}`);
  } finally {
    session.close();
  }
  // An HTTP/1.1 client that offers http/1.1 by ALPN, and one that offers nothing (Node's https).
  for (const [alpnOffered, alpnChosen] of [[['http/1.1'], 'http/1.1'], [undefined, 'false']] as const) {
    const one = await new Promise<{ status: number; body: string; alpn: string }>((resolve, reject) => {
      const options = { host: '127.0.0.1', servername: 'localhost', port, path: '/over-h1', ca, agent: false, headers: { host: 'localhost' }, ...(alpnOffered ? { ALPNProtocols: [...alpnOffered] } : {}) };
      const req = https.get(options, (res) => {
        let body = '';
        const alpn = String((res.socket as unknown as { alpnProtocol: string }).alpnProtocol);
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body, alpn }));
      });
      req.once('error', reject);
    });
    assert.equal(one.status, 200);
    assert.equal(one.alpn, alpnChosen);
    assert.equal((JSON.parse(one.body) as Echo).url, '/over-h1');
  }
});

test('curl --http2 over TLS negotiates h2 by ALPN', async () => {
  const port = gw.address.port;
  const { stdout } = await run('curl', ['-sS', '--http2', '--cacert', certFile, '--resolve', `localhost:${port}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://localhost:${port}/curl`]);
  assert.equal(stdout, '2 200');
});

test('the mesh listener with h2c: a service named by Host over HTTP/2 with prior knowledge', async () => {
  const session = await h2connect(`http://127.0.0.1:${gw.meshAddress!.port}`);
  try {
    const r = await h2request(session, { ':path': '/svc/orders', ':authority': 'gw.mesh' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json<Echo>().url, '/orders', 'the /<service> prefix is cut as over HTTP/1.1');
  } finally {
    session.close();
  }
});
