/**
 * The upstream request head, byte for byte, at the socket level: generated client requests (names
 * in any case, repeated, with any whitespace around values, lane headers in both spellings,
 * baggage, Connection naming fields, X-Forwarded-*, cookies, bodies by length and chunked) go
 * through a real gateway to a recording upstream on 127.0.0.1. Each must arrive exactly as the
 * array path writes it: upstreamRequestFields' `[name, value, ...]` of the same parsed head, sent
 * by graylane's HTTP/1.1 pool to a second recording upstream. The gateway renders the lines from
 * the client's bytes instead (src/gateway/headers.ts renderFields); the upstream cannot tell.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { findHeadEnd, parseRequestHead, RequestFields, RequestHead } from '../../src/http1/index.js';
import { compileModifier, upstreamRequestFields, type ForwardContext } from '../../src/gateway/headers.js';
import { PoolSet } from '../../src/gateway/pools.js';
import type { Gateway } from '../../src/gateway/server.js';
import type { HeaderModifier } from '../../src/spec/types.js';
import { gatewayFor, route, service, spec } from './helpers.js';
import { raw, startRecordingUpstream, type RecordingUpstream } from '../security/helpers.js';

/** The beta rule's header modifier: a field set, one added, one removed. */
const MODIFIER: HeaderModifier = { set: { 'X-Set': 's' }, add: { 'x-add': 'a' }, remove: ['X-Drop'] };

let up: RecordingUpstream;
let ref: RecordingUpstream;
let gw: Gateway;
let pools: PoolSet;
before(async () => {
  up = await startRecordingUpstream('up');
  ref = await startRecordingUpstream('ref');
  gw = await gatewayFor(
    spec({
      laneAliases: ['x-mse-tag'],
      services: { svc: service({ stable: [up.url], beta: [up.url] }) },
      routes: [route({ rules: [{ lane: 'beta', header: { name: 'x-beta', equals: '1' }, headers: MODIFIER }] })],
    }),
  );
  pools = new PoolSet({ connectTimeoutMs: 1000, connections: 1, engine: 'graylane' });
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await pools.close(true);
  await Promise.all([up.close(), ref.close()]);
});

const NAMES = [
  'User-Agent', 'user-agent', 'Accept', 'Accept-Encoding', 'Cookie', 'cookie', 'COOKIE', 'X-Gray-Lane', 'x-gray-lane', 'x_gray_lane',
  'X_Gray_Lane', 'X-Mse-Tag', 'x_mse_tag', 'Baggage', 'baggage', 'Connection', 'X-Secret', 'x-secret', 'X-Forwarded-For',
  'x-forwarded-for', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Drop', 'x-drop', 'X-Set', 'X-Beta', 'x-beta', 'Keep-Alive', 'TE',
  'Traceparent', 'X-A', 'x-a', 'Referer', 'X-User-Id',
];
const VALUE = fc.oneof(
  fc.stringMatching(/^[!-~]([ -~]{0,12}[!-~])?$/),
  fc.constant(''),
  fc.constantFrom('1', '1', 'keep-alive, X-Secret', 'x-secret,x-a', 'a=1,graylane-lane=alpha', 'alpha', 'sid=1; theme=dark', 'caf\xe9', '\x80\xff obs'),
);
const OWS = fc.constantFrom('', ' ', ' ', ' ', '  ', '\t');
const TRAILING = fc.constantFrom('', '', '', ' ', '\t ');
const FIELD = fc.tuple(fc.constantFrom(...NAMES), VALUE, OWS, TRAILING).map(([n, v, b, a]) => `${n}:${b}${v}${a}\r\n`);

/** A request: method and body framing, its field lines (one Host somewhere among them). */
const REQUEST = fc
  .record({
    body: fc.constantFrom('none', 'length', 'chunked'),
    host: fc.constantFrom('Host: shop.example\r\n', 'host:shop.example:8080 \r\n', 'HOST:\tshop.example\r\n'),
    fields: fc.oneof(fc.uniqueArray(FIELD, { maxLength: 12, selector: (l) => l.slice(0, l.indexOf(':')).toLowerCase() }), fc.array(FIELD, { maxLength: 12 })),
    hostAt: fc.nat(12),
    /** Marked beta by the rule, which modifies the fields (unless the client repeats X-Beta). */
    beta: fc.constantFrom('', '', 'X-Beta: 1\r\n', 'x-beta:1 \r\n'),
  })
  .map(({ body, host, fields, hostAt, beta }) => {
    // A Connection field that says close would end the connection before the requests after it.
    const lines = fields.filter((l) => !/^connection:.*close/i.test(l));
    lines.splice(Math.min(hostAt, lines.length), 0, host);
    if (beta !== '') lines.unshift(beta);
    if (body === 'length') lines.push('Content-Length: 3\r\n');
    if (body === 'chunked') lines.push('Transfer-Encoding: chunked\r\n');
    return { body, lines };
  });

/** The request line, field lines and body a recording upstream received, as one string. */
function receivedText(r: RecordingUpstream['received'][number]): string {
  return `${r.line}\r\n${r.headerLines.join('\r\n')}\r\n\r\n${r.body}`;
}

/** What the array path sends for the same client head: upstreamRequestFields, through graylane's pool. */
async function arrayPath(method: string, path: string, head: string, body: string): Promise<void> {
  const buf = Buffer.from(head, 'latin1');
  const parsed = new RequestHead({ maxHeaderBytes: 1 << 16, maxHeaders: 200, maxUrlBytes: 1 << 14 });
  assert.equal(parseRequestHead(buf, 0, findHeadEnd(buf, 0, 0, buf.length) as number, parsed), null);
  const fields = new RequestFields(buf, parsed.fields);
  const beta = fields.get('x-beta') === '1';
  const ctx: ForwardContext = {
    laneHeaders: ['x-gray-lane', 'x-mse-tag'],
    lane: beta ? 'beta' : 'stable',
    trustLane: false,
    modifier: beta ? compileModifier(MODIFIER) : null,
    clientAddress: '127.0.0.1',
    proto: 'http',
  };
  const headers = upstreamRequestFields(fields, ctx);
  const stream = body === 'chunked' ? Readable.from([Buffer.from('abc')]) : body === 'length' ? Buffer.from('abc') : null;
  const res = await pools.get(ref.url).request({ path, method: method as 'GET', headers, body: stream });
  assert.equal(await res.body.text(), 'ref');
}

test('the upstream receives the head the array path writes, byte for byte, for generated client requests, 1 to 3 on a connection (250 connections)', async () => {
  let n = 0;
  let beta = 0;
  // Counts the gateway's renderings from the client's bytes (the array path above makes none).
  const lines = RequestFields.prototype.lines;
  let rendered = 0;
  RequestFields.prototype.lines = function (this: RequestFields, from: number, to: number) {
    rendered++;
    return lines.call(this, from, to);
  };
  after(() => {
    RequestFields.prototype.lines = lines;
  });
  await fc.assert(
    // Pipelined in one write: each head after the first is parsed over the offsets of the one before.
    fc.asyncProperty(fc.array(REQUEST, { minLength: 1, maxLength: 3 }), async (requests) => {
      const sent = requests.map(({ body, lines }) => {
        const method = body === 'none' ? 'GET' : 'POST';
        const path = `/p/${n}?q=${n++}`;
        const head = `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
        const payload = body === 'length' ? 'abc' : body === 'chunked' ? '3\r\nabc\r\n0\r\n\r\n' : '';
        return { method, path, head, body, payload };
      });
      const before = up.received.length;
      const r = await raw(gw, sent.map((x) => x.head + x.payload).join(''), { responses: sent.length });
      assert.deepEqual(r.responses.map((x) => x.status), sent.map(() => 200), r.text);
      assert.equal(up.received.length, before + sent.length);
      for (let i = 0; i < sent.length; i++) {
        const { method, path, head, body } = sent[i]!;
        await arrayPath(method, path, head, body);
        assert.equal(receivedText(up.received[before + i]!), receivedText(ref.received.at(-1)!), JSON.stringify(head));
        if (up.received[before + i]!.headerLines.includes('x-gray-lane: beta')) beta++;
      }
    }),
    { numRuns: 250 },
  );
  assert.ok(n >= 400, `${n} requests`);
  assert.ok(rendered > 250, `only ${rendered} runs of field lines rendered from the client's bytes`);
  assert.ok(beta > 10, `only ${beta} requests with the rule's header modifier`);
});

test('the client\'s lane headers, in either spelling, never reach the upstream on the rendered path: the decided lane does', async () => {
  const head =
    'GET /lane HTTP/1.1\r\nUser-Agent: ua\r\nX-Gray-Lane: alpha\r\nHost: shop.example\r\nx_mse_tag: alpha\r\nX_Gray_Lane: alpha\r\n' +
    'X-Mse-Tag:alpha \r\nAccept: */*\r\n\r\n';
  const n = up.received.length;
  const r = await raw(gw, head, { responses: 1 });
  assert.equal(r.responses[0]?.status, 200);
  assert.deepEqual(up.received[n]!.headerLines, [
    'host: shop.example',
    'connection: keep-alive',
    'user-agent: ua',
    'accept: */*',
    'x-forwarded-for: 127.0.0.1',
    'x-forwarded-proto: http',
    'x-forwarded-host: shop.example',
    'x-gray-lane: stable',
    'x-mse-tag: stable',
    'baggage: graylane-lane=stable',
  ]);
});
