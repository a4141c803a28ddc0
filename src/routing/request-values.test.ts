import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { baggageValue, cookieValue, headerValue, ObjectHeaders, queryValue } from './request-values.js';

test('cookieValue finds a cookie only at a cookie boundary', () => {
  const h = 'xuid=1; a=uid=2; uid=42; other=3';
  assert.equal(cookieValue(h, 'uid'), '42');
  assert.equal(cookieValue(h, 'other'), '3');
  assert.equal(cookieValue(h, 'xuid'), '1');
  assert.equal(cookieValue(h, 'a'), 'uid=2');
  assert.equal(cookieValue(h, 'id'), undefined);
  assert.equal(cookieValue(undefined, 'uid'), undefined);
  assert.equal(cookieValue('', 'uid'), undefined);
});

test('cookieValue: first wins, whitespace and quotes trimmed, %-decoded, empty value kept', () => {
  assert.equal(cookieValue('uid=1;uid=2', 'uid'), '1');
  assert.equal(cookieValue('a=1;   uid =x; uid=  7 ', 'uid'), '7');
  assert.equal(cookieValue('canary="always"', 'canary'), 'always');
  assert.equal(cookieValue('n=J%C3%BCrgen', 'n'), 'Jürgen');
  assert.equal(cookieValue('n=100%', 'n'), '100%', 'a malformed escape is kept raw');
  assert.equal(cookieValue('n=; m=1', 'n'), '');
  assert.equal(cookieValue('\tuid=9', 'uid'), '9');
});

test('queryValue finds a parameter only at a parameter boundary and decodes only its value', () => {
  const q = 'xpreview=0&a=preview%3D1&preview=1&uid=u%2042&plus=a+b&flag&last=';
  assert.equal(queryValue(q, 'preview'), '1');
  assert.equal(queryValue(q, 'xpreview'), '0');
  assert.equal(queryValue(q, 'uid'), 'u 42');
  assert.equal(queryValue(q, 'plus'), 'a b');
  assert.equal(queryValue(q, 'flag'), '');
  assert.equal(queryValue(q, 'last'), '');
  assert.equal(queryValue(q, 'missing'), undefined);
  assert.equal(queryValue('', 'a'), undefined);
  assert.equal(queryValue('a=%E0%A4%A', 'a'), '%E0%A4%A', 'a malformed escape is kept raw');
  assert.equal(queryValue('a=1&a=2', 'a'), '1');
  assert.equal(queryValue('flag', 'flag'), '');
});

test('baggageValue reads one W3C baggage member, dropping properties', () => {
  const b = 'foo=1,graylane-lane=beta;prop=x';
  assert.equal(baggageValue(b, 'graylane-lane'), 'beta');
  assert.equal(baggageValue(b, 'foo'), '1');
  assert.equal(baggageValue('a=1 , graylane-lane = alpha , c=3', 'graylane-lane'), 'alpha');
  assert.equal(baggageValue('x-graylane-lane=no', 'graylane-lane'), undefined);
  assert.equal(baggageValue('k=graylane-lane=no', 'graylane-lane'), undefined);
  assert.equal(baggageValue('graylane-lane=feature%2Fx', 'graylane-lane'), 'feature/x');
  assert.equal(baggageValue(undefined, 'graylane-lane'), undefined);
});

test('headerValue takes the first of a multi-valued header', () => {
  assert.equal(headerValue(new ObjectHeaders({ a: 'x' }), 'a'), 'x');
  assert.equal(headerValue(new ObjectHeaders({ 'set-cookie': ['p', 'q'] }), 'set-cookie'), 'p');
  assert.equal(headerValue(new ObjectHeaders({}), 'a'), undefined);
});

// Property tests against reference parsers: the scanners must find what a full parse finds.
const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);

test('queryValue agrees with URLSearchParams on encoded queries', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(token, fc.string({ maxLength: 12 })), { maxLength: 8 }), token, (pairs, probe) => {
      const q = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      const want = new URLSearchParams(q).get(probe) ?? undefined;
      assert.equal(queryValue(q, probe), want);
    }),
    { numRuns: 500 },
  );
});

test('cookieValue agrees with a split-and-trim parse (first occurrence wins)', () => {
  const value = fc.stringMatching(/^[A-Za-z0-9_.=-]{0,10}$/);
  fc.assert(
    fc.property(fc.array(fc.tuple(token, value), { maxLength: 8 }), token, (pairs, probe) => {
      const header = pairs.map(([k, v]) => `${k}=${v}`).join('; ');
      let want: string | undefined;
      for (const part of header.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0 && part.slice(0, eq).trim() === probe) {
          want = part.slice(eq + 1).trim();
          break;
        }
      }
      assert.equal(cookieValue(header, probe), want);
    }),
    { numRuns: 500 },
  );
});
