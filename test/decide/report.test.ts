/**
 * The outcome listener over a real UDP socket, fed what nginx sends (`access_log syslog:...`): the
 * accepted outcomes are counted where the gateway counts its own responses (the TrafficRecorder
 * builtin analysis reads), and everything else is refused, counted by reason, never counted as
 * traffic. The decision answer's caching headers and version are checked at the socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import { MAX_REPORT_BYTES } from '../../src/decide/report.js';
import { raw } from '../security/helpers.js';
import { tempDir } from '../support/temp.js';
import { sleep, until } from '../support/wait.js';

async function start(t: { after(fn: () => Promise<void>): void }, proxy = 'nginx'): Promise<App> {
  const dir = await tempDir();
  const file = dir.file('graylane.yaml');
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      'accessLog: false',
      'admin: { listen: 127.0.0.1:0 }',
      `state: { path: ${JSON.stringify(dir.file('state.db'))} }`,
      `decide: { listen: 127.0.0.1:0, proxy: ${proxy}, report: { syslog: 127.0.0.1:0 } }`,
      'services:',
      '  web: { versions: { stable: [http://127.0.0.1:1], beta: [http://127.0.0.1:2] } }',
      'routes:',
      '  - name: shop',
      '    match: { host: shop.example.com }',
      '    service: web',
      '    identity: [header:x-user-id]',
      '    visitorCookie: { name: gl_vid, maxAge: 1d }',
      '    rules: [{ lane: beta, users: ["1001"] }, { lane: beta, percent: 50 }]',
      '  - name: kw',
      '    match: { host: kw.example.com }',
      '    service: web',
      '    rules: [{ lane: beta, path: { contains: /new } }]',
    ].join('\n'),
  );
  const app = await startApp({ configFile: file, logger: pino({ level: 'silent' }) });
  t.after(async () => {
    await app.close({ drainMs: 0 });
    await dir.remove();
  });
  return app;
}

async function send(port: number, datagrams: (string | Buffer)[]): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (const d of datagrams) await new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}

const line = (over: Record<string, string> = {}) =>
  `<190>Dec  5 11:20:00 graylane: ${JSON.stringify({ route: 'shop', service: 'web', version: 'beta', lane: 'beta', status: '503', time: '0.012', ...over })}`;

test('nginx\'s outcome lines are counted as the gateway\'s responses; the rest is refused and counted by reason', async (t) => {
  const app = await start(t);
  const report = app.decide!.report!;
  assert.equal(report.address.host, '127.0.0.1');
  await send(report.address.port, [
    line(),
    line({ status: '200', time: '0.001' }),
    line({ version: 'stable', lane: 'stable', status: '200' }),
    line({ service: 'ghost' }),
    line({ version: 'gamma' }),
    line({ status: 'oops' }),
    '<190>Dec  5 11:20:00 other-tag: {}',
    'not syslog at all',
    Buffer.alloc(MAX_REPORT_BYTES + 1, 'x'),
  ]);
  await until('nine datagrams to be read', () => {
    const c = report.counts();
    return c.counted + Object.values(c.refused).reduce((a, b) => a + b, 0) === 9;
  }, 5000);
  const counts = report.counts();
  assert.equal(counts.counted, 3);
  assert.deepEqual(
    Object.fromEntries(Object.entries(counts.refused).filter(([, n]) => n > 0)),
    { 'unknown-service': 1, 'unknown-version': 1, 'bad-field': 1, 'wrong-tag': 1, 'not-syslog': 1, 'too-large': 1 },
  );
  // Counted where /metrics and builtin analysis read: per route, version, lane and status class.
  const metrics = await (await fetch(`http://127.0.0.1:${app.admin.address.port}/metrics`)).text();
  const series = metrics.split('\n').filter((l) => l.startsWith('graylane_requests_total{')).sort();
  assert.deepEqual(series, [
    'graylane_requests_total{route="shop",service="web",version="beta",lane="beta",class="2xx"} 1',
    'graylane_requests_total{route="shop",service="web",version="beta",lane="beta",class="5xx"} 1',
    'graylane_requests_total{route="shop",service="web",version="stable",lane="stable",class="2xx"} 1',
  ]);
});

test('decision answers: the serving version, and cacheable only for the route and identity nginx keys by', async (t) => {
  const app = await start(t);
  const ask = async (lines: string[]) => (await raw(app.decide!.address.port, `${lines.join('\r\n')}\r\n\r\n`, { responses: 1 })).responses[0]!;
  const check = (host: string, extra: string[]) => ['GET /_graylane/0 HTTP/1.1', `Host: ${host}`, 'X-Original-URI: /new/cart', ...extra];
  const keyed = ['X-User-Id: 1001', 'X-Graylane-Route: shop', 'X-Graylane-Identity: 1001'];
  const hit = await ask(check('shop.example.com', keyed));
  assert.equal(hit.headers['x-graylane-version'], 'beta');
  assert.equal(hit.headers['x-accel-expires'], '5');
  assert.equal(hit.headers['cache-control'], 'max-age=5');
  const noStore = async (lines: string[], why: string) => {
    const r = await ask(lines);
    assert.equal(r.status, 200, why);
    assert.equal(r.headers['cache-control'], 'no-store', why);
    assert.equal(r.headers['x-accel-expires'], undefined, why);
  };
  await noStore(check('shop.example.com', ['X-User-Id: 1001']), 'no key claimed');
  await noStore(check('shop.example.com', ['X-User-Id: 1001', 'X-Graylane-Route: shop', 'X-Graylane-Identity: 1002']), 'another identity');
  await noStore(check('shop.example.com', ['X-User-Id: 1001', 'X-User-Id: 1002', 'X-Graylane-Route: shop', 'X-Graylane-Identity: 1001']), 'graylane read "1001, 1002"');
  await noStore(check('shop.example.com', [...keyed, 'X-Graylane-Identity: 1001']), 'the claim twice');
  await noStore(check('shop.example.com', [...keyed, 'Baggage: tenant=a']), 'baggage');
  await noStore(check('shop.example.com', ['X-Graylane-Route: shop']), 'anonymous: a visitor id is minted');
  await noStore(check('kw.example.com', ['X-Graylane-Route: kw', 'X-User-Id: 1001', 'X-Graylane-Identity: 1001']), 'a path rule');
  await noStore(check('nowhere.example.com', []), 'no route');
});

test('only nginx is told it may cache: other proxies get no-store', async (t) => {
  const app = await start(t, 'traefik');
  const r = (await raw(app.decide!.address.port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: shop.example.com\r\nX-Forwarded-Uri: /\r\nX-User-Id: 1001\r\nX-Graylane-Route: shop\r\nX-Graylane-Identity: 1001\r\n\r\n', { responses: 1 })).responses[0]!;
  assert.equal(r.headers['x-gray-lane'], 'beta');
  assert.equal(r.headers['cache-control'], 'no-store');
});

test('over maxPerSecond, outcomes are refused as over-rate and not counted', async (t) => {
  const { startOutcomeListener } = await import('../../src/decide/syslog.js');
  const { compile } = await import('../../src/routing/index.js');
  const { parseSpec } = await import('../../src/spec/index.js');
  const snapshot = compile(parseSpec('services:\n  web: { versions: { stable: [http://127.0.0.1:1], beta: [http://127.0.0.1:2] } }\nroutes:\n  - { name: shop, service: web }\n', 'gl.yaml'));
  const seen: string[] = [];
  const listener = await startOutcomeListener({
    host: '127.0.0.1',
    port: 0,
    snapshot: () => snapshot,
    observer: { recordResponses: (service, version, status) => void seen.push(`${service} ${version} ${status}`) },
    maxPerSecond: 3,
  });
  t.after(() => listener.close());
  // Sent within one second (retried once if the burst straddles a second boundary).
  for (let attempt = 0; attempt < 2; attempt++) {
    const before = listener.counts();
    const start = Date.now();
    await send(listener.address.port, Array.from({ length: 10 }, () => line()));
    await until('ten datagrams read', () => {
      const c = listener.counts();
      return c.counted + c.refused['over-rate'] - before.counted - before.refused['over-rate'] === 10;
    }, 5000);
    if (Math.floor(start / 1000) !== Math.floor(Date.now() / 1000)) {
      await sleep(1000 - (Date.now() % 1000)); // the next burst starts a fresh second
      continue;
    }
    const c = listener.counts();
    assert.equal(c.counted - before.counted, 3);
    assert.equal(c.refused['over-rate'] - before.refused['over-rate'], 7);
    assert.equal(seen.length, c.counted);
    return;
  }
  assert.fail('two bursts of ten datagrams each straddled a second boundary');
});
