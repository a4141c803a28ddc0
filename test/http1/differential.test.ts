/**
 * graylane's HTTP/1.1 parser against Node's llhttp, on generated and mutated messages: graylane
 * must never accept a message llhttp refuses, nor frame one differently (method, target, version,
 * header fields, body bytes, where the next message starts). It may refuse more.
 *
 * A few thousand cases here; `npm run fuzz` runs many more (docs/reliability.md has its figures).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { divergence, undiciDivergence } from './reference.js';
import { requestStream, responseStream } from './generators.js';

const RUNS = Number(process.env.HTTP1_DIFF_RUNS ?? 3000);

test(`requests: graylane accepts nothing llhttp refuses and frames alike (${RUNS} generated streams)`, () => {
  fc.assert(
    fc.property(requestStream, (bytes) => {
      const d = divergence('request', bytes);
      assert.equal(d, null, `${JSON.stringify(bytes.toString('latin1'))}\n${d}`);
    }),
    { numRuns: RUNS },
  );
});

test(`responses: graylane accepts nothing llhttp refuses and frames alike (${RUNS} generated streams, GET and HEAD)`, () => {
  fc.assert(
    fc.property(responseStream, fc.constantFrom('GET', 'HEAD'), (bytes, method) => {
      const d = divergence('response', bytes, method);
      assert.equal(d, null, `${method} ${JSON.stringify(bytes.toString('latin1'))}\n${d}`);
    }),
    { numRuns: RUNS },
  );
});

test(`responses: graylane accepts nothing undici's llhttp refuses and frames alike (${RUNS} generated streams, GET and HEAD)`, () => {
  fc.assert(
    fc.property(responseStream, fc.constantFrom('GET', 'HEAD'), (bytes, method) => {
      const d = undiciDivergence(bytes, method);
      assert.equal(d, null, `${method} ${JSON.stringify(bytes.toString('latin1'))}\n${d}`);
    }),
    { numRuns: RUNS },
  );
});

test('found by npm run fuzz: a 1xx saying Connection: close is refused (llhttp reads nothing after it)', () => {
  const bytes = Buffer.from('HTTP/1.1 100 OK\r\nconnection: Upgrade, close\r\n\r\nHTTP/1.1 200 X\r\nContent-Length: 0\r\n\r\n', 'latin1');
  assert.equal(divergence('response', bytes, 'GET'), null);
  assert.equal(undiciDivergence(bytes, 'GET'), null);
});
