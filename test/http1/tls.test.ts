/**
 * graylane's HTTP/1.1 server connection needs only a connected stream socket: the same
 * Http1Connection serves a TLSSocket from a `tls.Server` (as HTTPS/1.1 will, chosen by ALPN) as it
 * serves a net.Socket, keep-alive, pipelining and refusals included. The certificate is made for
 * the test by openssl (a P-256 key, one day).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Http1Connection, Http1Sweep, type ConnectionLimits, type Http1Handler } from '../../src/http1/index.js';
import { tempDir } from '../support/temp.js';

const LIMITS: ConnectionLimits = { maxHeaderBytes: 4096, maxHeaders: 20, maxUrlBytes: 512, headersTimeoutMs: 2000 };
const sweep = new Http1Sweep(5000, 100);
let server: tls.Server;
let port = 0;

before(async () => {
  const dir = await tempDir();
  const key = dir.file('key.pem');
  const cert = dir.file('cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const handler: Http1Handler = {
    onRequest(req, res) {
      const body = Buffer.from(`${req.method} ${req.target} over ${req.connection.socket instanceof tls.TLSSocket ? 'tls' : 'tcp'}`);
      res.writeHead(200, [], body.length);
      res.write(body);
      res.end();
    },
    onRefused(err, res) {
      res.writeHead(err.status, [], 0, true);
      res.end();
    },
  };
  server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert), allowHalfOpen: true }, (socket) => void new Http1Connection(socket, handler, () => LIMITS, sweep));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  await dir.remove();
});
after(() => {
  sweep.stop();
  server.close();
});

function converse(bytes: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, 1500);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on('error', () => {});
    socket.on('secureConnect', () => socket.write(bytes, 'latin1'));
  });
}

test('over TLS: pipelined keep-alive requests answered in order, then a refused head closes the connection', async () => {
  const r = await converse('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
  assert.deepEqual([...r.text.matchAll(/GET \/([a-z]) over (tls|tcp)/g)].map((m) => `${m[1]}:${m[2]}`), ['a:tls', 'b:tls'], r.text);
  assert.match(r.text, /HTTP\/1\.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n$/);
  assert.ok(r.closed);
});
