/**
 * Path traversal against path rules: `/public/../admin` must not be routed as `/public/...` and then
 * resolved by the upstream as `/admin`. The gateway normalises the path before matching (`%2e` is a
 * dot, dot segments removed, repeated slashes merged) and forwards the normalised path, so the route,
 * the rules and the upstream all see the same resource; paths it cannot normalise without guessing
 * how the upstream decodes (a dot segment behind an encoded slash, a backslash) are 400.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { raw } from './helpers.js';

let pub: Upstream;
let pubBeta: Upstream;
let admin: Upstream;
let gw: Gateway;
before(async () => {
  pub = await startUpstream('stable', 'public');
  pubBeta = await startUpstream('beta', 'public-beta');
  admin = await startUpstream('stable', 'admin');
  gw = await gatewayFor(
    spec({
      services: {
        public: service({ stable: [pub.url], beta: [pubBeta.url] }),
        admin: service({ stable: [admin.url] }),
      },
      routes: [
        route({ name: 'admin', match: { pathPrefix: '/admin' }, service: 'admin' }),
        route({ name: 'public', match: { pathPrefix: '/public' }, service: 'public', rules: [{ lane: 'beta', path: { prefix: '/public/internal' } }] }),
      ],
    }),
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await Promise.all([pub.close(), pubBeta.close(), admin.close()]);
});

async function fetchRaw(target: string): Promise<{ status: number; body: string }> {
  const r = await raw(gw, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, { responses: 1 });
  assert.equal(r.responses.length, 1, r.text);
  return { status: r.responses[0]!.status, body: r.responses[0]!.body };
}

const ROUTED: [string, string, string][] = [
  // target sent, instance that must serve it, path it must receive
  ['/public/../admin/users', 'admin', '/admin/users'],
  ['/public/%2e%2e/admin/users', 'admin', '/admin/users'],
  ['/public/%2E%2E/admin/users', 'admin', '/admin/users'],
  ['/public/.%2e/admin/users', 'admin', '/admin/users'],
  ['/public/./../../../admin/users', 'admin', '/admin/users'],
  ['//admin/users', 'admin', '/admin/users'],
  ['/admin/../public/x', 'public', '/public/x'],
  ['/public/./a//b/', 'public', '/public/a/b/'],
  ['/public/a%2Fb', 'public', '/public/a%2Fb'],
  ['/public/x?next=/../admin', 'public', '/public/x?next=/../admin'],
  ['/public/x/../internal/report', 'public-beta', '/public/internal/report'],
];

for (const [target, instance, path] of ROUTED) {
  test(`path traversal: ${target} is routed and forwarded as ${path}`, async () => {
    const r = await fetchRaw(target);
    assert.equal(r.status, 200, r.body);
    const echo = JSON.parse(r.body) as Echo;
    assert.equal(echo.instance, instance);
    assert.equal(echo.url, path);
  });
}

const REFUSED = ['/public/..%2fadmin/users', '/public%2F..%2Fadmin/users', '/public/%2e%2e%5cadmin', '/public/..%5Cadmin'];

for (const target of REFUSED) {
  test(`path traversal: ${target} (a dot segment behind an encoded separator) is 400 and reaches no upstream`, async () => {
    const n = pub.received.length + pubBeta.received.length + admin.received.length;
    const r = await fetchRaw(target);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error, 'bad_request');
    assert.equal(pub.received.length + pubBeta.received.length + admin.received.length, n);
  });
}

test('path traversal: a backslash in the path is refused (by the parser or the gateway), never routed', async () => {
  const n = pub.received.length + admin.received.length;
  const r = await raw(gw, 'GET /public\\..\\admin HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 1 });
  assert.equal(r.responses[0]!.status, 400);
  assert.equal(pub.received.length + admin.received.length, n);
});
