/**
 * `POST /report` (decide.report.http) over real sockets, fed what a proxy-side plugin would send:
 * batches of outcomes are counted where the gateway counts its own responses (the same series
 * /metrics and builtin analysis read), each bad outcome is refused alone with its reason, bodies
 * that are not JSON or too large are refused whole and count nothing, and only loopback peers or
 * bearers of GRAYLANE_REPORT_TOKEN may report. graylane_decide_outcomes_total shows both listeners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import { isLoopback, MAX_REPORT_BODY, MAX_REPORT_ITEMS, nestedDeeperThan } from '../../src/decide/report-http.js';
import { raw } from '../security/helpers.js';
import { tempDir } from '../support/temp.js';

async function start(t: { after(fn: () => Promise<void>): void }, reportToken?: string): Promise<App> {
  const dir = await tempDir();
  const file = dir.file('graylane.yaml');
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      'accessLog: false',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(dir.file('state.db'))} }`,
      'decide: { listen: 127.0.0.1:0, proxy: envoy, report: { http: 127.0.0.1:0, syslog: 127.0.0.1:0 } }',
      'services:',
      '  web: { versions: { stable: [http://127.0.0.1:1], beta: [http://127.0.0.1:2] } }',
      'routes:',
      '  - { name: shop, match: { host: shop.example.com }, service: web }',
    ].join('\n'),
  );
  const app = await startApp({ configFile: file, logger: pino({ level: 'silent' }), ...(reportToken !== undefined ? { reportToken } : {}) });
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await dir.remove();
  });
  return app;
}

const outcome = (over: Record<string, unknown> = {}) => ({ route: 'shop', service: 'web', version: 'beta', lane: 'beta', status: 200, time: 0.003, ...over });

/** One POST on a fresh connection, exactly these bytes. */
async function post(app: App, body: string, headers: string[] = [], path = '/report') {
  const head = [`POST ${path} HTTP/1.1`, 'Host: graylane', `Content-Length: ${Buffer.byteLength(body)}`, ...headers].join('\r\n');
  const r = await raw(app.decide!.reportHttp!.address.port, `${head}\r\n\r\n${body}`, { responses: 1 });
  const res = r.responses[0];
  assert.ok(res !== undefined, `no answer to ${path}: ${r.text.slice(0, 200)}`);
  return { status: res.status, headers: res.headers, json: res.headers['content-type'] === 'application/json' ? (JSON.parse(res.body) as Record<string, unknown>) : null };
}

async function metricLines(app: App, prefix: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${app.admin.address.port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(prefix)).sort();
}

test('a batch is counted as the gateway counts its responses; each bad outcome is refused alone, with its index and reason', async (t) => {
  const app = await start(t);
  const batch = [
    outcome(),
    outcome({ status: '503', time: '0.120' }), // the syslog line's string form
    outcome({ version: 'stable', lane: 'stable', status: 500, w: 4 }), // one in 4 sampled: four requests
    outcome({ lane: 'no-such-lane' }), // counted, under the bounded lane label _other
    outcome({ version: 'gamma' }),
    outcome({ status: -500 }),
    outcome({ service: 'ghost' }),
    outcome({ route: 'nope' }),
    outcome({ extra: 1 }),
    'not an object',
  ];
  const r = await post(app, JSON.stringify(batch), ['Content-Type: application/json']);
  assert.equal(r.status, 200);
  assert.equal(r.json!.counted, 4);
  assert.equal(r.json!.refused, 6);
  assert.deepEqual(
    (r.json!.errors as { index: number; reason: string }[]).map((e) => `${e.index} ${e.reason}`),
    ['4 unknown-version', '5 bad-field', '6 unknown-service', '7 unknown-route', '8 bad-field', '9 not-json'],
  );
  assert.deepEqual(await metricLines(app, 'graylane_requests_total{'), [
    'graylane_requests_total{route="shop",service="web",version="beta",lane="_other",class="2xx"} 1',
    'graylane_requests_total{route="shop",service="web",version="beta",lane="beta",class="2xx"} 1',
    'graylane_requests_total{route="shop",service="web",version="beta",lane="beta",class="5xx"} 1',
    'graylane_requests_total{route="shop",service="web",version="stable",lane="stable",class="5xx"} 4',
  ]);

  // NDJSON, a second request on a kept-alive connection of the plugin's kind.
  const ndjson = `${JSON.stringify(outcome())}\n\n${JSON.stringify(outcome({ status: 404 }))}\n`;
  const r2 = await post(app, ndjson, ['Content-Type: application/x-ndjson']);
  assert.equal(r2.status, 200);
  assert.equal(r2.json!.counted, 2);
  assert.deepEqual(await metricLines(app, 'graylane_decide_outcomes_total{via="http"'), [
    'graylane_decide_outcomes_total{via="http",result="counted",reason=""} 6',
    'graylane_decide_outcomes_total{via="http",result="refused",reason="bad-field"} 2',
    'graylane_decide_outcomes_total{via="http",result="refused",reason="not-json"} 1',
    'graylane_decide_outcomes_total{via="http",result="refused",reason="unknown-route"} 1',
    'graylane_decide_outcomes_total{via="http",result="refused",reason="unknown-service"} 1',
    'graylane_decide_outcomes_total{via="http",result="refused",reason="unknown-version"} 1',
  ]);
  // The syslog listener's own series is there from the start, at zero.
  assert.deepEqual(await metricLines(app, 'graylane_decide_outcomes_total{via="syslog"'), ['graylane_decide_outcomes_total{via="syslog",result="counted",reason=""} 0']);
});

test('hostile bodies: not JSON, too large (declared or streamed), too many outcomes: refused whole, nothing counted, the listener keeps serving', async (t) => {
  const app = await start(t);
  const requests = async () => (await metricLines(app, 'graylane_requests_total{')).length;

  const bad = await post(app, `${JSON.stringify(outcome())}\n{"route":`, []);
  assert.equal(bad.status, 400);
  assert.match(String(bad.json!.error), /line 2 is not JSON/);
  const badArray = await post(app, '[{"route":"shop"}', []);
  assert.equal(badArray.status, 400);
  assert.match(String(badArray.json!.error), /not a JSON array/);
  assert.equal(await requests(), 0, 'the valid first line of a broken batch is not counted');

  // Declared over the limit: answered before the body is read, and the connection closed.
  const declared = await raw(app.decide!.reportHttp!.address.port, `POST /report HTTP/1.1\r\nHost: g\r\nContent-Length: ${MAX_REPORT_BODY + 1}\r\n\r\n`, { responses: 1 });
  assert.equal(declared.responses[0]?.status, 413);
  assert.equal(declared.responses[0]?.headers.connection, 'close');

  // Streamed (chunked) past the limit: reading stops there and the connection is closed.
  const line = `${JSON.stringify(outcome())}\n`;
  const chunk = line.repeat(Math.ceil(64 * 1024 / line.length));
  const chunks = Array.from({ length: Math.ceil((MAX_REPORT_BODY + 1) / chunk.length) + 1 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  const streamed = await raw(app.decide!.reportHttp!.address.port, '', { chunks: ['POST /report HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n', ...chunks], gapMs: 5, waitMs: 5000 });
  assert.ok(streamed.closedByServer, 'the server closed the connection of a body over the limit');
  if (streamed.responses[0] !== undefined) assert.equal(streamed.responses[0].status, 413);

  // Nested brackets: JSON.parse of these takes about a second of the event loop; refused unparsed.
  const started = Date.now();
  const deep = await post(app, `${'['.repeat(400_000)}${']'.repeat(400_000)}`, []);
  assert.equal(deep.status, 400);
  assert.match(String(deep.json!.error), /nested deeper than an array of outcome objects/);
  const deepLine = await post(app, `${JSON.stringify(outcome())}\n{"route":{"x":[1]}}`, []);
  assert.equal(deepLine.status, 400);
  assert.ok(Date.now() - started < 10_000);

  const many = await post(app, JSON.stringify(Array.from({ length: MAX_REPORT_ITEMS + 1 }, () => ({}))), []);
  assert.equal(many.status, 413);
  assert.match(String(many.json!.error), /10001 outcomes in one report \(limit 10000\)/);

  assert.equal(await requests(), 0, 'nothing of a refused body is counted');
  assert.deepEqual(await metricLines(app, 'graylane_decide_outcomes_total{via="http",result="refused"'), [
    'graylane_decide_outcomes_total{via="http",result="refused",reason="not-json"} 4',
    'graylane_decide_outcomes_total{via="http",result="refused",reason="too-large"} 3',
  ]);
  // Still serving.
  assert.equal((await post(app, JSON.stringify([outcome()]))).json!.counted, 1);
  assert.equal(await requests(), 1);
});

test('only POST /report is served; keep-alive holds across a refused and an accepted report', async (t) => {
  const app = await start(t);
  const port = app.decide!.reportHttp!.address.port;
  const one = JSON.stringify([outcome()]);
  const r = await raw(
    port,
    [
      'GET /report HTTP/1.1\r\nHost: g\r\n\r\n',
      'POST /other HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n[]',
      'POST /report HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\n\r\n[1,',
      `POST /report HTTP/1.1\r\nHost: g\r\nContent-Length: ${one.length}\r\n\r\n${one}`,
    ].join(''),
    { responses: 2 },
  );
  // 405 and 404 close the connection (their bodies are not read); nothing after them is answered.
  assert.deepEqual(r.responses.map((x) => x.status), [405]);
  const kept = await raw(port, `POST /report HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\n\r\n[1,POST /report HTTP/1.1\r\nHost: g\r\nContent-Length: ${one.length}\r\n\r\n${one}`, { responses: 2 });
  assert.deepEqual(kept.responses.map((x) => x.status), [400, 200]);
  assert.equal(JSON.parse(kept.responses[1]!.body).counted, 1);
  assert.equal((await post(app, '[]', [], '/other')).status, 404);
});

test('with GRAYLANE_REPORT_TOKEN, every report needs the bearer token (loopback too)', async (t) => {
  const app = await start(t, 's3cret-report-token');
  const body = JSON.stringify([outcome({ status: 503 })]);
  assert.equal((await post(app, body)).status, 401);
  assert.equal((await post(app, body, ['Authorization: Bearer wrong'])).status, 401);
  assert.equal((await post(app, body, ['Authorization: Bearer s3cret-report-token-longer'])).status, 401);
  assert.equal((await post(app, body, ['Authorization: Basic czNjcmV0'])).status, 401);
  const ok = await post(app, body, ['Authorization: Bearer s3cret-report-token']);
  assert.equal(ok.status, 200);
  assert.equal(ok.json!.counted, 1);
  assert.deepEqual(await metricLines(app, 'graylane_decide_outcomes_total{via="http",result="refused"'), [
    'graylane_decide_outcomes_total{via="http",result="refused",reason="unauthorized"} 4',
  ]);
  assert.deepEqual(await metricLines(app, 'graylane_requests_total{'), ['graylane_requests_total{route="shop",service="web",version="beta",lane="beta",class="5xx"} 1']);
});

test('nesting is measured outside strings: brackets in a lane or an escaped quote do not count', () => {
  assert.equal(nestedDeeperThan('[{"lane":"[[[{{{"}]', 2), false);
  assert.equal(nestedDeeperThan('[{"lane":"a\\"[[["}]', 2), false);
  assert.equal(nestedDeeperThan('[{"lane":"a\\\\"}, [[1]]]', 2), true);
  assert.equal(nestedDeeperThan('{"a":1}\n{"b":2}', 1), false);
  assert.equal(nestedDeeperThan('[[[]]]', 2), true);
});

test('without a token only loopback peers may report (the address check)', () => {
  for (const a of ['127.0.0.1', '127.5.6.7', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
  for (const a of [undefined, '10.0.0.1', '::ffff:10.0.0.1', '192.168.1.127', 'fe80::1', '::', '0.0.0.0', '::ffff:0:127.0.0.1']) assert.equal(isLoopback(a), false, String(a));
});
