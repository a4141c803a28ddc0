/**
 * Graceful shutdown: in-flight requests finish, new connections are refused, keep-alive connections
 * are closed, and whatever outlives drainMs is cut.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, service, spec, startUpstream, type Upstream } from './helpers.js';
import { until } from '../support/wait.js';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** An upstream that holds every response until `release()`. */
async function heldUpstream(): Promise<Upstream & { release(): void; waiting(): number }> {
  const held: http.ServerResponse[] = [];
  let released = false;
  const u = await startUpstream('stable', 'held', (_req, res) => {
    if (released) return false;
    held.push(res);
    return true;
  });
  cleanup.push(u.close);
  return Object.assign(u, {
    release() {
      released = true;
      for (const res of held.splice(0)) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('finally');
      }
    },
    waiting: () => held.length,
  });
}

/** A GET over its own connection; resolves with status, `connection` header and body. */
function slowGet(port: number): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: new http.Agent({ keepAlive: true }) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Resolves with true when a TCP connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

test('close() lets an in-flight request finish, refuses new connections and closes idle keep-alive ones', async () => {
  const upstream = await heldUpstream();
  const g: Gateway = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) } }));
  const port = g.address.port;
  const inFlight = slowGet(port);
  await until('the request held at the upstream', () => upstream.waiting() === 1, 5000);
  // Another client's keep-alive connection, idle after one request (answered by the gateway itself).
  const idle = net.connect(port, '127.0.0.1');
  const idleClosed = new Promise((r) => idle.once('close', r));
  const answered = new Promise((r) => idle.once('data', r));
  idle.write('GET http://absolute/ HTTP/1.1\r\nHost: x\r\n\r\n');
  await answered;

  let closed = false;
  const closing = g.close({ drainMs: 10_000 }).then(() => (closed = true));
  await idleClosed;
  assert.equal(await refused(port), true, 'no new connections while draining');
  assert.equal(closed, false, 'close waits for the in-flight request');
  upstream.release();
  const r = await inFlight;
  assert.deepEqual(r, { status: 200, connection: 'close', body: 'finally' });
  await closing;
  assert.equal(g.inFlight(), 0);
});

test('close() cuts what is still running when drainMs is over', async () => {
  const upstream = await heldUpstream();
  const g = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) } }));
  const inFlight = slowGet(g.address.port).then(
    () => null,
    (err: Error) => err,
  );
  await until('the request held at the upstream', () => upstream.waiting() === 1, 5000);
  await g.close({ drainMs: 100 });
  assert.match(String(await inFlight), /socket hang up|ECONNRESET/);
  upstream.release();
});

test('SIGTERM drains a gateway process: the in-flight request completes, then the process exits 0', async () => {
  const upstream = await heldUpstream();
  const child = fork(
    new URL('./fixtures/gateway-child.js', import.meta.url),
    [JSON.stringify(spec({ drainMs: 10_000, services: { svc: service({ stable: [upstream.url] }) } }))],
    { stdio: 'inherit' },
  );
  cleanup.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const messages: unknown[] = [];
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  child.on('message', (m) => messages.push(m));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const inFlight = slowGet(port);
  await until('the request held at the upstream', () => upstream.waiting() === 1, 5000);
  child.kill('SIGTERM');
  // The listener closes first (the signal arrives asynchronously: poll, bounded) while the request is still served.
  let isRefused = false;
  for (let i = 0; i < 200 && !isRefused; i++) {
    isRefused = await refused(port);
    if (!isRefused) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(isRefused, true);
  assert.equal(child.exitCode, null, 'still draining');
  upstream.release();
  assert.deepEqual(await inFlight, { status: 200, connection: 'close', body: 'finally' });
  assert.equal(await exited, 0);
  assert.deepEqual(messages, [{ drained: true }]);
});
