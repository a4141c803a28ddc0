/**
 * graylane's HTTP/1.1 server connection (src/http1/server-connection.ts) over real sockets on
 * 127.0.0.1, with an echo handler: raw bytes in, raw bytes out.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { Http1Connection, Http1Sweep, type ConnectionLimits, type Http1Handler, type Http1Request } from '../../src/http1/index.js';

const LIMITS: ConnectionLimits = { maxHeaderBytes: 4096, maxHeaders: 20, maxUrlBytes: 512, headersTimeoutMs: 400 };

interface Served {
  port: number;
  seen: string[];
  sweep: Http1Sweep;
  close(): Promise<void>;
}

/** A server whose handler answers `METHOD target body-length: body` (or holds the body, see hold). */
async function serve(opts: { hold?: boolean } = {}): Promise<Served> {
  const seen: string[] = [];
  const sweep = new Http1Sweep(500, 50);
  const handler: Http1Handler = {
    onRequest(req: Http1Request, res) {
      seen.push(`${req.method} ${req.target}`);
      const lane = req.headers['x-lane'] ?? '-';
      if (opts.hold && req.hasBody) {
        // Never resumes: the connection must stop reading.
        req.readBody({ data: () => false, end: () => {}, error: () => {} });
        return;
      }
      const parts: Buffer[] = [];
      req.readBody({
        data(chunk) {
          parts.push(Buffer.from(chunk));
          return true;
        },
        end() {
          const body = Buffer.from(`${req.method} ${req.target} lane=${lane} ${Buffer.concat(parts).toString()}`);
          res.writeHead(200, ['content-type', 'text/plain'], req.target === '/stream' ? -1 : body.length);
          res.write(body);
          res.end();
        },
        error(err) {
          if (!res.headSent) {
            res.closeAfter = true;
            res.writeHead(400, [], 0);
          }
          res.end();
          void err;
        },
      });
    },
    onRefused(err, res) {
      const body = Buffer.from(err.reason);
      res.writeHead(err.status, ['content-type', 'text/plain'], body.length, true);
      res.write(body);
      res.end();
    },
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new Http1Connection(socket, handler, () => LIMITS, sweep);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    sweep,
    close: () =>
      new Promise<void>((resolve) => {
        sweep.stop();
        // A paused connection (a held body) does not notice its client left: cut what is left.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes `parts` (each after `gapMs`), reads until the server closes or `ms` passes; returns all bytes. */
async function exchange(port: number, parts: string[], opts: { gapMs?: number; ms?: number; endAfter?: boolean } = {}): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (d) => (text += d.toString('latin1')));
  const done = new Promise<void>((resolve) => {
    socket.on('close', () => {
      closed = true;
      resolve();
    });
    setTimeout(resolve, opts.ms ?? 1500);
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  for (const p of parts) {
    socket.write(Buffer.from(p, 'latin1'));
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  }
  if (opts.endAfter) socket.end();
  await done;
  socket.destroy();
  return { text, closed };
}

const statuses = (text: string): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

let s: Served;
test.before(async () => {
  s = await serve();
});
after(() => s.close());

test('keep-alive: two requests on one connection, each answered; pipelined ones in order', async () => {
  const r = await exchange(s.port, ['GET /a HTTP/1.1\r\nHost: h\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: h\r\nX-Lane: beta\r\n\r\n'], { gapMs: 50, ms: 400 });
  assert.deepEqual(statuses(r.text), [200, 200], r.text);
  assert.match(r.text, /GET \/a lane=- [\s\S]*GET \/b lane=beta/);
  assert.equal(r.closed, false, 'kept alive');
  const p = await exchange(s.port, ['GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n']);
  assert.deepEqual(statuses(p.text), [200, 200, 200]);
  assert.deepEqual([...p.text.matchAll(/(GET|POST) \/(\d) lane=- ([a-z]*)/g)].map((m) => `${m[2]}:${m[3]}`), ['1:', '2:abc', '3:']);
  assert.ok(p.closed, 'Connection: close honoured');
  assert.match(p.text, /connection: close\r\n\r\nGET \/3/);
});

test('bodies: Content-Length and chunked, one byte per write, trailers accepted; chunked out when the length is unknown', async () => {
  const cl = 'POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world';
  const r1 = await exchange(s.port, cl.split(''), { ms: 3000 });
  assert.match(r1.text, /content-length: 27\r\n[\s\S]*POST \/cl lane=- hello world$/);
  const ch = 'POST /stream HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n';
  const r2 = await exchange(s.port, ch.match(/[\s\S]{1,3}/g)!, { ms: 3000 });
  assert.match(r2.text, /transfer-encoding: chunked\r\n/);
  assert.match(r2.text, /\r\n\r\n1f\r\nPOST \/stream lane=- hello world\r\n0\r\n\r\n$/);
});

test('Expect: 100-continue gets 100 before the body is sent; HEAD gets no body; HTTP/1.0 closes unless asked', async () => {
  const socket = net.connect(s.port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.write('POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n');
  for (let i = 0; i < 50 && !text.includes('100 Continue'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(text, 'HTTP/1.1 100 Continue\r\n\r\n');
  socket.end('ok');
  await new Promise((r) => socket.on('close', r));
  assert.deepEqual(statuses(text), [100, 200]);
  assert.match(text, /POST \/up lane=- ok$/);

  const head = await exchange(s.port, ['HEAD /h HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n']);
  assert.match(head.text, /content-length: 15\r\nconnection: close\r\n\r\n$/, 'the length is announced, no body follows');
  const old = await exchange(s.port, ['GET /old HTTP/1.0\r\n\r\n']);
  assert.ok(old.closed);
  assert.match(old.text, /connection: close/);
  const kept = await exchange(s.port, ['GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 'GET /b HTTP/1.0\r\n\r\n'], { gapMs: 50 });
  assert.deepEqual(statuses(kept.text), [200, 200]);
  assert.match(kept.text, /connection: keep-alive[\s\S]*connection: close/);
});

test('a refused head is answered with its status and the connection closes: nothing after it is read', async () => {
  const before = s.seen.length;
  const r = await exchange(s.port, ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n']);
  assert.deepEqual(statuses(r.text), [400]);
  assert.match(r.text, /both Content-Length and Transfer-Encoding$/);
  assert.ok(r.closed);
  assert.equal(s.seen.length, before, 'the handler saw nothing');
  const bad = await exchange(s.port, ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n']);
  assert.deepEqual(statuses(bad.text), [400]);
  assert.ok(bad.closed);
  assert.ok(!s.seen.includes('GET /smuggled'));
});

test('a head not complete within headersTimeout is 408; an idle keep-alive connection is closed after keepAliveTimeout', async () => {
  const started = Date.now();
  const slow = await exchange(s.port, ['GET / HTTP/1.1\r\n', 'Host: h\r\n'], { gapMs: 100, ms: 3000 });
  assert.deepEqual(statuses(slow.text), [408]);
  assert.ok(slow.closed);
  assert.ok(Date.now() - started < 2500);
  const idle = await exchange(s.port, ['GET / HTTP/1.1\r\nHost: h\r\n\r\n'], { ms: 3000 });
  assert.deepEqual(statuses(idle.text), [200]);
  assert.ok(idle.closed, 'closed by the server after keepAliveTimeout (500 ms here)');
});

test('a body consumer that stops taking bytes stops the reading: the server does not buffer the upload', async () => {
  const held = await serve({ hold: true });
  try {
    const socket = net.connect(held.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 67108864\r\n\r\n');
    const block = Buffer.alloc(64 * 1024, 97);
    let written = 0;
    // Write until the kernel buffers are full (bounded in count and time).
    const deadline = Date.now() + 3000;
    while (written < 64 * 1024 * 1024 && Date.now() < deadline) {
      if (!socket.write(block)) await new Promise((r) => setTimeout(r, 20));
      written += block.length;
      if (socket.writableLength > 8 * 1024 * 1024) break;
    }
    await new Promise((r) => setTimeout(r, 200));
    // What left the client sits in the kernel's socket buffers, not in the server's memory.
    const inKernelOrServer = written - socket.writableLength;
    assert.ok(inKernelOrServer < 16 * 1024 * 1024, `the server took ${inKernelOrServer} bytes`);
    socket.destroy();
  } finally {
    await held.close();
  }
});
