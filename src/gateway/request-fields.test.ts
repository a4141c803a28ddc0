import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileModifier, fieldArray, renderFields, upstreamRequestFields, upstreamRequestHeaders, type ForwardContext } from './headers.js';
import { findHeadEnd, headerObject, parseRequestHead, RequestFields, RequestHead } from '../http1/index.js';

/**
 * The look-ups and the upstream rewrite over the parsed offsets give exactly what the header object
 * gives (the object, built by headerObject, is held to Node's own joining rules by
 * header-object.test.ts): routing and upstreams cannot tell which one the gateway read.
 */

function parsed(lines: string[]): { fields: RequestFields; object: Record<string, string | string[] | undefined> } {
  const buf = Buffer.from(`GET / HTTP/1.1\r\n${lines.join('')}\r\n`, 'latin1');
  const head = new RequestHead({ maxHeaderBytes: 1 << 16, maxHeaders: 200, maxUrlBytes: 1 << 14 });
  const end = findHeadEnd(buf, 0, 0, buf.length) as number;
  assert.equal(parseRequestHead(buf, 0, end, head), null, JSON.stringify(lines));
  return { fields: new RequestFields(buf, head.fields), object: headerObject(buf, head.fields) as Record<string, string | string[] | undefined> };
}

/** Names in several spellings: FIRST_ONLY ones, set-cookie, cookie, lane headers with `_`, prototype members, array indices. */
const NAMES = [
  'Host', 'X-A', 'x-a', 'X-a', 'Cookie', 'cookie', 'COOKIE', 'Set-Cookie', 'set-cookie', 'Content-Type', 'User-Agent', 'Referer',
  'Authorization', 'Baggage', 'baggage', 'X-Forwarded-For', 'x-forwarded-for', 'X-Forwarded-Host', 'Connection', 'Keep-Alive',
  'X-Gray-Lane', 'x_gray_lane', 'X_Gray_Lane', 'X-Mse-Tag', 'X-Secret', 'x-secret', 'Upgrade', 'TE', 'Accept', 'accept',
  'constructor', 'toString', '__proto__', '__PROTO__', 'hasOwnProperty', '0', '12', '007', '4294967295', 'X-Drop', 'x-set', 'Via',
];
/** Look-ups of names absent or spelled as no object key is (upper-case), besides every name present. */
const EXTRA = ['x-absent', 'Host', 'X-A', 'constructor', '__proto__', 'toString', 'valueOf', 'x_a', 'set-cookie', 'cookie', ''];

const value = fc.oneof(
  fc.stringMatching(/^[!-~]([ -~]{0,8}[!-~])?$/),
  fc.constant(''),
  fc.constantFrom('keep-alive, X-Secret', 'close', 'x-secret,x-a', 'a=1,graylane-lane=alpha', 'beta', 'caf\xe9', '\x80\xff obs'),
);
const field = fc.tuple(fc.constantFrom(...NAMES), value);
/** Half the cases name each field once (the path without the object), half repeat some. */
const fieldLines = fc.oneof(
  fc.uniqueArray(field, { maxLength: 14, selector: ([n]) => n.toLowerCase() }),
  fc.array(field, { maxLength: 14 }),
).map((pairs) =>
  // One Host: the parser refuses two (and HTTP/1.1 needs one).
  ['Host: h.example\r\n', ...pairs.filter(([n]) => n !== 'Host').map(([n, v]) => `${n}: ${v}\r\n`)],
);

test('get(name) is the header object\'s value for every name present and some absent (2,000 cases)', () => {
  let distinct = 0;
  fc.assert(
    fc.property(fieldLines, (lines) => {
      const { fields, object } = parsed(lines);
      if (fields.distinct) distinct++;
      const present = lines.map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
      for (const name of [...present, ...EXTRA]) {
        const expected = Object.hasOwn(object, name) ? object[name] : undefined;
        assert.deepEqual(fields.get(name), expected, name);
        assert.deepEqual(fields.get(name), expected, `${name}, asked again`);
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(distinct > 500, `only ${distinct} cases without a repeated name`);
});

/** Fixed lists, as a snapshot's is one list for all its requests: renderFields reuses what it rendered per list and lane. */
const LANE_HEADER_LISTS: readonly string[][] = [[], ['x-gray-lane'], ['x-gray-lane', 'x-mse-tag'], ['x-mse-tag', 'x-a'], ['x-a', 'x-gray-lane', 'x-mse-tag']];

const ctxArb: fc.Arbitrary<ForwardContext> = fc.record({
  laneHeaders: fc.constantFrom(...LANE_HEADER_LISTS),
  lane: fc.constantFrom('beta', 'stable', 'a b'),
  trustLane: fc.boolean(),
  modifier: fc.option(
    fc
      .record({ remove: fc.subarray(['X-Drop', 'baggage', 'x-a', 'X-Gray-Lane', 'Cookie', 'Host']), set: fc.constantFrom<Record<string, string>>({}, { 'X-Set': '1' }, { Baggage: 'm=1' }), add: fc.constantFrom<Record<string, string>>({}, { 'x-add': '2' }) })
      .map((m) => compileModifier(m)),
  ),
  clientAddress: fc.constantFrom('10.1.2.3', '::1'),
  proto: fc.constantFrom('http' as const, 'https' as const),
});

test('the upstream rewrite over the fields equals upstreamRequestHeaders of the header object (2,000 cases)', () => {
  let distinct = 0;
  fc.assert(
    fc.property(fieldLines, ctxArb, (lines, ctx) => {
      const { fields, object } = parsed(lines);
      if (fields.distinct) distinct++;
      assert.deepEqual(upstreamRequestFields(fields, ctx), upstreamRequestHeaders(object, ctx));
    }),
    { numRuns: 2000 },
  );
  assert.ok(distinct > 500, `only ${distinct} cases without a repeated name`);
});

test('rewrite cases that matter, spelled out: X-Forwarded-For twice, baggage twice, Connection naming a field, a name with `_`', () => {
  const ctx: ForwardContext = { laneHeaders: ['x-gray-lane'], lane: 'beta', trustLane: false, modifier: null, clientAddress: '10.0.0.9', proto: 'http' };
  const cases = [
    ['Host: h\r\n', 'X-Forwarded-For: 1.1.1.1\r\n', 'x-forwarded-for: 2.2.2.2\r\n', 'X-Gray-Lane: alpha\r\n'],
    ['Host: h\r\n', 'Baggage: a=1\r\n', 'baggage: graylane-lane=alpha,b=2\r\n'],
    ['Host: h\r\n', 'Connection: keep-alive, X-Secret\r\n', 'X-Secret: s\r\n', 'X-Kept: k\r\n'],
    ['Host: h\r\n', 'X_Gray_Lane: alpha\r\n', 'Cookie: a=1\r\n', 'Set-Cookie: odd\r\n'],
  ];
  for (const lines of cases) {
    const { fields, object } = parsed(lines);
    assert.deepEqual(upstreamRequestFields(fields, ctx), upstreamRequestHeaders(object, ctx), lines.join(''));
  }
  // And the first, read without the object (a repeated name) and with it, says what it should.
  const { fields } = parsed(cases[0]!);
  assert.equal(fields.distinct, false);
  assert.equal(fields.get('x-forwarded-for'), '1.1.1.1, 2.2.2.2');
  const out = upstreamRequestFields(fields, ctx);
  assert.equal(out[out.indexOf('x-forwarded-for') + 1], '1.1.1.1, 2.2.2.2, 10.0.0.9');
  assert.equal(out.includes('alpha'), false, 'the client\'s lane is not passed on');
});

test('a request whose offsets and bytes are reused for the next head keeps its own (keep)', () => {
  const head = new RequestHead({ maxHeaderBytes: 1 << 16, maxHeaders: 20, maxUrlBytes: 1 << 14 });
  const a = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nX-Lane: one\r\n\r\n', 'latin1');
  const b = Buffer.from('GET / HTTP/1.1\r\nX-Other: two-two\r\nHost: bb\r\n\r\n', 'latin1');
  assert.equal(parseRequestHead(a, 0, a.length, head), null);
  const first = new RequestFields(a, head.fields);
  const expected = { ...headerObject(a, head.fields) };
  first.keep();
  assert.equal(parseRequestHead(b, 0, b.length, head), null);
  a.fill(0x78); // and the bytes it was parsed from are reused
  assert.equal(first.get('x-lane'), 'one');
  assert.equal(first.get('host'), 'a');
  assert.equal(first.name(1), 'x-lane');
  assert.equal(first.value(0), 'a');
  assert.deepEqual({ ...first.object() }, expected);
});

/**
 * Field lines as clients write them, and as they may: names in any case, OWS (SP, HTAB) before and
 * after the value or none, empty values, a Content-Length. Half name each field once.
 */
const ows = fc.constantFrom('', ' ', ' ', ' ', '  ', '\t', ' \t');
const trailing = fc.constantFrom('', '', '', ' ', '\t', ' \t ');
const spacedField = fc.tuple(fc.constantFrom(...NAMES, 'Content-Length'), value, ows, trailing).map(([n, v, before, after]) =>
  // The parser takes one Content-Length, plain digits (no trailing whitespace).
  n === 'Content-Length' ? (['Content-Length', '3', before, ''] as const) : ([n, v, before, after] as const),
);
const spacedLines = fc
  .oneof(fc.uniqueArray(spacedField, { maxLength: 14, selector: ([n]) => n.toLowerCase() }), fc.array(spacedField, { maxLength: 14 }))
  .chain((fields) => fc.tuple(fc.constantFrom(...['Host: h.example\r\n', 'host:h.example \r\n', 'HOST:\th.example\r\n']), fc.constant(fields), fc.nat(fields.length)))
  .map(([host, fields, hostAt]) => {
    const lines = fields.filter(([n], i) => n !== 'Host' && (n !== 'Content-Length' || fields.findIndex(([m]) => m === n) === i)).map(([n, v, before, after]) => `${n}:${before}${v}${after}\r\n`);
    lines.splice(Math.min(hostAt, lines.length), 0, host);
    return lines;
  });

/** What graylane's HTTP/1.1 pool writes for array entries (client-connection.ts #head0): Host and Content-Length taken out. */
function poolRendering(headers: readonly string[], lines = ''): { lines: string; host: string | undefined; contentLength: string | undefined } {
  let host: string | undefined;
  let contentLength: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'host') host = headers[i + 1];
    else if (name === 'content-length') contentLength = headers[i + 1];
    else lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  return { lines, host, contentLength };
}

test('lines(from, to) is `${name(i)}: ${value(i)}\\r\\n` for each field, whatever the case and whitespace sent, and after keep() (2,000 cases)', () => {
  fc.assert(
    fc.property(spacedLines, fc.nat(), fc.nat(), fc.boolean(), (lines, a, b, kept) => {
      const { fields } = parsed(lines);
      if (kept) fields.keep();
      const from = a % (fields.count + 1);
      const to = from + (b % (fields.count - from + 1));
      let expected = '';
      for (let i = from; i < to; i++) expected += `${fields.name(i)}: ${fields.value(i)}\r\n`;
      assert.equal(fields.lines(from, to), expected, JSON.stringify(lines));
    }),
    { numRuns: 2000 },
  );
});

test('renderFields writes upstream what the array of upstreamRequestFields writes, byte for byte; null only for a repeated name (2,000 cases)', () => {
  let rendered = 0;
  fc.assert(
    fc.property(spacedLines, ctxArb, (lines, ctx) => {
      const { fields } = parsed(lines);
      const array = upstreamRequestFields(fields, ctx);
      const r = renderFields(fields, ctx);
      assert.equal(r === null, !fields.distinct);
      if (r === null) return;
      rendered++;
      // The pool writes the lines, then the array's fields; it places Host and Content-Length itself.
      assert.deepEqual(poolRendering(r.headers, r.lines), poolRendering(array), JSON.stringify(lines));
      // The entries vouched for are the client's Host and Content-Length; a rule's fields come after them, checked.
      for (let i = 0; i < r.checked; i += 2) assert.ok(['host', 'content-length'].includes(r.headers[i]!));
      assert.deepEqual(r.headers.slice(r.checked), ctx.modifier === null ? [] : ctx.modifier.write);
      // And turned back into an array (a retry to an HTTP/2 endpoint), the same fields.
      assert.deepEqual(poolRendering(fieldArray(r.lines, r.headers)), poolRendering(array));
    }),
    { numRuns: 2000 },
  );
  assert.ok(rendered > 500, `only ${rendered} cases rendered`);
});
