/**
 * Hostile requests to the admin API: every one gets a 4xx with a reason and changes nothing (same
 * rollout revision and events, same instances, same snapshot). Covers the bearer token (missing,
 * wrong, in the URL), bodies (oversized, not JSON, unknown fields), malformed paths, CORS (no
 * Access-Control-Allow-* ever, so another origin's page cannot read or call it) and DNS rebinding
 * (a page on evil.example whose name now resolves to 127.0.0.1 is refused by its Host header).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin } from '../../src/admin/server.js';
import type { App } from '../../src/app.js';
import { parseSpec } from '../../src/spec/index.js';
import { adminUrlOf, api, config, getRollout, startTestApp, startUpstream, TOKEN, waitForRollout, writeFile, type Upstream } from '../rollout/helpers.js';
import { raw } from './helpers.js';
import { tempDir } from '../support/temp.js';
import { webBetaCanary } from '../support/rollouts.js';

let app: App;
let admin: string;
let port: number;
let stable: Upstream;
let beta: Upstream;
let dir: Awaited<ReturnType<typeof tempDir>>;
let instanceId = '';

before(async () => {
  dir = await tempDir();
  stable = await startUpstream('stable');
  beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  await writeFile(
    file,
    config({
      stable: stable.url,
      beta: beta.url,
      state: dir.file('state.db'),
      rest: webBetaCanary(['setWeight: 10', 'pause: {}']),
    }),
  );
  app = await startTestApp(file);
  admin = adminUrlOf(app);
  port = app.admin.address.port;
  await waitForRollout(admin, 'web-beta', (v) => v.reason === 'AwaitingPromotion');
  const reg = await api<{ id: string }>(admin, 'POST', '/api/v1/instances', { service: 'web', version: 'beta', url: beta.url });
  assert.equal(reg.status, 201);
  instanceId = reg.body.id;
});
// Each may be missing when before() failed halfway: close what was opened.
after(async () => {
  await app?.close({ drainMs: 0 });
  await stable?.close();
  await beta?.close();
  await dir?.remove();
});

/** Everything a refused request must leave as it was. */
async function state(): Promise<string> {
  const r = await getRollout(admin, 'web-beta', 1000);
  const instances = await api(admin, 'GET', '/api/v1/instances');
  return JSON.stringify({ revision: r.revision, events: r.events.length, traffic: r.traffic, instances: instances.body, snapshot: app.gateway.snapshot().id });
}

/** A raw admin request; `head` is the header block after the request line, without the final CRLF. */
async function adminRaw(method: string, path: string, head: string, body = ''): Promise<{ status: number; headers: Record<string, string>; json: Record<string, string> }> {
  const length = body === '' ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  const r = await raw(port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${head}${length}\r\n${body}`, { responses: 1 });
  const res = r.responses[0]!;
  assert.ok(res, r.text);
  return { status: res.status, headers: res.headers, json: res.body ? (JSON.parse(res.body) as Record<string, string>) : {} };
}

const PROMOTE = '/api/v1/rollouts/web-beta/promote';
const JSON_TYPE = 'Content-Type: application/json\r\n';

const REFUSED: [string, string, string, string, string, number, string][] = [
  // name, method, path, extra head, body, status, error
  ['no Authorization header', 'POST', PROMOTE, JSON_TYPE, '{}', 401, 'unauthorized'],
  ['an empty bearer token', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer \r\n`, '{}', 401, 'unauthorized'],
  ['the token as Basic credentials', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}\r\n`, '{}', 401, 'unauthorized'],
  ['the token with something after it', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN} x\r\n`, '{}', 401, 'unauthorized'],
  ['a prefix of the token', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN.slice(0, -1)}\r\n`, '{}', 401, 'unauthorized'],
  ['the token in the query string', 'POST', `${PROMOTE}?token=${TOKEN}`, JSON_TYPE, '{}', 400, 'token_in_query'],
  ['access_token in the query string, even with the right header', 'POST', `${PROMOTE}?access_token=${TOKEN}`, `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, '{}', 400, 'token_in_query'],
  ['a registration without a token', 'POST', '/api/v1/instances', JSON_TYPE, JSON.stringify({ service: 'web', version: 'beta', url: 'http://127.0.0.1:1' }), 401, 'unauthorized'],
  ['a deregistration with a wrong token', 'DELETE', `/api/v1/instances/${'ID'}`, 'Authorization: Bearer nope\r\n', '', 401, 'unauthorized'],
  ['a body that is not JSON', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, '{"full": tru', 400, 'bad_json'],
  ['a JSON array body', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, '[]', 400, 'bad_json'],
  ['a JSON null body', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, 'null', 400, 'bad_json'],
  ['a form-encoded body (a cross-site form post)', 'POST', PROMOTE, `Content-Type: application/x-www-form-urlencoded\r\nAuthorization: Bearer ${TOKEN}\r\n`, 'full=true', 415, 'unsupported_media_type'],
  ['a text/plain body (the other CORS-simple type)', 'POST', PROMOTE, `Content-Type: text/plain\r\nAuthorization: Bearer ${TOKEN}\r\n`, '{}', 415, 'unsupported_media_type'],
  ['an unknown field', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, '{"full":false,"force":true}', 400, 'unknown_field'],
  ['a __proto__ field', 'POST', PROMOTE, `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, '{"__proto__":{"full":true}}', 400, 'unknown_field'],
  ['an unknown field in a registration', 'POST', '/api/v1/instances', `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, JSON.stringify({ service: 'web', version: 'beta', url: 'http://127.0.0.1:1', weight: 100 }), 400, 'unknown_field'],
  ['a command sent as GET', 'GET', PROMOTE, `Authorization: Bearer ${TOKEN}\r\n`, '', 405, 'method_not_allowed'],
  ['a GET with a method-override header', 'GET', PROMOTE, `Authorization: Bearer ${TOKEN}\r\nX-HTTP-Method-Override: POST\r\n`, '', 405, 'method_not_allowed'],
  ['a malformed percent-escape in the path', 'POST', '/api/v1/rollouts/web-%E0%A4%A/promote', `${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\n`, '{}', 400, 'bad_path'],
];

for (const [name, method, path, head, body, status, error] of REFUSED) {
  test(`admin API: ${name} -> ${status} ${error}, nothing changes`, async () => {
    const before = await state();
    const r = await adminRaw(method, path.replace('ID', instanceId), head, body);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.equal(r.json.error, error);
    assert.ok((r.json.message ?? '').length > 10, 'a reason');
    assert.equal(await state(), before);
  });
}

test('admin API: a declared body over 1 MiB is 413 before it is read', async () => {
  const before = await state();
  // Headers only: the gateway must answer without waiting for 2 MiB that never come.
  const r = await raw(port, `POST ${PROMOTE} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\nContent-Length: ${2 << 20}\r\n\r\n{`, {
    responses: 1,
  });
  assert.equal(r.responses[0]!.status, 413);
  assert.equal(JSON.parse(r.responses[0]!.body).error, 'body_too_large');
  assert.equal(await state(), before);
});

test('admin API: a chunked body that grows past 1 MiB is 413', async () => {
  const before = await state();
  const chunk = `{"pad":"${'x'.repeat(64 * 1024)}`;
  const chunks = [`POST ${PROMOTE} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n`];
  for (let i = 0; i < 24; i++) chunks.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  const r = await raw(port, '', { chunks, responses: 1 });
  assert.equal(r.responses[0]!.status, 413);
  assert.equal(await state(), before);
});

test('admin API CORS: a preflight from another origin gets no Access-Control-Allow-* header', async () => {
  const r = await adminRaw(
    'OPTIONS',
    PROMOTE,
    'Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n',
  );
  assert.ok(r.status >= 400, `preflight answered ${r.status}`);
  assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), []);
  const read = await adminRaw('GET', '/api/v1/rollouts', 'Origin: https://evil.example\r\n');
  assert.equal(read.status, 200);
  assert.deepEqual(Object.keys(read.headers).filter((h) => h.startsWith('access-control-')), []);
});

test('admin API DNS rebinding: a loopback listener refuses requests whose Host is not a loopback name', async () => {
  const before = await state();
  for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost.evil.example`]) {
    const r = await raw(port, `GET /api/v1/rollouts HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { responses: 1 });
    assert.equal(r.responses[0]!.status, 403, host);
    assert.equal(JSON.parse(r.responses[0]!.body).error, 'forbidden_host');
    const w = await raw(port, `POST ${PROMOTE} HTTP/1.1\r\nHost: ${host}\r\n${JSON_TYPE}Authorization: Bearer ${TOKEN}\r\nContent-Length: 2\r\n\r\n{}`, { responses: 1 });
    assert.equal(w.responses[0]!.status, 403, host);
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `127.0.0.2:${port}`]) {
    const r = await raw(port, `GET /api/v1/rollouts HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { responses: 1 });
    assert.equal(r.responses[0]!.status, 200, host);
  }
  assert.equal(await state(), before);
});

test('admin API: a listener bound to a non-loopback address does not check Host (the operator chose to expose it)', async () => {
  const s = await startAdmin({ host: '0.0.0.0', port: 0, token: TOKEN, routes: [{ method: 'GET', path: '/ping', access: 'read', handle: () => ({ body: { ok: true } }) }] });
  try {
    const r = await raw(s.address.port, 'GET /ping HTTP/1.1\r\nHost: gateway-1.internal\r\n\r\n', { responses: 1 });
    assert.equal(r.responses[0]!.status, 200);
  } finally {
    await s.close();
  }
});

test('admin API listens on loopback unless configured otherwise', () => {
  assert.equal(app.admin.address.host, '127.0.0.1');
  const spec = parseSpec('services: {}\nroutes: []\n', 'x.yaml');
  assert.equal(spec.admin?.listen, '127.0.0.1:9090');
});
