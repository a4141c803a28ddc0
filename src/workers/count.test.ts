import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from '../spec/index.js';
import { configHash } from '../routing/compile.js';
import { workerCount } from './count.js';

const BASE = 'services: {}\nroutes: []\n';

test('workers: a number, auto (one per available core), or absent (1: one process, no fork)', () => {
  assert.equal(workerCount(undefined), 1);
  assert.equal(workerCount(4), 4);
  assert.equal(workerCount('auto', () => 16), 16);
  assert.equal(workerCount('auto', () => 0), 1, 'never fewer than one');
  assert.equal(parseSpec(`${BASE}workers: 3\n`, 'w.yaml').workers, 3);
  assert.equal(parseSpec(`${BASE}workers: auto\n`, 'w.yaml').workers, 'auto');
  assert.deepEqual(parseSpec(`${BASE}debug: { workerHeader: true }\n`, 'w.yaml').debug, { workerHeader: true });
  // Absent keys stay absent: configs written before workers existed keep their content hash.
  const plain = parseSpec(BASE, 'w.yaml');
  assert.ok(!('workers' in plain) && !('debug' in plain));
  assert.equal(configHash(plain), configHash(parseSpec(`${BASE}\n# a comment\n`, 'w.yaml')));
});

test('workers out of range or of the wrong kind are config errors at their key', () => {
  const cases: [string, RegExp][] = [
    ['workers: 0', /w\.yaml:3:10: workers: must be a whole number from 1 to 1024, or "auto"/],
    ['workers: 2.5', /workers: must be a whole number from 1 to 1024, or "auto"/],
    ['workers: 5000', /workers: must be a whole number from 1 to 1024, or "auto"/],
    ['workers: many', /workers: must be a whole number from 1 to 1024, or "auto"/],
    ['debug: { workerHeader: yes please }', /debug\.workerHeader/],
    ['debug: { workersHeader: true }', /debug/],
  ];
  for (const [yaml, message] of cases) {
    assert.throws(() => parseSpec(`${BASE}${yaml}\n`, 'w.yaml'), (err: unknown) => err instanceof ConfigError && message.test(err.message), `${yaml}: ${(() => { try { parseSpec(`${BASE}${yaml}\n`, 'w.yaml'); return 'accepted'; } catch (e) { return (e as Error).message; } })()}`);
  }
});
