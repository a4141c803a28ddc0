import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { findHeadEnd, headerObject, parseRequestHead, rawHeaders, RequestHead } from './index.js';

/** Node's own header object for the same raw lines (the joining rules of http.Server). */
function nodeHeaders(raw: string[]): Record<string, unknown> {
  const m = new IncomingMessage(null as never) as IncomingMessage & { _addHeaderLines(h: string[], n: number): void };
  m._addHeaderLines(raw, raw.length);
  return { ...m.headers };
}

function ours(text: string): { headers: Record<string, unknown>; raw: string[]; object: object } {
  const buf = Buffer.from(text, 'latin1');
  const head = new RequestHead({ maxHeaderBytes: 1 << 16, maxHeaders: 200, maxUrlBytes: 1 << 14 });
  const end = findHeadEnd(buf, 0, 0, buf.length) as number;
  const bad = parseRequestHead(buf, 0, end, head);
  assert.equal(bad, null, JSON.stringify(text));
  const object = headerObject(buf, head.fields);
  return { headers: { ...object }, raw: rawHeaders(buf, head.fields), object };
}

test('repeated fields are joined as Node joins them: set-cookie array, cookie with "; ", first-only fields, the rest with ", "', () => {
  const { headers, raw, object } = ours(
    'GET / HTTP/1.1\r\nHost: a\r\nSet-Cookie: x\r\nset-cookie: y\r\nCookie: a=1\r\ncookie: b=2\r\nX-A: 1\r\nx-a: 2\r\nContent-Type: t1\r\ncontent-type: t2\r\nAccept:\r\naccept: z\r\n__proto__: p\r\n\r\n',
  );
  assert.deepEqual(headers, nodeHeaders(raw));
  assert.deepEqual(headers['set-cookie'], ['x', 'y']);
  assert.equal(headers.cookie, 'a=1; b=2');
  assert.equal(headers['content-type'], 't1');
  assert.equal(headers['x-a'], '1, 2');
  assert.equal(Object.hasOwn(headers, '__proto__'), false, 'dropped, as Node drops it');
  assert.equal(Object.getPrototypeOf(object), null, 'a header named like a prototype member is only data');
});

const NAMES = ['Host', 'host', 'X-A', 'x-a', 'Cookie', 'cookie', 'Set-Cookie', 'Content-Type', 'User-Agent', 'Baggage', 'baggage', 'Authorization', 'X-Gray-Lane', 'X-B', 'Accept', 'constructor', 'toString', '__proto__'];

test('header objects equal Node\'s for generated field lists (1,000 cases)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.stringMatching(/^[ -~]{0,6}$/).map((s) => s.trim())), { maxLength: 12 }), (pairs) => {
      const hasHost = pairs.some(([n]) => n.toLowerCase() === 'host');
      const lines = pairs.filter(([n]) => n.toLowerCase() !== 'host' || !hasHost).map(([n, v]) => `${n}: ${v}\r\n`);
      const { headers, raw } = ours(`GET / HTTP/1.1\r\nHost: h\r\n${lines.join('')}\r\n`);
      assert.deepEqual(headers, nodeHeaders(raw));
    }),
    { numRuns: 1000 },
  );
});
