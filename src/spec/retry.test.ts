import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from './index.js';

const config = (retry: string) => `services:\n  web:\n    versions: { stable: [http://127.0.0.1:1] }\n${retry}routes: []\n`;

test('a service retries nothing unless it sets retry; retry: {} means one attempt on both kinds', () => {
  assert.equal(parseSpec(config(''), 'r.yaml').services.web!.retry, undefined);
  assert.deepEqual(parseSpec(config('    retry: {}\n'), 'r.yaml').services.web!.retry, { attempts: 1, on: ['connect-error', 'reset'] });
  assert.deepEqual(parseSpec(config('    retry: { attempts: 2, on: [reset] }\n'), 'r.yaml').services.web!.retry, { attempts: 2, on: ['reset'] });
});

test('retry out of range or with an unknown kind is a config error at its key', () => {
  for (const [retry, where] of [
    ['{ attempts: 0 }', /services\.web\.retry\.attempts/],
    ['{ attempts: 4 }', /services\.web\.retry\.attempts/],
    ['{ on: [timeout] }', /services\.web\.retry\.on/],
    ['{ on: [] }', /services\.web\.retry\.on/],
    ['{ always: true }', /services\.web\.retry/],
  ] as const) {
    assert.throws(() => parseSpec(config(`    retry: ${retry}\n`), 'r.yaml'), (err: unknown) => err instanceof ConfigError && where.test(err.message), retry);
  }
});
