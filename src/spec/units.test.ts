import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseListen, parseSize } from './units.js';

test('durations: units, decimals and plain milliseconds', () => {
  const cases: [unknown, number | undefined][] = [
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['30d', 2_592_000_000],
    [0, 0],
    [1500, 1_500],
    ['0.4ms', 0],
    ['5 s', undefined],
    ['5S', undefined],
    ['-1s', undefined],
    [-1, undefined],
    [1.5, undefined],
    ['', undefined],
    [true, undefined],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, String(input));
});

test('sizes: binary units, any case', () => {
  const cases: [unknown, number | undefined][] = [
    [512, 512],
    ['512b', 512],
    ['64kb', 65_536],
    ['1MB', 1_048_576],
    ['1.5mb', 1_572_864],
    ['2gb', 2_147_483_648],
    ['1 mb', undefined],
    ['1m', undefined],
    [-1, undefined],
  ];
  for (const [input, bytes] of cases) assert.equal(parseSize(input), bytes, String(input));
});

test('listen addresses split into host and port', () => {
  assert.deepStrictEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepStrictEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  assert.deepStrictEqual(parseListen('localhost:65535'), { host: 'localhost', port: 65_535 });
  assert.deepStrictEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
  for (const bad of ['8080', ':8080', 'localhost', '127.0.0.1:65536', '::1:8080', 'a b:1', '127.0.0.1:123456']) {
    assert.equal(parseListen(bad), undefined, bad);
  }
});
