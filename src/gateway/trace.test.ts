import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTraceparent, parseTraceparent, setUpstreamHeader } from './trace.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const P = '00f067aa0ba902b7';

test('a valid traceparent gives its trace id, parent span and flags', () => {
  assert.deepEqual(parseTraceparent(`00-${T}-${P}-01`), { traceId: T, spanId: P, flags: 1 });
  assert.deepEqual(parseTraceparent(`00-${T}-${P}-00`), { traceId: T, spanId: P, flags: 0 });
  // A later version may append fields after a dash (W3C Trace Context §3.2.4).
  assert.deepEqual(parseTraceparent(`01-${T}-${P}-09-whatever`), { traceId: T, spanId: P, flags: 9 });
  assert.deepEqual(parseTraceparent(`01-${T}-${P}-01`), { traceId: T, spanId: P, flags: 1 });
});

test('anything else is no traceparent: the request starts a new trace', () => {
  const bad = [
    undefined,
    '',
    `00-${T.toUpperCase()}-${P}-01`, // upper-case hex
    `00-${'0'.repeat(32)}-${P}-01`, // all-zero trace id
    `00-${T}-${'0'.repeat(16)}-01`, // all-zero parent
    `ff-${T}-${P}-01`, // version ff is invalid
    `00-${T}-${P}-01-extra`, // version 00 has exactly four fields
    `01-${T}-${P}-01x`, // a later version's extra field must follow a dash
    `00-${T}-${P}-01, 00-${T}-${P}-01`, // sent twice, joined into one value
    `00_${T}-${P}-01`,
    `00-${T}-${P}-0g`,
    `0-${T}-${P}-01`,
    [`00-${T}-${P}-01`, `00-${T}-${P}-01`],
  ];
  for (const value of bad) assert.equal(parseTraceparent(value), null, String(value));
});

test('a traceparent is written as version 00', () => {
  assert.equal(formatTraceparent(T, P, true), `00-${T}-${P}-01`);
  assert.equal(formatTraceparent(T, P, false), `00-${T}-${P}-00`);
});

test('an upstream header is replaced once, appended when missing, removed on null', () => {
  const h = ['a', '1', 'traceparent', 'x', 'b', '2', 'traceparent', 'y'];
  setUpstreamHeader(h, 'traceparent', 'new');
  assert.deepEqual(h, ['a', '1', 'traceparent', 'new', 'b', '2']);
  setUpstreamHeader(h, 'tracestate', 'k=v');
  assert.deepEqual(h, ['a', '1', 'traceparent', 'new', 'b', '2', 'tracestate', 'k=v']);
  setUpstreamHeader(h, 'traceparent', null);
  assert.deepEqual(h, ['a', '1', 'b', '2', 'tracestate', 'k=v']);
});
