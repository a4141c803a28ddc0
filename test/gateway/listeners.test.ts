/**
 * Several listeners on one gateway, at the socket level: each plain listener serves the same
 * routes, a `redirect` listener answers every request with a 308 to https:// (no upstream sees
 * it), and an `h2c` listener speaks HTTP/2 with prior knowledge (src/http2; test/http2 has the rest).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Gateway } from '../../src/gateway/index.js';
import { gatewayFor, service, spec, startUpstream, type Upstream } from './helpers.js';

let upstream: Upstream;
let gw: Gateway;

before(async () => {
  upstream = await startUpstream('stable');
  gw = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) } }), {
    listeners: [
      { name: 'listen[0]', host: '127.0.0.1', port: 0 },
      { name: 'listen[1]', host: '127.0.0.1', port: 0 },
      { name: 'listen[2]', host: '127.0.0.1', port: 0, redirectHttpsPort: 443 },
      { name: 'listen[3]', host: '127.0.0.1', port: 0, redirectHttpsPort: 8443 },
      { name: 'listen[4]', host: '127.0.0.1', port: 0, h2c: true },
    ],
  });
});
after(async () => {
  await gw.close({ drainMs: 0 });
  await upstream.close();
});

/** Sends `bytes` (no FIN: the engine reads a FIN as a client gone), reads until the peer closes (bounded: 2 s). */
function converse(port: number, bytes: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, 2000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.write(bytes);
  });
}

function portOf(name: string): number {
  const l = gw.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name}`);
  return l.port;
}

test('every listener gets its own port; address is the first one', () => {
  const ports = gw.listeners.map((l) => l.port);
  assert.equal(new Set(ports).size, 5);
  assert.deepStrictEqual(gw.address, { host: '127.0.0.1', port: ports[0] });
  assert.deepStrictEqual(
    gw.listeners.map((l) => [l.name, l.tls, l.http2, l.h2c, l.mesh]),
    [
      ['listen[0]', false, false, false, false],
      ['listen[1]', false, false, false, false],
      ['listen[2]', false, false, false, false],
      ['listen[3]', false, false, false, false],
      ['listen[4]', false, false, true, false],
    ],
  );
});

test('two plain listeners serve the same routes', async () => {
  for (const name of ['listen[0]', 'listen[1]']) {
    const { text } = await converse(portOf(name), 'GET /x HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200 /, name);
    assert.match(text, /"version":"stable"/, name);
  }
});

test('redirect: a 308 to the same host and target over https, the port left out when 443', async () => {
  const before = upstream.count;
  const r443 = await converse(portOf('listen[2]'), 'GET /a/b?c=1&d=%20 HTTP/1.1\r\nHost: Shop.Example.com:8080\r\nConnection: close\r\n\r\n');
  assert.match(r443.text, /^HTTP\/1\.1 308 Permanent Redirect\r\n/);
  assert.match(r443.text, /\r\nlocation: https:\/\/shop\.example\.com\/a\/b\?c=1&d=%20\r\n/);
  assert.match(r443.text, /\r\ncontent-length: 0\r\n/);
  const r8443 = await converse(portOf('listen[3]'), 'POST /pay HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
  assert.match(r8443.text, /^HTTP\/1\.1 308 /);
  assert.match(r8443.text, /\r\nlocation: https:\/\/\[::1\]:8443\/pay\r\n/);
  assert.equal(upstream.count, before, 'no upstream saw a redirected request');
});

test('redirect: a second request on the same keep-alive connection is redirected too; a bad Host is refused', async () => {
  const two = await converse(
    portOf('listen[2]'),
    'GET /one HTTP/1.1\r\nHost: a.example\r\n\r\nGET /two HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
  );
  assert.equal(two.text.match(/HTTP\/1\.1 308 /g)?.length, 2);
  assert.match(two.text, /location: https:\/\/a\.example\/one\r\n[\s\S]*location: https:\/\/a\.example\/two\r\n/);
  const bad = await converse(portOf('listen[2]'), 'GET / HTTP/1.1\r\nHost: a.example:@evil.example\r\nConnection: close\r\n\r\n');
  assert.match(bad.text, /^HTTP\/1\.1 400 /);
  assert.doesNotMatch(bad.text, /location:/i);
  const none = await converse(portOf('listen[2]'), 'GET / HTTP/1.0\r\n\r\n');
  assert.match(none.text, /^HTTP\/1\.1 400 /);
  assert.match(none.text, /needs a Host header/);
});

test('h2c: the connection is HTTP/2 with prior knowledge: the preface is answered with SETTINGS', async () => {
  const r = await converse(portOf('listen[4]'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  // A frame header (RFC 9113 §4.1): 3 bytes of length, then type 4 (SETTINGS), flags 0, stream 0.
  assert.ok(r.text.length >= 9, 'the server spoke first frames');
  assert.equal(r.text.charCodeAt(3), 4);
  assert.equal(r.text.charCodeAt(4), 0);
});
