import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../routing/index.js';
import { parseSpec } from '../spec/index.js';
import { checkOutcome, parseOutcome, syslogMessage } from './report.js';

const snapshot = compile(
  parseSpec(
    ['services:', '  web: { versions: { stable: [http://127.0.0.1:1], beta: [http://127.0.0.1:2] } }', 'routes:', '  - { name: shop, service: web }'].join('\n'),
    'gl.yaml',
  ),
);
const LINE = '{"route":"shop","service":"web","version":"beta","lane":"beta","status":"503","time":"0.004"}';

test('syslog: RFC 3164 as nginx sends it, with and without the hostname; RFC 5424', () => {
  assert.deepEqual(syslogMessage(`<190>Dec  5 11:20:00 edge-1 graylane: ${LINE}`), { message: LINE });
  assert.deepEqual(syslogMessage(`<190>Dec 15 01:02:03 graylane: ${LINE}`), { message: LINE });
  assert.deepEqual(syslogMessage(`<190>1 2026-12-05T11:20:00.123Z edge-1 graylane - - - \uFEFF${LINE}`), { message: LINE });
  const refused = (datagram: string, rejected: string, detail: RegExp) => {
    const r = syslogMessage(datagram);
    assert.ok('rejected' in r, datagram);
    assert.equal(r.rejected, rejected);
    assert.match(r.detail, detail);
  };
  refused(LINE, 'not-syslog', /<PRI>/);
  refused(`<999>Dec  5 11:20:00 h graylane: ${LINE}`, 'not-syslog', /PRI 0..191/);
  refused(`<190>2026-12-05 h graylane: ${LINE}`, 'not-syslog', /RFC 3164 timestamp/);
  refused(`<190>Dec  5 11:20:00 h nginx: ${LINE}`, 'wrong-tag', /tag "nginx", expected graylane/);
  refused(`<190>Dec  5 11:20:00 h x graylane: ${LINE}`, 'not-syslog', /more than HOSTNAME and TAG/);
  refused(`<190>1 2026-12-05T11:20:00Z h graylane - - [x@1 a="b"] ${LINE}`, 'not-syslog', /structured data/);
});

test('outcome lines: exact fields, numbers checked, names the config knows', () => {
  assert.deepEqual(parseOutcome(LINE, snapshot), { route: 'shop', service: 'web', version: 'beta', lane: 'beta', status: 503, durationMs: 4, weight: 1 });
  // Sampled by nginx (decide.report.sampleOneIn): the line stands for w requests.
  assert.equal((parseOutcome(LINE.replace('}', ',"w":"10"}'), snapshot) as { weight: number }).weight, 10);
  const refused = (line: string, rejected: string, detail: RegExp) => {
    const r = parseOutcome(line, snapshot);
    assert.ok('rejected' in r, line);
    assert.equal(r.rejected, rejected, line);
    assert.match(r.detail, detail);
  };
  const with_ = (over: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(LINE), ...over });
  refused('{"route":', 'not-json', /not one JSON object/);
  refused('[1]', 'not-json', /not one JSON object/);
  refused(with_({ extra: '1' }), 'bad-field', /unknown key "extra"/);
  refused(with_({ status: 503 }), 'bad-field', /status must be a string/);
  refused(with_({ status: '5030' }), 'bad-field', /status must be 100..599/);
  refused(with_({ time: '-' }), 'bad-field', /time must be seconds/);
  refused(with_({ lane: 'x'.repeat(129) }), 'bad-field', /lane is longer/);
  refused(with_({ service: 'other' }), 'unknown-service', /service "other" is not in the config/);
  refused(with_({ version: 'gamma' }), 'unknown-version', /service web has no version "gamma"/);
  refused(with_({ route: 'nope' }), 'unknown-route', /no route "nope"/);
  refused(with_({ w: '0' }), 'bad-field', /w must be 1..1000/);
  refused(with_({ w: '1001' }), 'bad-field', /w must be 1..1000/);
  refused(with_({ w: '-5' }), 'bad-field', /w must be 1..1000/);
  refused(with_({ w: 10 }), 'bad-field', /w must be a string/);
});

test('HTTP outcome objects: status, time and w may be numbers; negative or fractional ones are refused', () => {
  const base = { route: 'shop', service: 'web', version: 'beta', lane: 'beta' };
  assert.deepEqual(checkOutcome({ ...base, status: 502, time: 0.25, w: 3 }, snapshot, true), { ...base, status: 502, durationMs: 250, weight: 3 });
  const refusedAs = (o: unknown, detail: RegExp) => {
    const r = checkOutcome(o, snapshot, true);
    assert.ok('rejected' in r && r.rejected === 'bad-field', JSON.stringify(o));
    assert.match(r.detail, detail);
  };
  refusedAs({ ...base, status: -500, time: 0 }, /status must be 100..599/);
  refusedAs({ ...base, status: 500.5, time: 0 }, /status must be 100..599/);
  refusedAs({ ...base, status: 500, time: -1 }, /time must be seconds/);
  refusedAs({ ...base, status: 500, time: 1e21 }, /time must be seconds/);
  refusedAs({ ...base, status: 500, time: 0, w: 2.5 }, /w must be 1..1000/);
  refusedAs({ ...base, status: true, time: 0 }, /status must be a string or a number/);
  refusedAs({ ...base, lane: 7, status: 200, time: 0 }, /lane must be a string$/);
});

test('aggregated HTTP outcomes: n requests with their mean time (up to 6 decimals); never on syslog, never with w', () => {
  const base = { route: 'shop', service: 'web', version: 'beta', lane: 'beta' };
  assert.deepEqual(checkOutcome({ ...base, status: 503, time: '0.004333', n: 1234 }, snapshot, true), { ...base, status: 503, durationMs: 4.333, weight: 1234 });
  assert.equal((checkOutcome({ ...base, status: 200, time: 0, n: '10000000' }, snapshot, true) as { weight: number }).weight, 10_000_000);
  const refusedAs = (o: unknown, numbers: boolean, detail: RegExp) => {
    const r = checkOutcome(o, snapshot, numbers);
    assert.ok('rejected' in r && r.rejected === 'bad-field', JSON.stringify(o));
    assert.match(r.detail, detail);
  };
  refusedAs({ ...base, status: '200', time: '0.001', n: '5' }, false, /n \(an aggregated count\) is for HTTP reports/);
  refusedAs({ ...base, status: 200, time: 0, n: 5, w: 2 }, true, /w and n together/);
  refusedAs({ ...base, status: 200, time: 0, n: 0 }, true, /n must be 1..10000000/);
  refusedAs({ ...base, status: 200, time: 0, n: 10_000_001 }, true, /n must be 1..10000000/);
  refusedAs({ ...base, status: 200, time: 0, n: 2.5 }, true, /n must be 1..10000000/);
  refusedAs({ ...base, status: 200, time: 0, n: -1 }, true, /n must be 1..10000000/);
  refusedAs({ ...base, status: 200, time: '0.0000001', n: 1 }, true, /time must be seconds like 0.004 \(up to 6 decimals\)/);
});
