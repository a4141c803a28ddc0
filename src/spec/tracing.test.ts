import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from './index.js';

const BASE = 'services: {}\nroutes: []\n';

test('tracing is read with its defaults; an endpoint without a path gets /v1/traces', () => {
  assert.equal(parseSpec(BASE, 't.yaml').tracing, undefined);
  assert.deepEqual(parseSpec(`${BASE}tracing: { otlp: { endpoint: "http://127.0.0.1:4318" } }\n`, 't.yaml').tracing, {
    otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces', timeoutMs: 10_000 },
    sampleRatio: 1,
    serviceName: 'graylane',
    queueSize: 2048,
  });
  const spec = parseSpec(
    `${BASE}tracing: { otlp: { endpoint: "https://otel.example:4318/custom/traces", timeout: 2s }, sampleRatio: 0.25, serviceName: edge, queueSize: 10 }\n`,
    't.yaml',
  );
  assert.deepEqual(spec.tracing, { otlp: { endpoint: 'https://otel.example:4318/custom/traces', timeoutMs: 2000 }, sampleRatio: 0.25, serviceName: 'edge', queueSize: 10 });
});

test('a bad tracing section is a config error at its key', () => {
  const cases: [string, RegExp][] = [
    ['tracing: { otlp: { endpoint: "not a url" } }', /tracing\.otlp\.endpoint: "not a url" is not an absolute URL/],
    ['tracing: { otlp: { endpoint: "grpc://127.0.0.1:4317" } }', /tracing\.otlp\.endpoint: only http and https URLs/],
    ['tracing: { otlp: { endpoint: "http://user:key@collector:4318" } }', /tracing\.otlp\.endpoint: no credentials in the URL/],
    ['tracing: { otlp: { endpoint: "http://c:4318" }, sampleRatio: 1.5 }', /tracing\.sampleRatio/],
    ['tracing: { otlp: { endpoint: "http://c:4318", timeout: 0 } }', /tracing\.otlp\.timeout: must be longer than 0/],
    ['tracing: { otlp: { endpoint: "http://c:4318" }, queueSize: 0 }', /tracing\.queueSize/],
    ['tracing: { sampleRatio: 1 }', /tracing.*otlp/],
    ['tracing: { otlp: { endpoint: "http://c:4318", headers: { a: b } } }', /tracing\.otlp.*headers/],
  ];
  for (const [yaml, message] of cases) {
    assert.throws(() => parseSpec(`${BASE}${yaml}\n`, 't.yaml'), (err: unknown) => err instanceof ConfigError && message.test(err.message), yaml);
  }
});
