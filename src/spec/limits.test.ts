import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from './index.js';

const BASE = 'services: {}\nroutes: []\n';

test('limits are read with their units and defaults', () => {
  const spec = parseSpec(`${BASE}limits: { maxUrlBytes: 2kb, maxHeaderBytes: 32kb, maxHeaders: 50, headersTimeout: 3s }\n`, 'l.yaml');
  assert.deepEqual(spec.limits, { maxUrlBytes: 2048, maxHeaderBytes: 32_768, maxHeaders: 50, headersTimeoutMs: 3000, maxConcurrentStreams: 100 });
  assert.deepEqual(parseSpec(`${BASE}limits: { maxHeaders: 7 }\n`, 'l.yaml').limits, {
    maxUrlBytes: 8192,
    maxHeaderBytes: 16_384,
    maxHeaders: 7,
    headersTimeoutMs: 10_000,
    maxConcurrentStreams: 100,
  });
  assert.equal(parseSpec(`${BASE}limits: { maxConcurrentStreams: 16 }\n`, 'l.yaml').limits?.maxConcurrentStreams, 16);
});

test('limits out of range or of the wrong kind are config errors at their key', () => {
  const cases: [string, RegExp][] = [
    ['limits: { maxUrlBytes: 10 }', /limits\.maxUrlBytes: must be between 1kb and 1gb/],
    ['limits: { maxHeaderBytes: 2gb }', /limits\.maxHeaderBytes: must be between 1kb and 1gb/],
    ['limits: { maxHeaders: 0 }', /limits\.maxHeaders/],
    ['limits: { maxHeaders: 2.5 }', /limits\.maxHeaders/],
    ['limits: { headersTimeout: 0 }', /limits\.headersTimeout: must be longer than 0/],
    ['limits: { maxConcurrentStreams: 0 }', /limits\.maxConcurrentStreams/],
    ['limits: { headerTimeout: 5s }', /limits/],
  ];
  for (const [yaml, message] of cases) {
    assert.throws(() => parseSpec(`${BASE}${yaml}\n`, 'l.yaml'), (err: unknown) => err instanceof ConfigError && message.test(err.message), yaml);
  }
});
