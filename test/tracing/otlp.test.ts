/**
 * Traces (spec.tracing, issue #17): a span per proxied request, a child of the incoming W3C
 * traceparent, exported over OTLP/HTTP to a local receiver that decodes what arrives; the upstream
 * gets a traceparent naming graylane's span and the access log the trace id. Requests go in as raw
 * bytes where the header matters; what the upstream received is read from its echo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { request } from 'undici';
import { startApp } from '../../src/app.js';
import { compile } from '../../src/routing/index.js';
import { startGateway } from '../../src/gateway/server.js';
import { startTracing } from '../../src/tracing/index.js';
import type { TracingSpec } from '../../src/spec/types.js';
import { closedPort, route, service, spec } from '../gateway/helpers.js';
import { converse, parseResponses, raw } from '../security/helpers.js';
import { tempDir } from '../support/temp.js';
import { startUpstream, type Echo } from '../support/upstream.js';
import { sleep, until } from '../support/wait.js';
import { spawnServe } from '../rollout/helpers.js';
import { startCollector, type ReceivedSpan } from './collector.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const P = '00f067aa0ba902b7';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

function appConfig(stable: string, beta: string, broken: string, collector: string | null): string {
  return `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
accessLog: true
services:
  web:
    versions:
      stable: { endpoints: [${stable}] }
      beta: { endpoints: [${beta}] }
  broken:
    retry: { attempts: 1, on: [connect-error] }
    versions:
      stable: { endpoints: [${broken}] }
routes:
  - name: broken
    match: { pathPrefix: /broken }
    service: broken
  - name: web
    match: { pathPrefix: / }
    service: web
    identity: [header:x-user-id]
    rules: [{ name: testers, lane: beta, users: ["t"] }]
${collector === null ? '' : `tracing:\n  otlp: { endpoint: ${collector} }\n`}`;
}

/** One request on an open raw connection; its response, in full. */
async function exchange(c: Awaited<ReturnType<typeof converse>>, head: string): Promise<ReturnType<typeof parseResponses>[number]> {
  const before = parseResponses(c.text, false).length;
  c.write(head);
  await c.until((text) => parseResponses(text, false).length > before);
  return parseResponses(c.text, false)[before]!;
}

test('a span per proxied request: child of the incoming traceparent, passed on upstream, in the access log', async () => {
  const collector = await startCollector();
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const dir = await tempDir();
  const broken = `http://127.0.0.1:${await closedPort()}`;
  await writeFile(dir.file('graylane.yaml'), appConfig(stable.url, beta.url, broken, collector.url));
  const lines: string[] = [];
  const app = await startApp({
    configFile: dir.file('graylane.yaml'),
    cwd: dir.path,
    logger: pino({ level: 'silent' }),
    accessLogDestination: { write: (line: string) => void lines.push(line) },
  });
  try {
    const port = app.gateway.address.port;
    const c = await converse(port);
    // 1. A caller's sampled trace, on a keep-alive connection.
    const r1 = await exchange(c, `GET /one HTTP/1.1\r\nHost: shop\r\nx-user-id: t\r\ntraceparent: 00-${T}-${P}-01\r\ntracestate: vendor=abc\r\n\r\n`);
    assert.equal(r1.status, 200);
    const up1 = (JSON.parse(r1.body) as Echo).headers;
    const m1 = TRACEPARENT.exec(String(up1.traceparent));
    assert.ok(m1, `upstream traceparent ${up1.traceparent}`);
    assert.equal(m1[1], T, 'the upstream stays in the caller trace');
    assert.notEqual(m1[2], P, "the upstream's parent is graylane's span, not the caller's");
    assert.equal(m1[3], '01');
    assert.equal(up1.tracestate, 'vendor=abc', 'tracestate passes on with a valid traceparent');
    // 2. The same connection, no traceparent: a new trace.
    const r2 = await exchange(c, `GET /two HTTP/1.1\r\nHost: shop\r\n\r\n`);
    const m2 = TRACEPARENT.exec(String((JSON.parse(r2.body) as Echo).headers.traceparent));
    assert.ok(m2);
    assert.notEqual(m2[1], T);
    // 3. A traceparent that is not one (upper-case hex): a new trace, and its tracestate is dropped.
    const r3 = await exchange(c, `GET /three HTTP/1.1\r\nHost: shop\r\ntraceparent: 00-${T.toUpperCase()}-${P}-01\r\ntracestate: vendor=abc\r\n\r\n`);
    const up3 = (JSON.parse(r3.body) as Echo).headers;
    const m3 = TRACEPARENT.exec(String(up3.traceparent));
    assert.ok(m3);
    assert.notEqual(m3[1], T);
    assert.equal(up3.tracestate, undefined);
    c.destroy();
    // 4. An upstream that refuses connections: retried once, then 502.
    const r4 = await request(`http://127.0.0.1:${port}/broken`, { headers: { traceparent: `00-${T}-${P}-01` } });
    await r4.body.dump();
    assert.equal(r4.statusCode, 502);

    await until('four spans at the collector', () => collector.spans.length >= 4, 10_000);
    assert.equal(collector.spans.length, 4);
    const byPath = new Map<string, ReceivedSpan>();
    for (const s of collector.spans) byPath.set(s.spanId, s);
    const one = collector.spans.find((s) => s.spanId === m1[2])!;
    assert.ok(one, 'the span the upstream was told of was exported');
    assert.equal(one.traceId, T);
    assert.equal(one.parentSpanId, P);
    assert.equal(one.kind, 2, 'SERVER');
    assert.equal(one.name, 'GET web');
    assert.deepEqual(one.attributes, {
      'http.request.method': 'GET',
      'graylane.route': 'web',
      'graylane.service': 'web',
      'graylane.lane': 'beta',
      'graylane.rule': 'testers',
      'graylane.version': 'beta',
      'graylane.endpoint': beta.url,
      'graylane.retries': 0,
      'http.response.status_code': 200,
    });
    assert.equal(one.status.code, 0);
    assert.ok(one.endTimeUnixNano >= one.startTimeUnixNano);
    assert.equal(one.resource['service.name'], 'graylane');
    const two = collector.spans.find((s) => s.spanId === m2[2])!;
    assert.equal(two.traceId, m2[1]);
    assert.equal(two.parentSpanId, '', 'a new trace starts at graylane');
    assert.equal(two.attributes['graylane.lane'], 'stable');
    assert.equal(two.attributes['graylane.rule'], 'default');
    const three = collector.spans.find((s) => s.spanId === m3[2])!;
    assert.equal(three.parentSpanId, '');
    const failed = collector.spans.find((s) => s.attributes['graylane.route'] === 'broken')!;
    assert.equal(failed.parentSpanId, P);
    assert.equal(failed.attributes['http.response.status_code'], 502);
    assert.equal(failed.attributes['graylane.retries'], 1);
    assert.equal(failed.attributes['error.type'], 'bad_gateway');
    assert.equal(failed.status.code, 2, 'a 5xx is an error span');

    // The access log joins each line to its trace.
    await until('four access log lines', () => lines.length >= 4, 5000);
    const logged = lines.map((l) => JSON.parse(l) as { path: string; traceId?: string });
    assert.deepEqual(
      logged.map((l) => [l.path, l.traceId]),
      [
        ['/one', T],
        ['/two', m2[1]],
        ['/three', m3[1]],
        ['/broken', T],
      ],
    );

    // Batched: a burst leaves in fewer exports than spans.
    const before = collector.spans.length;
    const posts = collector.posts.length;
    await Promise.all(Array.from({ length: 10 }, () => request(`http://127.0.0.1:${port}/burst`).then((r) => r.body.dump())));
    await until('the burst exported', () => collector.spans.length >= before + 10, 10_000);
    assert.ok(collector.posts.length - posts < 10, `10 spans in ${collector.posts.length - posts} exports`);
    assert.ok(collector.seen.every((s) => s.path === '/v1/traces' && s.contentType.startsWith('application/json')));
  } finally {
    await app.close({ drainMs: 0 });
    await Promise.all([collector.close(), stable.close(), beta.close(), dir.remove()]);
  }
});

function tracingSpec(endpoint: string, over: Partial<TracingSpec> = {}): TracingSpec {
  return { otlp: { endpoint: `${endpoint}/v1/traces`, timeoutMs: 10_000 }, sampleRatio: 1, serviceName: 'graylane', queueSize: 2048, ...over };
}

test('a collector that does not answer delays no request, and the queue of spans is bounded', async () => {
  const collector = await startCollector();
  collector.mode = 'hang';
  const up = await startUpstream('stable');
  const queueSize = 8;
  const tracing = await startTracing(tracingSpec(collector.url, { queueSize, otlp: { endpoint: `${collector.url}/v1/traces`, timeoutMs: 1000 } }));
  const gw = await startGateway({
    snapshot: compile(spec({ services: { svc: service({ stable: [up.url] }) } })),
    tracer: tracing.tracer,
    accessLog: false,
  });
  try {
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      const r = await request(`http://127.0.0.1:${gw.address.port}/down/${i}`);
      await r.body.dump();
      assert.equal(r.statusCode, 200);
    }
    const ms = performance.now() - started;
    // An export that held requests up would cost its 1 s timeout, many times over.
    assert.ok(ms < 5000, `200 requests took ${Math.round(ms)} ms with the collector hanging`);
    await until('an export attempted', () => collector.seen.length > 0, 5000);
    // The collector comes back: what was kept is bounded by the queue (plus the batch in flight).
    collector.mode = 'ok';
    // A full queue drops the newest spans, so requests are sent until one of them gets through.
    await until(
      'a span after the collector came back',
      async () => {
        const r = await request(`http://127.0.0.1:${gw.address.port}/back`, { headers: { traceparent: `00-${T}-${P}-01` } });
        await r.body.dump();
        await sleep(200);
        return collector.spans.some((s) => s.traceId === T);
      },
      15_000,
    );
    const fromOutage = collector.spans.filter((s) => s.traceId !== T).length;
    assert.ok(fromOutage <= 2 * queueSize, `${fromOutage} of 200 spans kept through the outage`);
  } finally {
    await gw.close({ drainMs: 0 });
    const t = performance.now();
    collector.mode = 'hang';
    await tracing.shutdown();
    assert.ok(performance.now() - t < 3000, 'shutdown is bounded by the export timeout');
    await Promise.all([collector.close(), up.close()]);
  }
});

test('sampling is parent-based: a sampled caller is recorded, new traces at sampleRatio (0 here)', async () => {
  const collector = await startCollector();
  const up = await startUpstream('stable');
  const tracing = await startTracing(tracingSpec(collector.url, { sampleRatio: 0 }));
  const gw = await startGateway({ snapshot: compile(spec({ services: { svc: service({ stable: [up.url] }) } })), tracer: tracing.tracer, accessLog: false });
  try {
    const upstreamTraceparent = async (headers: Record<string, string>): Promise<string> => {
      const r = await request(`http://127.0.0.1:${gw.address.port}/`, { headers });
      return String(((await r.body.json()) as Echo).headers.traceparent);
    };
    const fresh = TRACEPARENT.exec(await upstreamTraceparent({}))!;
    assert.equal(fresh[3], '00', 'an unsampled trace still passes a traceparent on');
    const unsampled = TRACEPARENT.exec(await upstreamTraceparent({ traceparent: `00-${'1'.repeat(32)}-${P}-00` }))!;
    assert.equal(unsampled[1], '1'.repeat(32));
    assert.equal(unsampled[3], '00');
    const sampled = TRACEPARENT.exec(await upstreamTraceparent({ traceparent: `00-${T}-${P}-01` }))!;
    assert.equal(sampled[3], '01');
    await until('the sampled span', () => collector.spans.length > 0, 10_000);
    await tracing.shutdown();
    assert.deepEqual(
      collector.spans.map((s) => [s.traceId, s.spanId, s.parentSpanId]),
      [[T, sampled[2], P]],
    );
  } finally {
    await gw.close({ drainMs: 0 });
    await Promise.all([collector.close(), up.close()]);
  }
});

test('tracing off: the traceparent passes unchanged, the access log still names a valid one', async () => {
  const up = await startUpstream('stable');
  const lines: string[] = [];
  const gw = await startGateway({
    snapshot: compile(spec({ services: { svc: service({ stable: [up.url] }) }, routes: [route({ match: { pathPrefix: '/app' } })] })),
    accessLog: true,
    accessLogDestination: { write: (line: string) => void lines.push(line) },
  });
  try {
    const sent = `00-${T}-${P}-01`;
    const res = await raw(gw, `GET /app HTTP/1.1\r\nHost: x\r\ntraceparent: ${sent}\r\ntracestate: a=1\r\n\r\n`, { responses: 1 });
    const echo = JSON.parse(res.responses[0]!.body) as Echo;
    assert.equal(echo.headers.traceparent, sent);
    assert.equal(echo.headers.tracestate, 'a=1');
    await raw(gw, `GET /app HTTP/1.1\r\nHost: x\r\ntraceparent: ${sent}\r\ntraceparent: ${sent}\r\n\r\n`, { responses: 1 });
    await raw(gw, `GET /app HTTP/1.1\r\nHost: x\r\n\r\n`, { responses: 1 });
    await raw(gw, `GET /nowhere HTTP/1.1\r\nHost: x\r\ntraceparent: ${sent}\r\n\r\n`, { responses: 1 });
    await until('four access log lines', () => lines.length >= 4, 5000);
    const logged = lines.map((l) => JSON.parse(l) as { status: number; traceId?: string });
    assert.deepEqual(
      logged.map((l) => [l.status, l.traceId]),
      [
        [200, T],
        [200, undefined], // sent twice: not a traceparent
        [200, undefined],
        [404, T], // the gateway's own answers name the caller's trace too
      ],
    );
  } finally {
    await gw.close({ drainMs: 0 });
    await up.close();
  }
});

const APP = fileURLToPath(new URL('../../src/app.js', import.meta.url));

/** Whether a `graylane` app started in a fresh process, with or without tracing, loaded the OpenTelemetry SDK or exporter. */
async function loadsOpenTelemetry(withTracing: boolean): Promise<boolean> {
  const up = await startUpstream('stable');
  const dir = await tempDir();
  const collector = await startCollector();
  try {
    await writeFile(dir.file('graylane.yaml'), appConfig(up.url, up.url, up.url, withTracing ? collector.url : null).replace('accessLog: true', 'accessLog: false'));
    const script = `
      import { createRequire } from 'node:module';
      import pino from 'pino';
      const { startApp } = await import(${JSON.stringify(APP)});
      const app = await startApp({ configFile: ${JSON.stringify(dir.file('graylane.yaml'))}, cwd: ${JSON.stringify(dir.path)}, logger: pino({ level: 'silent' }) });
      const r = await fetch('http://127.0.0.1:' + app.gateway.address.port + '/');
      await r.text();
      await app.close({ drainMs: 0 });
      const cache = createRequire(import.meta.url).cache;
      // prom-client loads @opentelemetry/api itself (for exemplars); the SDK and the exporter are tracing's.
      const SDK = /@opentelemetry[\\/](sdk-trace|exporter-trace-otlp-http|otlp-exporter-base)[\\/]/;
      console.log(JSON.stringify(Object.keys(cache).some((k) => SDK.test(k))));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../../../', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, out);
    return JSON.parse(out.trim()) as boolean;
  } finally {
    await Promise.all([up.close(), collector.close(), dir.remove()]);
  }
}

test('without tracing, the OpenTelemetry SDK is not loaded (with it, it is)', async () => {
  assert.equal(await loadsOpenTelemetry(false), false);
  assert.equal(await loadsOpenTelemetry(true), true);
});

test('with workers, each worker exports the spans of the requests it serves', async () => {
  const collector = await startCollector();
  const up = await startUpstream('stable');
  const dir = await tempDir();
  await writeFile(dir.file('graylane.yaml'), appConfig(up.url, up.url, up.url, collector.url));
  const serve = await spawnServe(['-c', dir.file('graylane.yaml'), '--workers', '2', '--log-format', 'json'], dir.path);
  try {
    const port = Number(new URL(serve.gatewayUrl).port);
    const workersSeen = (): Set<unknown> => new Set(collector.spans.map((s) => s.resource['graylane.worker']));
    // Connections go to the workers in turn: a handful of fresh ones reaches both.
    for (let i = 0; i < 40 && workersSeen().size < 2; i++) {
      await raw(port, `GET /w/${i} HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${T}-${P}-01\r\nConnection: close\r\n\r\n`);
      if (i % 8 === 7) await until('spans exported', () => collector.spans.length > 0, 10_000);
    }
    await until('spans from both workers', () => workersSeen().size === 2, 10_000);
    const instances = new Set(collector.spans.map((s) => s.resource['service.instance.id']));
    assert.equal(instances.size, 2, 'one instance per worker process');
    assert.ok(collector.spans.every((s) => s.traceId === T && s.parentSpanId === P));
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    await Promise.all([collector.close(), up.close(), dir.remove()]);
  }
});
