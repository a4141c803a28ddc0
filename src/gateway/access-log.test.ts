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
  traceId: null,
};

test('an access line is pino-shaped JSON with the record fields', () => {
  const line = accessLine(record, 1700000000000);
  assert.ok(line.endsWith('}\n'));
  const { traceId: _none, ...fields } = record;
  assert.deepEqual(JSON.parse(line), { level: 30, time: 1700000000000, ...fields });
});

test('the trace id is a field only when there is one', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  assert.equal(JSON.parse(accessLine({ ...record, traceId }, 0)).traceId, traceId);
  assert.equal('traceId' in JSON.parse(accessLine(record, 0)), false);
});

test('strings that need escaping are escaped', () => {
  for (const path of ['/a"b', '/a\\b', '/caf\u00e9', '/x\u0001y', '/\u2028', '/\ud800']) {
    assert.equal((JSON.parse(accessLine({ ...record, path }, 0)) as AccessRecord).path, path);
  }
});
