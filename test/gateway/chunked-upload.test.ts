/**
 * Chunked request bodies (Transfer-Encoding: chunked from the client) at the socket level: raw bytes
 * from a client socket, through the gateway, to a raw upstream that counts the chunks it receives.
 * The HTTP/1.1 engine gathers the chunk data of one client read in place over its framing and hands
 * it on in one piece (src/http1/server-connection.ts #readChunkedBytes, chunked.ts ChunkGather):
 * a byte moved to the wrong place, dropped or doubled changes what the upstream gets, and one
 * upstream chunk per client chunk shows in the count.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, service, spec } from './helpers.js';
import { chunkedBody } from '../support/chunked.js';

const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers.reverse()) await c.close();
});

/** What the upstream got: each request's head, its body, and how many chunks the body came in. */
interface Received {
  head: string;
  body: Buffer;
  chunks: number;
  /** The size lines as received (the gateway drops extensions). */
  sizeLines: Set<string>;
  /** The trailer section the upstream got (the gateway drops the client's trailers). */
  trailer: string;
}

interface CountingUpstream {
  url: string;
  requests: Received[];
  /** When the first connection began reading again after its pause (Date.now()), 0 before. */
  resumedAt: number;
  close(): Promise<void>;
}

/**
 * A raw HTTP/1.1 upstream that decodes chunked request bodies itself (test-side, strict enough to
 * fail on bad framing) and answers each request with `200` and `ok`. `pauseMs`: each connection
 * reads nothing for that long after its first bytes (a slow upstream).
 */
async function countingUpstream(pauseMs = 0): Promise<CountingUpstream> {
  const requests: Received[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending: Buffer = Buffer.alloc(0);
    let current: Received | null = null;
    let parts: Buffer[] = [];
    let paused = pauseMs === 0;
    /** Parses what it can; false when more bytes are needed. */
    const step = (): boolean => {
      if (current === null) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return false;
        current = { head: pending.subarray(0, end).toString('latin1'), body: Buffer.alloc(0), chunks: 0, sizeLines: new Set(), trailer: '' };
        pending = pending.subarray(end + 4);
        parts = [];
        if (!/\r\ntransfer-encoding: chunked\r\n/i.test(current.head + '\r\n')) return finish();
        return true;
      }
      const eol = pending.indexOf('\r\n');
      if (eol === -1) return false;
      const line = pending.subarray(0, eol).toString('latin1');
      assert.match(line, /^[0-9a-f]+$/, `a bare chunk size line, got ${JSON.stringify(line.slice(0, 40))}`);
      const size = parseInt(line, 16);
      if (size === 0) {
        const end = pending.indexOf('\r\n\r\n', eol);
        const bare = pending.subarray(eol + 2, eol + 4).toString('latin1') === '\r\n';
        if (!bare && end === -1) return false;
        current.trailer = bare ? '' : pending.subarray(eol + 2, end).toString('latin1');
        pending = pending.subarray(bare ? eol + 4 : end + 4);
        return finish();
      }
      if (pending.length < eol + 2 + size + 2) return false;
      assert.equal(pending.subarray(eol + 2 + size, eol + 4 + size).toString('latin1'), '\r\n', 'CRLF after the chunk data');
      current.sizeLines.add(line);
      parts.push(pending.subarray(eol + 2, eol + 2 + size));
      current.chunks++;
      pending = pending.subarray(eol + 4 + size);
      return true;
    };
    const finish = (): true => {
      current!.body = Buffer.concat(parts);
      requests.push(current!);
      current = null;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      if (!paused) {
        paused = true;
        socket.pause();
        setTimeout(() => {
          if (up.resumedAt === 0) up.resumedAt = Date.now();
          socket.resume();
        }, pauseMs);
      }
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (step());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const up: CountingUpstream = {
    url: `http://127.0.0.1:${port}`,
    requests,
    resumedAt: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  closers.push(up);
  return up;
}

async function gatewayTo(url: string): Promise<Gateway> {
  const g = await gatewayFor(spec({ services: { svc: service({ stable: [url] }) } }));
  closers.push({ close: () => g.close({ drainMs: 100 }) });
  return g;
}

/**
 * A raw client: connects, writes `pieces` one by one (`gapMs` apart, so that they tend to arrive as
 * separate reads), and reads until `responses` responses ("HTTP/1.1 200" heads with a 2-byte body)
 * are in or the gateway closes. With `waitFor100`, the first piece (the head) goes alone and the
 * rest only after `100 Continue`. `onFlushed`: the last piece has been handed to the kernel.
 */
function rawClient(
  port: number,
  pieces: Buffer[],
  opts: { gapMs?: number; responses?: number; waitFor100?: boolean; onFlushed?: () => void } = {},
): Promise<string> {
  const { gapMs = 0, responses = 1, waitFor100 = false, onFlushed } = opts;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let got = '';
    let sent = false;
    const timer = setTimeout(() => socket.destroy(new Error(`raw client: no answer within 15 s (got ${JSON.stringify(got.slice(0, 200))})`)), 15_000);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const sendRest = async (from: number): Promise<void> => {
      for (let i = from; i < pieces.length && !socket.destroyed; i++) {
        if (gapMs > 0 && i > from) await new Promise((r) => setTimeout(r, gapMs));
        socket.write(pieces[i]!, i === pieces.length - 1 ? onFlushed : undefined);
      }
    };
    socket.on('error', reject);
    socket.on('connect', () => {
      if (waitFor100) socket.write(pieces[0]!);
      else void sendRest(0);
    });
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (waitFor100 && !sent && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sent = true;
        void sendRest(1);
      }
      if ((got.match(/HTTP\/1\.1 200 [^]*?\r\n\r\nok/g) ?? []).length >= responses) done();
    });
    socket.on('end', done);
  });
}

const HEAD = 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';

test("100,000 1-byte chunks reach the upstream byte for byte in far fewer chunks (one per client read, not one per chunk)", async (t) => {
  const COUNT = 100_000;
  const { wire, body } = chunkedBody(COUNT, () => 1);
  const up = await countingUpstream();
  const g = await gatewayTo(up.url);
  const got = await rawClient(g.address.port, [Buffer.concat([Buffer.from(HEAD), wire])]);
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.equal(up.requests.length, 1);
  const r = up.requests[0]!;
  assert.match(r.head, /\r\ntransfer-encoding: chunked/i);
  assert.ok(r.body.equals(body), `the body, byte for byte (${r.body.length} of ${body.length} bytes)`);
  t.diagnostic(`${r.chunks} chunks upstream for ${COUNT}`);
  // About 600 KB arrive in reads of up to 64 KiB: a few dozen data() calls. One per client chunk was 100,000.
  assert.ok(r.chunks < COUNT / 100, `${r.chunks} chunks upstream for ${COUNT} from the client`);
});

test('mixed-size chunks with extensions and a trailer, split at awkward places, with 100-continue and a request pipelined after', async (t) => {
  const COUNT = 20_000;
  // Mostly 1 to 3 bytes; every 50th chunk 17 to 2,000 bytes (moved with copyWithin, not byte by byte).
  const { wire, body } = chunkedBody(COUNT, (i) => (i % 50 === 49 ? 17 + ((i * 31) % 1984) : 1 + (i % 3)), 'x-check: kept\r\nx-more: 1\r\n');
  // Split points: inside a size line, between its CR and LF, inside an extension, inside chunk data,
  // between the data and its CRLF, in the last-chunk line, in the trailer, and before its final LF.
  const cuts = new Set<number>();
  const at = (needle: string, from: number, offset: number): void => {
    const i = wire.indexOf(needle, from, 'latin1');
    assert.ok(i >= 0, `${needle} in the body`);
    cuts.add(i + offset);
  };
  at(';ext=1', 1000, 3); // inside an extension
  at(';q="a;b"', 1000, 5); // inside a quoted extension value, after its ';'
  at('\r\n', 5000, 1); // between a CR and its LF
  for (let p = 7001; p < wire.length - 60; p += 997) cuts.add(p); // anywhere: sizes, data, CRLFs
  const tail = wire.length - Buffer.byteLength('0\r\nx-check: kept\r\nx-more: 1\r\n\r\n');
  for (const off of [1, 2, 3, 8, 14, 17, 25, 27, 28, 29]) cuts.add(tail + off);
  const sorted = [...cuts].sort((a, b) => a - b);
  const pieces: Buffer[] = [Buffer.from('POST /mixed HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n')];
  let last = 0;
  for (const c of sorted) {
    pieces.push(wire.subarray(last, c));
    last = c;
  }
  // The rest of the body and, in the same write, the next request on the connection.
  pieces.push(Buffer.concat([wire.subarray(last), Buffer.from('GET /after HTTP/1.1\r\nHost: x\r\n\r\n')]));
  const up = await countingUpstream();
  const g = await gatewayTo(up.url);
  const got = await rawClient(g.address.port, pieces, { gapMs: 2, responses: 2, waitFor100: true });
  assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  assert.equal((got.match(/HTTP\/1\.1 200 /g) ?? []).length, 2, 'both requests answered on the connection');
  assert.equal(up.requests.length, 2);
  const [upload, next] = up.requests;
  assert.ok(upload!.body.equals(body), `the body, byte for byte (${upload!.body.length} of ${body.length} bytes)`);
  assert.deepEqual([...upload!.sizeLines].filter((l) => !/^[0-9a-f]+$/.test(l)), [], 'extensions dropped');
  assert.equal(upload!.trailer, '', "the client's trailers are read and dropped, as before");
  t.diagnostic(`${upload!.chunks} chunks upstream for ${COUNT} in ${pieces.length} writes`);
  assert.ok(upload!.chunks < COUNT / 10, `${upload!.chunks} chunks upstream for ${COUNT} from the client in ${pieces.length} writes`);
  assert.match(next!.head, /^GET \/after HTTP\/1\.1\r\n/);
  assert.equal(next!.body.length, 0);
});

test('an upload to an upstream that reads nothing for a while completes with every byte, the client held back meanwhile', async (t) => {
  // 32 MiB, more than the kernel buffers between the client, the gateway and the upstream hold: the
  // gateway must pause the client read. Each 64 KiB chunk is followed by 100 of 1 byte.
  const COUNT = 512 * 101;
  const { wire, body } = chunkedBody(COUNT, (i) => (i % 101 === 0 ? 64 * 1024 : 1));
  const up = await countingUpstream(1500);
  const g = await gatewayTo(up.url);
  let flushedAt = 0;
  const got = await rawClient(g.address.port, [Buffer.from(HEAD), wire], { onFlushed: () => (flushedAt = Date.now()) });
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.equal(up.requests.length, 1);
  const r = up.requests[0]!;
  assert.equal(r.body.length, body.length, 'the whole body');
  assert.ok(r.body.equals(body), 'every byte in place');
  // A gateway that took the client's bytes while the upstream read nothing would have let the
  // client hand its whole body to the kernel long before the upstream resumed.
  assert.ok(flushedAt >= up.resumedAt && up.resumedAt > 0, `the client could send its last byte ${up.resumedAt - flushedAt} ms before the upstream read again`);
  t.diagnostic(`${r.chunks} chunks upstream for ${COUNT}`);
  assert.ok(r.chunks < COUNT / 10, `${r.chunks} chunks upstream for ${COUNT} from the client`);
});
