import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessLine, type AccessRecord } from './access-log.js';

const record: AccessRecord = {
  method: 'GET',
  protocol: 'HTTP/2',
  path: '/shop?q=1',
  route: 'shop',
  lane: 'beta',
  by: 'rules[0]',
  version: 'beta',
  endpoint: 'http://127.0.0.1:9101',
  status: 200,
  ms: 1.25,
};

test('an access line is pino-shaped JSON with the record fields', () => {
  const line = accessLine(record, 1700000000000);
  assert.ok(line.endsWith('}\n'));
  assert.deepEqual(JSON.parse(line), { level: 30, time: 1700000000000, ...record });
});

test('strings that need escaping are escaped', () => {
  for (const path of ['/a"b', '/a\\b', '/caf\u00e9', '/x\u0001y', '/\u2028', '/\ud800']) {
    assert.equal((JSON.parse(accessLine({ ...record, path }, 0)) as AccessRecord).path, path);
  }
});
