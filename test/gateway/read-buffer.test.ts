/**
 * graylane's upstream pool reads every plain-TCP upstream connection into ONE buffer (the socket's
 * `onread`, src/http1/client-connection.ts READ_BUFFER): a read's bytes are valid only during its
 * callback. These tests interleave upstream connections so that a byte kept past its callback
 * without a copy would be overwritten by another connection's read and show up in the wrong
 * response: a slow client's queued body (HTTP/1.1, chunked, HTTP/2), a response head and a chunked
 * body arriving in pieces, a paused upstream read.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import type { Gateway } from '../../src/gateway/server.js';
import { startRawUpstream, type RawBehaviour, type RawUpstream } from '../security/helpers.js';
import { chunkedBody } from '../support/chunked.js';
import { gatewayFor, get, service, spec } from './helpers.js';

const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers.reverse()) await c.close();
});

const MIB = 1024 * 1024;

async function upstream(behaviour: RawBehaviour): Promise<RawUpstream> {
  const up = await startRawUpstream(behaviour);
  closers.push(up);
  return up;
}

async function gatewayTo(url: string, h2c = false): Promise<Gateway> {
  const g = await gatewayFor(
    spec({ services: { svc: service({ stable: [url] }) } }),
    h2c ? { listeners: [{ name: 'listen', host: '127.0.0.1', port: 0, h2c: true }] } : {},
  );
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  return g;
}

/** `n` bytes of `byte`, as a string (the raw upstream writes latin1). */
function fill(byte: string, n: number): string {
  return byte.repeat(n);
}

/** More than the kernel buffers between the gateway and a client that does not read hold. */
const BIG = 32 * MIB;

/**
 * /big: BIG bytes of 'a' (Content-Length, or in 256 KiB chunks with ?chunked); /other: 64 KiB of
 * 'b'. Written as fast as the gateway takes them: it reads them 64 KiB at a time.
 */
const BIG_AND_OTHER: RawBehaviour = (socket, head) => {
  const path = head.slice(head.indexOf(' ') + 1, head.indexOf(' HTTP/'));
  if (path.startsWith('/big?chunked')) {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
    for (let i = 0; i < BIG / (256 * 1024); i++) socket.write(`40000\r\n${fill('a', 256 * 1024)}\r\n`, 'latin1');
    socket.write('0\r\n\r\n', 'latin1');
  } else if (path.startsWith('/big')) {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`, 'latin1');
    for (let i = 0; i < BIG / MIB; i++) socket.write(fill('a', MIB), 'latin1');
  } else {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * 1024}\r\n\r\n${fill('b', 64 * 1024)}`, 'latin1');
  }
};

/** Sends `request` on a raw socket and does not read until `readNow` resolves; then reads to the close. */
function slowClient(port: number, request: string, readNow: Promise<void>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.pause();
    const chunks: Buffer[] = [];
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request, 'latin1'));
    void readNow.then(() => {
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.resume();
    });
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    setTimeout(() => socket.destroy(new Error('slow client: no end within 20 s')), 20_000).unref();
  });
}

/** The body of one HTTP/1.1 response in `bytes` (Content-Length or chunked), de-chunked. */
function bodyOf(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'a response head');
  const head = bytes.subarray(0, end).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 200 /);
  let p = end + 4;
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) return bytes.subarray(p);
  const parts: Buffer[] = [];
  for (;;) {
    const eol = bytes.indexOf('\r\n', p);
    const size = parseInt(bytes.subarray(p, eol).toString('latin1'), 16);
    p = eol + 2;
    if (size === 0) break;
    parts.push(bytes.subarray(p, p + size));
    p += size + 2;
  }
  return Buffer.concat(parts);
}

function assertAll(body: Buffer, byte: string, length: number): void {
  assert.equal(body.length, length, 'the whole body');
  const wrong = body.findIndex((b) => b !== byte.charCodeAt(0));
  assert.equal(wrong, -1, `every byte is '${byte}' (byte ${wrong} is ${JSON.stringify(String.fromCharCode(body[wrong] ?? 0))})`);
}

/** Resumes a paused HTTP/2 stream and reads it to its end. */
function readToEnd(stream: http2.ClientHttp2Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.resume();
  });
}

/** 30 requests for /other (64 KiB of 'b' each) while something else waits. */
async function otherTraffic(g: Gateway): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const r = await get(g, '/other');
    assert.equal(r.status, 200);
    assert.equal(r.text.length, 64 * 1024);
  }
}

for (const chunked of [false, true]) {
  test(`a slow client's queued body (${chunked ? 'chunked' : 'Content-Length'}) is not overwritten by other connections' reads`, async () => {
    const up = await upstream(BIG_AND_OTHER);
    const g = await gatewayTo(up.url);
    let readNow!: () => void;
    const slow = slowClient(g.address.port, `GET /big${chunked ? '?chunked' : ''} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, new Promise((r) => (readNow = r)));
    // The gateway writes to the slow client until its socket is full, then pauses that upstream read.
    await new Promise((r) => setTimeout(r, 300));
    await otherTraffic(g);
    readNow();
    assertAll(bodyOf(await slow), 'a', BIG);
  });
}

test("a slow client's queued medium bodies (read into the shared buffer) are not overwritten by other connections' reads", async () => {
  // 8 KiB bodies: small enough to be read into the shared buffer, large enough to be written as
  // bytes (not with the head's string): each waits in the slow client's queue as a copy, or not at all.
  const up = await upstream((socket, head) => {
    const byte = head.includes('/medium') ? 'a' : 'b';
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${8 * 1024}\r\n\r\n${fill(byte, 8 * 1024)}`, 'latin1');
  });
  const g = await gatewayTo(up.url);
  const n = 1500;
  let readNow!: () => void;
  const pipelined = Array.from({ length: n }, (_, i) => `GET /medium/${i} HTTP/1.1\r\nHost: x\r\n${i === n - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('');
  const slow = slowClient(g.address.port, pipelined, new Promise((r) => (readNow = r)));
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 60; i++) {
    const r = await get(g, '/other-medium');
    assert.equal(r.text, fill('b', 8 * 1024));
  }
  readNow();
  const bytes = await slow;
  let p = 0;
  for (let i = 0; i < n; i++) {
    const end = bytes.indexOf('\r\n\r\n', p);
    assert.ok(end > 0, `response ${i}`);
    const body = bytes.subarray(end + 4, end + 4 + 8 * 1024);
    assertAll(body, 'a', 8 * 1024);
    p = end + 4 + 8 * 1024;
  }
});

test("an HTTP/2 client's queued body is not overwritten by other connections' reads", async () => {
  const up = await upstream(BIG_AND_OTHER);
  const g = await gatewayTo(up.url, true);
  const session = http2.connect(`http://127.0.0.1:${g.address.port}`);
  closers.push({ close: () => new Promise((r) => session.close(() => r())) });
  const stream = session.request({ ':path': '/big', ':authority': 'x' });
  stream.pause();
  // Flow control stops the gateway's writes once the client's window is spent: the rest waits in its stream.
  await new Promise((r) => setTimeout(r, 300));
  await otherTraffic(g);
  assertAll(await readToEnd(stream), 'a', BIG);
});

test("an HTTP/2 client's queued body read into the shared buffer is copied, not overwritten by other connections' reads", async () => {
  // 12 KiB in two reads: the second (8 KiB, the last of a Content-Length body) is read into the
  // shared buffer; the client's stream window (1 KiB) keeps it queued in the gateway meanwhile.
  let second: (() => void) | null = null;
  const up = await upstream((socket, head) => {
    if (!head.includes('/h2-medium')) {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${8 * 1024}\r\n\r\n${fill('b', 8 * 1024)}`, 'latin1');
      return;
    }
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${12 * 1024}\r\n\r\n${fill('a', 4 * 1024)}`, 'latin1');
    second = () => socket.write(fill('a', 8 * 1024), 'latin1');
  });
  const g = await gatewayTo(up.url, true);
  const session = http2.connect(`http://127.0.0.1:${g.address.port}`, { settings: { initialWindowSize: 1024 } });
  closers.push({ close: () => new Promise((r) => session.close(() => r())) });
  const stream = session.request({ ':path': '/h2-medium', ':authority': 'x' });
  stream.pause();
  for (let i = 0; i < 100 && second === null; i++) await new Promise((r) => setTimeout(r, 10));
  second!();
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 30; i++) assert.equal((await get(g, '/other-medium')).text, fill('b', 8 * 1024));
  assertAll(await readToEnd(stream), 'a', 12 * 1024);
});

test('a response head and a chunked body arriving in pieces survive other connections reading in between', async () => {
  const pieces = [
    'HTTP/1.1 200 OK\r\nContent-Ty',
    'pe: text/plain\r\nx-piece: kept-across-reads\r\nTransfer-Enc',
    'oding: chunked\r\n\r\n1',
    '0\r\n0123456789abcdef\r\n',
    '5\r\nhel',
    'lo\r\n0\r\nx-trail',
    'er: yes\r\n\r\n',
  ];
  let step: (() => void) | null = null;
  const up = await upstream((socket, head) => {
    if (!head.includes('/pieces')) {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * 1024}\r\n\r\n${fill('b', 64 * 1024)}`, 'latin1');
      return;
    }
    let i = 0;
    step = () => {
      if (i < pieces.length) socket.write(pieces[i++]!, 'latin1');
    };
    step();
  });
  const g = await gatewayTo(up.url);
  const answer = get(g, '/pieces');
  for (let i = 1; i < pieces.length; i++) {
    // Another connection's 64 KiB read lands in the shared buffer between two pieces.
    await new Promise((r) => setTimeout(r, 20));
    const other = await get(g, '/other');
    assert.equal(other.text, fill('b', 64 * 1024));
    step!();
  }
  const r = await answer;
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-piece'], 'kept-across-reads');
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.text, '0123456789abcdefhello');
});

test('many clients at once: every response carries its own bytes', async () => {
  // Each path names a byte; the upstream answers 8 KiB to 200 KiB of it (a digest says which).
  const up = await upstream((socket, head) => {
    const m = /^GET \/(\w)\/(\d+) /.exec(head)!;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${Number(m[2])}\r\n\r\n${fill(m[1]!, Number(m[2]))}`, 'latin1');
  });
  const g = await gatewayTo(up.url);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const want = new Map<string, string>();
  const calls = Array.from({ length: 120 }, (_, i) => {
    const letter = letters[i % letters.length]!;
    const size = 8 * 1024 + ((i * 7919) % (192 * 1024));
    const path = `/${letter}/${size}`;
    want.set(path, createHash('sha256').update(fill(letter, size)).digest('hex'));
    return get(g, path).then((r) => ({ path, r }));
  });
  for (const { path, r } of await Promise.all(calls)) {
    assert.equal(r.status, 200, path);
    assert.equal(createHash('sha256').update(r.text, 'latin1').digest('hex'), want.get(path), `${path}: its own bytes`);
  }
});

// ---- chunk data of one read gathered into one write (src/http1/client-connection.ts #gather) ----

/** An upstream that answers every request with `wire` as a chunked response. */
function chunkedUpstream(wire: Buffer): Promise<RawUpstream> {
  return upstream((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
    socket.write(wire);
  });
}

/** The chunks of the chunked body of the one HTTP/1.1 response in `bytes`, as the client received them. */
function chunksOf(bytes: Buffer): Buffer[] {
  const end = bytes.indexOf('\r\n\r\n');
  assert.match(bytes.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 200 [^]*\r\ntransfer-encoding: chunked/i);
  const chunks: Buffer[] = [];
  for (let p = end + 4; ; ) {
    const eol = bytes.indexOf('\r\n', p);
    const size = parseInt(bytes.subarray(p, eol).toString('latin1'), 16);
    p = eol + 2;
    if (size === 0) break;
    chunks.push(bytes.subarray(p, p + size));
    p += size + 2;
  }
  return chunks;
}

test("an upstream's 1-byte chunks reach an HTTP/1.1 client whole, in order and in a few chunks (one per upstream read, not one per chunk)", async () => {
  const COUNT = 100_000;
  const { wire, body } = chunkedBody(COUNT, () => 1);
  const up = await chunkedUpstream(wire);
  const g = await gatewayTo(up.url);
  const got = await slowClient(g.address.port, 'GET /ones HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', Promise.resolve());
  const chunks = chunksOf(got);
  assert.ok(Buffer.concat(chunks).equals(body), 'the body, byte for byte');
  // About 600 KB arrive in 64 KiB reads: a few dozen onData calls. One per upstream chunk was 100,000.
  assert.ok(chunks.length < COUNT / 100, `${chunks.length} chunks towards the client for ${COUNT} upstream chunks`);
});

test('1-byte and larger chunks mixed, with extensions and a trailer, reach an HTTP/2 client whole, trailer kept', async () => {
  const COUNT = 60_000;
  // Mostly 1 to 3 bytes; every 50th chunk 17 to 2,000 bytes (moved with copyWithin, not byte by byte).
  const { wire, body } = chunkedBody(COUNT, (i) => (i % 50 === 49 ? 17 + ((i * 31) % 1984) : 1 + (i % 3)), 'x-check: kept\r\n');
  const up = await chunkedUpstream(wire);
  const g = await gatewayTo(up.url, true);
  const session = http2.connect(`http://127.0.0.1:${g.address.port}`);
  closers.push({ close: () => new Promise((r) => session.close(() => r())) });
  const stream = session.request({ ':path': '/mixed', ':authority': 'x' });
  const frames: Buffer[] = [];
  stream.on('data', (d: Buffer) => frames.push(d));
  const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('trailers', resolve));
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  assert.ok(Buffer.concat(frames).equals(body), 'the body, byte for byte');
  assert.equal((await trailers)['x-check'], 'kept');
});

test('tiny chunks to a slow client: paused and resumed, other connections reading in between, every byte in place', async () => {
  // 32 MiB: more than the kernel buffers hold, so the gateway must pause this upstream read. Each
  // 64 KiB chunk is followed by 100 of 1 byte.
  const { wire, body } = chunkedBody(512 * 101, (i) => (i % 101 === 0 ? 64 * 1024 : 1));
  const up = await upstream((socket, head) => {
    if (head.includes('/other')) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * 1024}\r\n\r\n${fill('b', 64 * 1024)}`, 'latin1');
    else socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), wire]));
  });
  const g = await gatewayTo(up.url);
  let readNow!: () => void;
  const slow = slowClient(g.address.port, 'GET /tiny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', new Promise((r) => (readNow = r)));
  await new Promise((r) => setTimeout(r, 300));
  await otherTraffic(g);
  readNow();
  const got = Buffer.concat(chunksOf(await slow));
  assert.equal(got.length, body.length, 'the whole body');
  assert.ok(got.equals(body), 'every byte in place');
});

/** `n` bytes that differ from read to read: byte i is a function of i, not a 64 KiB period. */
function patterned(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >>> 16) * 13) % 251;
  return b;
}

/** Sends `request`, then reads in spurts: `spurt` bytes, a pause of `pauseMs`, and again, to the close. */
function jerkyClient(port: number, request: string, spurt: number, pauseMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request, 'latin1'));
    const chunks: Buffer[] = [];
    let sinceStop = 0;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      sinceStop += d.length;
      if (sinceStop >= spurt) {
        sinceStop = 0;
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    setTimeout(() => socket.destroy(new Error('jerky client: no end within 20 s')), 20_000).unref();
  });
}

for (const chunked of [false, true]) {
  test(`a large body read into the connection's reused buffer reaches a client that stalls now and then byte for byte (${chunked ? 'chunked' : 'Content-Length'})`, async () => {
    // The connection's own read buffer is read into again only when the client's socket took a
    // read whole (read-buffer.ts lend). A stalling client makes some writes wait in the socket's
    // queue: were the buffer reused then, later reads would overwrite queued bytes, and with bytes
    // that differ along the body that shows.
    const body = patterned(12 * MIB);
    const up = await upstream((socket) => {
      if (!chunked) {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1');
        socket.write(body);
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
      for (let p = 0; p < body.length; p += 200_000) {
        const piece = body.subarray(p, Math.min(body.length, p + 200_000));
        socket.write(`${piece.length.toString(16)}\r\n`, 'latin1');
        socket.write(piece);
        socket.write('\r\n', 'latin1');
      }
      socket.write('0\r\n\r\n', 'latin1');
    });
    const g = await gatewayTo(up.url);
    const [a, b] = await Promise.all([
      jerkyClient(g.address.port, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3 * MIB, 40),
      jerkyClient(g.address.port, 'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 700 * 1024, 15),
    ]);
    const want = createHash('sha256').update(body).digest('hex');
    for (const got of [a, b]) {
      const received = bodyOf(got);
      assert.equal(received.length, body.length, 'the whole body');
      assert.equal(createHash('sha256').update(received).digest('hex'), want, 'the same bytes in the same order');
    }
  });
}
