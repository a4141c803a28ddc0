import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { providerFor, type MeasureContext } from './index.js';
import { PROMETHEUS_ANSWERS } from './prometheus-recorded.js';
import { TrafficRecorder } from '../../traffic/index.js';
import { judge, type ProviderOutcome } from '../analysis.js';
import type { AnalysisTemplate, ProviderSpec } from '../../spec/rollout-model.js';

const ctx: MeasureContext = { rollout: { name: 'whoami-v2', service: 'whoami', stable: 'stable', canary: 'beta' } };

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback server answering by path; records what it was asked. */
async function serve(answer: (req: Seen, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      answer(s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** A port nobody listens on: bind, read, close. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function template(provider: ProviderSpec, successCondition: string | null = null): AnalysisTemplate {
  return { name: 't', intervalMs: null, initialDelayMs: 0, count: 1, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, successCondition, failureCondition: null, provider };
}

/** The conformance check every provider passes: measure() resolves to a well-formed outcome. */
async function measure(spec: ProviderSpec, window?: TrafficRecorder): Promise<ProviderOutcome> {
  const provider = providerFor(spec, window ? { metrics: window } : {});
  assert.equal(provider.kind, spec.kind);
  const outcome = await provider.measure(ctx);
  assert.ok(['value', 'inconclusive', 'error'].includes(outcome.kind));
  if (outcome.kind !== 'value') assert.equal(typeof outcome.message, 'string');
  return outcome;
}

// ---- builtin ------------------------------------------------------------------------------------

test('builtin: error rate and latency of the canary over the window', async () => {
  const now = 1_000_000;
  const w = new TrafficRecorder({ clock: () => now });
  for (let i = 0; i < 80; i++) w.record('whoami', 'beta', 200, 10, now - 5_000);
  for (let i = 0; i < 20; i++) w.record('whoami', 'beta', 500, 100, now - 5_000);
  for (let i = 0; i < 50; i++) w.record('whoami', 'beta', 500, 10, now - 120_000); // outside the 1m window
  for (let i = 0; i < 50; i++) w.record('whoami', 'stable', 200, 10, now);
  const spec = (metric: string, extra: object = {}): ProviderSpec =>
    ({ kind: 'builtin', metric, service: null, version: 'canary', windowMs: 60_000, minRequests: 1, ...extra }) as ProviderSpec;

  const rate = await measure(spec('errorRate'), w);
  assert.equal(rate.kind, 'value');
  assert.equal(rate.kind === 'value' && rate.value, 0.2);
  assert.equal(judge(template(spec('errorRate'), 'result < 0.01'), rate).phase, 'Failed');
  const p99 = await measure(spec('p99'), w);
  assert.ok(p99.kind === 'value' && Math.abs((p99.value as number) - 100) / 100 < 0.08, `p99 ~ 100ms: ${JSON.stringify(p99)}`);
  const stable = await measure(spec('errorRate', { version: 'stable' }), w);
  assert.equal(stable.kind === 'value' && stable.value, 0);
});

test('builtin: too little traffic is inconclusive, no metrics source is an error', async () => {
  const w = new TrafficRecorder({ clock: () => 1000 });
  w.record('whoami', 'beta', 200, 5, 1000);
  const spec: ProviderSpec = { kind: 'builtin', metric: 'errorRate', service: null, version: 'canary', windowMs: 60_000, minRequests: 10 };
  const few = await measure(spec, w);
  assert.equal(few.kind, 'inconclusive');
  assert.match(few.kind === 'inconclusive' ? few.message : '', /1 requests to whoami\/beta in the window, need 10/);
  const none = await measure(spec);
  assert.equal(none.kind, 'error');
});

// ---- prometheus ---------------------------------------------------------------------------------

test('prometheus: vector and scalar results become lists of numbers; the query is expanded', async () => {
  const answers: Record<string, { status: number; body: string }> = {
    vec: PROMETHEUS_ANSWERS.vector,
    scalar: PROMETHEUS_ANSWERS.scalar,
    empty: PROMETHEUS_ANSWERS.emptyVector,
    nan: PROMETHEUS_ANSWERS.nan,
  };
  const srv = await serve((req, res) => {
    const q = new URL(req.url, 'http://x').searchParams.get('query') ?? '';
    const a = answers[q.split(':')[0]!]!;
    res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
  });
  const spec = (query: string): ProviderSpec => ({ kind: 'prometheus', address: `${srv.url}/`, query, headers: { authorization: 'Bearer t' }, timeoutMs: 5000 });

  const vec = await measure(spec('vec:rate(errors{version="{{canary}}",service="{{ service }}"}[1m])'));
  assert.deepEqual(vec, { kind: 'value', value: [0.12, 0.3] });
  assert.equal(judge(template(spec('x'), 'result[0] < 0.3'), vec).phase, 'Successful');
  const first = srv.seen[0]!;
  assert.equal(first.method, 'GET');
  assert.ok(first.url.startsWith('/api/v1/query?query='));
  assert.equal(new URL(first.url, 'http://x').searchParams.get('query'), 'vec:rate(errors{version="beta",service="whoami"}[1m])');
  assert.equal(first.headers.authorization, 'Bearer t');

  assert.deepEqual(await measure(spec('scalar:')), { kind: 'value', value: [0.0042] });
  const empty = await measure(spec('empty:'));
  assert.deepEqual(empty, { kind: 'value', value: [] });
  assert.equal(judge(template(spec('x'), 'result[0] < 0.3'), empty).phase, 'Error', 'index out of range is an Error measurement');
  const nan = await measure(spec('nan:'));
  assert.ok(nan.kind === 'value' && Number.isNaN((nan.value as number[])[0]));
});

test('prometheus: API errors, matrix results and unreachable servers are error outcomes', async () => {
  const srv = await serve((req, res) => {
    const a = req.url.includes('matrix') ? PROMETHEUS_ANSWERS.matrix : req.url.includes('html') ? { status: 502, body: '<html>bad gateway</html>' } : PROMETHEUS_ANSWERS.badQuery;
    res.writeHead(a.status).end(a.body);
  });
  const spec = (address: string, query: string): ProviderSpec => ({ kind: 'prometheus', address, query, headers: {}, timeoutMs: 5000 });
  const bad = await measure(spec(srv.url, 'rate(x[1m]))'));
  assert.equal(bad.kind, 'error');
  assert.match(bad.kind === 'error' ? bad.message : '', /HTTP 400: bad_data: invalid parameter/);
  const matrix = await measure(spec(srv.url, 'matrix'));
  assert.match(matrix.kind === 'error' ? matrix.message : '', /result type matrix is not supported/);
  const html = await measure(spec(srv.url, 'html'));
  assert.match(html.kind === 'error' ? html.message : '', /HTTP 502 with a body that is not JSON/);
  const down = await measure(spec(`http://127.0.0.1:${await closedPort()}`, 'up'));
  assert.match(down.kind === 'error' ? down.message : '', /ECONNREFUSED/);
});

test('prometheus: a server that never answers is an error after the timeout', async () => {
  const srv = await serve(() => {
    /* never answers */
  });
  const outcome = await measure({ kind: 'prometheus', address: srv.url, query: 'up', headers: {}, timeoutMs: 200 });
  assert.equal(outcome.kind, 'error');
});

// ---- web ----------------------------------------------------------------------------------------

test('web: the value at the JSON path is the result; booleans are the verdict without conditions', async () => {
  const srv = await serve((req, res) => {
    if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    else if (req.url === '/sick') res.writeHead(200).end('{"ok":false}');
    else if (req.url === '/stats') res.writeHead(200).end(JSON.stringify({ data: { rate: 0.995, items: [{ n: 3 }] }, echo: req.body }));
    else if (req.url === '/down') res.writeHead(503).end('maintenance');
    else res.writeHead(200).end('plain text');
  });
  const web = (path: string, extra: Partial<Extract<ProviderSpec, { kind: 'web' }>> = {}): ProviderSpec => ({
    kind: 'web', url: `${srv.url}${path}`, method: 'GET', headers: {}, body: null, jsonPath: '$.ok', timeoutMs: 5000, ...extra,
  });
  const ok = await measure(web('/health'));
  assert.deepEqual(ok, { kind: 'value', value: true, verdict: 'Successful' });
  assert.equal(judge(template(web('/health')), ok).phase, 'Successful');
  const sick = await measure(web('/sick'));
  assert.equal(judge(template(web('/sick')), sick).phase, 'Failed');

  const rate = await measure(web('/stats', { jsonPath: '$.data.rate' }));
  assert.deepEqual(rate, { kind: 'value', value: 0.995 });
  assert.deepEqual(await measure(web('/stats', { jsonPath: '$.data.items[0].n' })), { kind: 'value', value: 3 });

  const posted = await measure(web('/stats', { method: 'POST', body: '{"rollout":"{{rollout}}"}', jsonPath: '$.echo' }));
  assert.deepEqual(posted, { kind: 'value', value: '{"rollout":"whoami-v2"}' });
  assert.equal(srv.seen.at(-1)!.headers['content-type'], 'application/json');

  assert.match(JSON.stringify(await measure(web('/down'))), /HTTP 503: maintenance/);
  assert.match(JSON.stringify(await measure(web('/stats', { jsonPath: '$.data.missing' }))), /\$\.data\.missing is absent/);
  assert.match(JSON.stringify(await measure(web('/text'))), /not JSON/);
  assert.deepEqual(await measure(web('/text', { jsonPath: null })), { kind: 'value', value: 'plain text' });
});

// ---- job ----------------------------------------------------------------------------------------

const job = (command: string[], timeoutMs = 10_000): ProviderSpec => ({ kind: 'job', command, env: { EXTRA: 'x' }, cwd: null, timeoutMs });

test('job: exit code 0 passes, another fails with the output tail, and the rollout is in the environment', async () => {
  const pass = await measure(job(['/bin/sh', '-c', 'echo "$GRAYLANE_SERVICE $GRAYLANE_CANARY $EXTRA {{canary}}"']));
  assert.equal(pass.kind, 'value');
  assert.equal(pass.kind === 'value' && pass.verdict, 'Successful');
  assert.match(pass.kind === 'value' ? pass.message! : '', /exit code 0: whoami beta x beta/);
  const arg = await measure(job(['/bin/echo', '{{canary}}']));
  assert.match(arg.kind === 'value' ? arg.message! : '', /: beta$/, 'placeholders in arguments are expanded');

  const fail = await measure(job(['/bin/sh', '-c', 'echo checking; echo "3 tests failed" >&2; exit 3']));
  assert.equal(fail.kind === 'value' && fail.value, 3);
  assert.equal(fail.kind === 'value' && fail.verdict, 'Failed');
  assert.match(fail.kind === 'value' ? fail.message! : '', /exit code 3: checking\n3 tests failed/);
  assert.equal(judge(template(job(['x'])), fail).phase, 'Failed');
});

test('job: a timeout kills the command and its children and fails; a missing command is an error', async () => {
  const slow = await measure(job(['/bin/sh', '-c', 'sleep 30 & sleep 30; echo never'], 300));
  assert.equal(slow.kind, 'value');
  assert.equal(slow.kind === 'value' && slow.verdict, 'Failed');
  assert.equal(slow.kind === 'value' && slow.value, null);
  assert.match(slow.kind === 'value' ? slow.message! : '', /timed out after 300 ms/);
  const missing = await measure(job(['/nonexistent/graylane-e2e']));
  assert.equal(missing.kind, 'error');
  assert.match(missing.kind === 'error' ? missing.message : '', /could not start: .*ENOENT/);
});
