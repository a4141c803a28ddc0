/**
 * Oversized requests are refused before routing and never reach an upstream: a long request target
 * is 414, too many header fields 431 (the gateway), a head over maxHeaderBytes 431 (Node's parser).
 * The limits are `limits` in the spec; the ones a running server can change follow a reload.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../src/routing/index.js';
import type { Gateway } from '../../src/gateway/server.js';
import type { Spec } from '../../src/spec/types.js';
import { gatewayFor, route, service, spec, startUpstream, type Upstream } from '../gateway/helpers.js';
import { raw } from './helpers.js';

let upstream: Upstream;
let gw: Gateway;
let base: Spec;
const LIMITS = { maxUrlBytes: 1024, maxHeaderBytes: 4096, maxHeaders: 20, headersTimeoutMs: 10_000, maxConcurrentStreams: 100 };
before(async () => {
  upstream = await startUpstream('stable');
  base = spec({ services: { svc: service({ stable: [upstream.url] }) }, routes: [route()], limits: LIMITS });
  gw = await gatewayFor(base);
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await upstream.close();
});

/** A GET with `fields` header fields in all (Host included). */
function withFields(fields: number, path = '/'): string {
  let head = `GET ${path} HTTP/1.1\r\nHost: a\r\n`;
  for (let i = 1; i < fields; i++) head += `x-f${i}: ${i}\r\n`;
  return `${head}\r\n`;
}

async function statusOf(bytes: string): Promise<{ status: number; body: string; closed: boolean }> {
  const r = await raw(gw, bytes, { responses: 1 });
  assert.equal(r.responses.length, 1, JSON.stringify(r.text.slice(0, 200)));
  return { status: r.responses[0]!.status, body: r.responses[0]!.body, closed: r.closedByServer };
}

test('a request target of exactly maxUrlBytes is served; one byte more is 414 uri_too_long', async () => {
  const n = upstream.received.length;
  const path = `/${'a'.repeat(LIMITS.maxUrlBytes - 1)}`;
  assert.equal((await statusOf(withFields(1, path))).status, 200);
  const long = await statusOf(withFields(1, `${path}b`));
  assert.equal(long.status, 414);
  assert.equal(JSON.parse(long.body).error, 'uri_too_long');
  assert.equal(upstream.received.length, n + 1, 'only the first reached the upstream');
});

test('a request target longer than the whole head limit is cut by Node first: 431', async () => {
  const n = upstream.received.length;
  const r = await raw(gw, withFields(1, `/${'a'.repeat(LIMITS.maxHeaderBytes + 10)}`));
  assert.equal(r.responses[0]!.status, 431);
  assert.ok(r.closedByServer);
  assert.equal(upstream.received.length, n);
});

test('maxHeaders fields are served; one more is 431 headers_too_large; hundreds more too (never forwarded truncated)', async () => {
  const n = upstream.received.length;
  assert.equal((await statusOf(withFields(LIMITS.maxHeaders))).status, 200);
  const over = await statusOf(withFields(LIMITS.maxHeaders + 1));
  assert.equal(over.status, 431);
  assert.equal(JSON.parse(over.body).error, 'headers_too_large');
  // Node keeps only maxHeadersCount fields; the gateway must still notice there were more.
  assert.equal((await statusOf(withFields(400))).status, 431);
  assert.equal(upstream.received.length, n + 1);
});

test('a head over maxHeaderBytes (one huge cookie) is 431 from the parser and the connection is closed', async () => {
  const n = upstream.received.length;
  const r = await raw(gw, `GET / HTTP/1.1\r\nHost: a\r\nCookie: ${'c'.repeat(LIMITS.maxHeaderBytes)}\r\n\r\n`);
  assert.equal(r.responses[0]!.status, 431);
  assert.ok(r.closedByServer);
  assert.equal(upstream.received.length, n);
});

test('a reload changes maxUrlBytes and maxHeaders for the next request', async () => {
  const bigger = compile({ ...base, limits: { ...LIMITS, maxUrlBytes: 2048, maxHeaders: 30 } });
  gw.swap(bigger);
  try {
    assert.equal((await statusOf(withFields(25, `/${'a'.repeat(1500)}`))).status, 200);
  } finally {
    gw.swap(compile(base));
  }
  assert.equal((await statusOf(withFields(25))).status, 431);
});

test('a Spec without limits (built in code) gets the defaults: an 9 KiB target is 414', async () => {
  const plain = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url] }) }, routes: [route()] }));
  try {
    const r = await raw(plain, withFields(1, `/${'a'.repeat(9 * 1024)}`), { responses: 1 });
    assert.equal(r.responses[0]!.status, 414);
  } finally {
    await plain.close({ drainMs: 100 });
  }
});
