/**
 * readWithBuffer (src/http1/read-buffer.ts): a connection accepted by a `pauseOnConnect` server,
 * re-wrapped to read with `onread` into the shared buffer. Over real sockets on 127.0.0.1: the fast
 * path is taken on this Node (a Node that no longer allows it would silently be slower: this test
 * says so), each read reaches the callback as its own copy, backpressure and half-close work, and
 * the server's count of connections stays right (server.close() completes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { lend, READ_BUFFER, readWithBuffer, returned } from '../../src/http1/read-buffer.js';
import { ResponseWriter } from '../../src/http1/response-writer.js';

interface Accepted {
  socket: net.Socket;
  userBuffer: boolean;
  chunks: Buffer[];
}

/** A pauseOnConnect server whose connections read through readWithBuffer; `onBytes` may refuse (false). */
async function serve(onBytes: (socket: net.Socket, chunk: Buffer, a: Accepted) => boolean = () => true) {
  const accepted: Accepted[] = [];
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
    const a = { chunks: [] } as unknown as Accepted;
    const r = readWithBuffer(s, true, (socket, chunk) => {
      a.chunks.push(chunk);
      return onBytes(socket, chunk, a);
    });
    a.socket = r.socket;
    a.userBuffer = r.userBuffer;
    accepted.push(a);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { server, port, accepted };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.on('error', reject);
  });
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

test('an accepted connection reads through onread on this Node, each read its own copy', async () => {
  const { server, port, accepted } = await serve();
  const client = await connect(port);
  client.write('first read');
  await until('the first read arrives', () => accepted[0]?.chunks.length === 1);
  assert.equal(accepted[0]!.userBuffer, true, 'the fast path (a Node that refuses it falls back to data events)');
  client.write('second');
  await until('the second read arrives', () => accepted[0]!.chunks.length === 2);
  // The shared buffer has been overwritten by the second read: the first chunk is unchanged.
  assert.equal(accepted[0]!.chunks[0]!.toString(), 'first read');
  assert.notEqual(accepted[0]!.chunks[0]!.buffer, READ_BUFFER.buffer);
  assert.equal(accepted[0]!.chunks[1]!.toString(), 'second');
  // The re-wrapped socket writes and knows its peer.
  assert.equal(accepted[0]!.socket.remoteAddress, '127.0.0.1');
  const echoed = new Promise<string>((resolve) => client.once('data', (d: Buffer) => resolve(d.toString())));
  accepted[0]!.socket.write('pong');
  assert.equal(await echoed, 'pong');
  // server.close() waits for the server's count of connections: it completes once the connection
  // closed (here: the server ends its half after the client's FIN, allowHalfOpen).
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  accepted[0]!.socket.once('end', () => accepted[0]!.socket.end());
  client.end();
  await closed;
});

test('half-close: the client FIN is an end event, and the server may still answer (allowHalfOpen)', async () => {
  const { server, port, accepted } = await serve();
  const client = await connect(port);
  const answered = new Promise<string>((resolve) => {
    let text = '';
    client.on('data', (d: Buffer) => (text += d.toString()));
    client.on('end', () => resolve(text));
  });
  await until('accepted', () => accepted.length === 1);
  const ended = new Promise<void>((resolve) => accepted[0]!.socket.once('end', resolve));
  client.end('bye');
  await ended;
  accepted[0]!.socket.end('after your end');
  assert.equal(await answered, 'after your end');
  assert.equal(Buffer.concat(accepted[0]!.chunks).toString(), 'bye');
  // Both halves ended: the connection closed, and with it the server.
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('pause() stops reading (the client is held by TCP), resume() reads on, nothing lost', async () => {
  let pauseAfterRead = true;
  const { server, port, accepted } = await serve((socket) => {
    if (pauseAfterRead) socket.pause();
    return true;
  });
  const client = await connect(port);
  const total = 8 * 1024 * 1024;
  const block = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const sendMore = () => {
    while (sent < total) {
      sent += block.length;
      if (!client.write(block)) break;
    }
    if (sent >= total) client.end();
  };
  client.on('drain', sendMore);
  sendMore();
  await until('one read arrived, then the server paused', () => accepted[0]?.chunks.length === 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(accepted[0]!.chunks.length, 1, 'no read while paused');
  assert.ok(sent < total, 'the client is held back by TCP');
  const a = accepted[0]!;
  const ended = new Promise<void>((resolve) => a.socket.once('end', resolve));
  pauseAfterRead = false;
  a.socket.resume();
  await ended;
  assert.equal(sent, total);
  assert.equal(a.chunks.reduce((n, c) => n + c.length, 0), total, 'every byte');
  assert.ok(a.chunks.every((c) => c.every((b) => b === 0x61)), 'the bytes as sent');
  client.destroy();
  a.socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a socket that is not a connected stream is returned as it is (the usual reading)', () => {
  const loose = new net.Socket();
  const r = readWithBuffer(loose, true, () => true);
  assert.equal(r.socket, loose);
  assert.equal(r.userBuffer, false);
  loose.destroy();
});

test("a lent read buffer is free again only when the client's socket took the whole chunk at once", async () => {
  // The contract between the upstream pool (lend/returned) and the client's ResponseWriter
  // (settled), over a real socket pair: a buffer whose bytes still wait in a socket's queue must
  // never be read into again.
  // A peer that never reads: its connections are accepted paused and left so.
  const held: net.Socket[] = [];
  const peer = net.createServer({ pauseOnConnect: true }, (s) => held.push(s));
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const socket = await connect((peer.address() as net.AddressInfo).port);
  const writer = new ResponseWriter(socket, { minor: 1, head: false, keepAlive: true });
  writer.writeHead(200, [], -1);
  const own = Buffer.alloc(64 * 1024, 0x61);

  lend(own);
  assert.equal(returned(), false, 'a read nobody spoke for stays out');

  lend(own);
  writer.write(own.subarray(0, 32 * 1024));
  assert.equal(socket.writableLength, 0, 'the kernel took the first chunk at once');
  assert.equal(returned(), true, 'written through: free again');

  // The peer does not read: the kernel's buffers fill and a write ends up in the socket's queue.
  let queued = false;
  for (let i = 0; i < 2000 && !queued; i++) {
    lend(own);
    writer.write(own.subarray(0, 32 * 1024));
    queued = socket.writableLength > 0;
    assert.equal(returned(), !queued, `write ${i}: free exactly when nothing waits in the queue`);
  }
  assert.ok(queued, 'the socket queued a write');
  lend(own);
  writer.write(Buffer.from('another buffer'));
  assert.equal(returned(), false, "another buffer's write says nothing of the lent one");
  socket.destroy();
  for (const s of held) s.destroy();
  await new Promise<void>((resolve) => peer.close(() => resolve()));
});
