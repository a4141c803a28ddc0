/**
 * Path traversal against path rules: `/public/../admin` must not be routed as `/public/...` and then
 * resolved by the upstream as `/admin`. The gateway normalises the path before matching (`%2e` is a
 * dot, dot segments removed, repeated slashes merged) and forwards the normalised path, so the route,
 * the rules and the upstream all see the same resource; paths it cannot normalise without guessing
 * how the upstream decodes (a dot segment behind an encoded slash, a backslash) are 400.
 *
 * Encoded characters: nginx and Envoy decode percent-encoded unreserved characters before matching,
 * and every upstream decodes them, so `/%69nternal/x` is `/internal/x` and must not miss the
 * `/internal/` route, and `/new%2Dcheckout` must not escape a `path contains /new-checkout` rule.
 * The gateway decodes them (RFC 3986 §6.2.2.2) and forwards the decoded form; a raw upstream records
 * the exact request line it received. `;` path parameters: servlet containers drop them before
 * mapping (`/internal;x=1/x` is `/internal/x` on Tomcat and Spring), so routes and rules match the
 * path without them while the upstream gets them as sent, and a dot segment with parameters
 * (`/public/..;/internal/x`) is 400.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { raw, startRecordingUpstream, type RecordingUpstream } from './helpers.js';

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

describe('encoded characters and ;parameters, seen by a raw upstream', () => {
  let internal: RecordingUpstream;
  let stable: RecordingUpstream;
  let beta: RecordingUpstream;
  let gw2: Gateway;
  before(async () => {
    [internal, stable, beta] = await Promise.all([startRecordingUpstream('internal'), startRecordingUpstream('stable'), startRecordingUpstream('beta')]);
    gw2 = await gatewayFor(
      spec({
        services: {
          internal: service({ stable: [internal.url] }),
          site: service({ stable: [stable.url], beta: [beta.url] }),
        },
        routes: [
          route({ name: 'internal', match: { pathPrefix: '/internal/' }, service: 'internal' }),
          route({ name: 'site', match: { pathPrefix: '/' }, service: 'site', rules: [{ lane: 'beta', path: { contains: '/new-checkout' } }] }),
        ],
      }),
    );
  });
  after(async () => {
    await gw2.close({ drainMs: 100 });
    await Promise.all([internal.close(), stable.close(), beta.close()]);
  });

  /** Sends `target` on a fresh connection; returns the status and which upstream got which request line. */
  async function send(target: string): Promise<{ status: number; body: string; lines: string[] }> {
    const before = [internal, stable, beta].map((u) => u.received.length);
    const r = await raw(gw2, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, { responses: 1 });
    assert.equal(r.responses.length, 1, r.text);
    const lines = [internal, stable, beta].flatMap((u, i) => u.received.slice(before[i]).map((x) => `${u === internal ? 'internal' : u === stable ? 'stable' : 'beta'} ${x.line}`));
    return { status: r.responses[0]!.status, body: r.responses[0]!.body, lines };
  }

  const FORWARDED: [string, string][] = [
    // target sent, the one request line an upstream received (prefixed by which upstream)
    ['/%69nternal/x', 'internal GET /internal/x HTTP/1.1'],
    ['/%69%6E%74%65%72%6E%61%6C/x', 'internal GET /internal/x HTTP/1.1'],
    ['/public/%2E%2E/internal/x', 'internal GET /internal/x HTTP/1.1'],
    ['/public/%2e%2E/%69nternal/x?a=%2d', 'internal GET /internal/x?a=%2d HTTP/1.1'],
    ['/new-ch%65ckout', 'beta GET /new-checkout HTTP/1.1'],
    ['/new%2Dcheckout', 'beta GET /new-checkout HTTP/1.1'],
    ['/shop/new%2dch%45ckout/x', 'stable GET /shop/new-chEckout/x HTTP/1.1'],
    ['/shop/new%2dcheckout/x', 'beta GET /shop/new-checkout/x HTTP/1.1'],
    ['/internal;x=1/x', 'internal GET /internal;x=1/x HTTP/1.1'],
    ['/new-checkout;jsessionid=AB12', 'beta GET /new-checkout;jsessionid=AB12 HTTP/1.1'],
    ['/;jsessionid=AB12', 'stable GET /;jsessionid=AB12 HTTP/1.1'],
    ['/files/a%2fb%7e', 'stable GET /files/a%2Fb~ HTTP/1.1'],
    ['/files/%2569nternal', 'stable GET /files/%2569nternal HTTP/1.1'],
  ];

  for (const [target, line] of FORWARDED) {
    test(`encoded path: ${target} reaches exactly "${line}"`, async () => {
      const r = await send(target);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(r.lines, [line]);
    });
  }

  const REFUSED_ENCODED: [string, RegExp][] = [
    ['/public/..;/internal/x', /\.\.;/],
    ['/public/..;x=1/internal/x', /\.\.;/],
    ['/public/.;/internal/x', /\.\.;/],
    ['/public/%2E%2E;/internal/x', /\.\.;/],
    ['/public/..%3B/internal/x', /encoded slash, backslash or semicolon/],
    ['/%%36%39nternal/x', /% not followed by two hex digits/],
    ['/x%zz', /% not followed by two hex digits/],
    ['/x%4', /% not followed by two hex digits/],
  ];

  for (const [target, reason] of REFUSED_ENCODED) {
    test(`encoded path: ${target} is 400 with its reason and reaches no upstream`, async () => {
      const r = await send(target);
      assert.equal(r.status, 400);
      const body = JSON.parse(r.body) as { error: string; reason: string };
      assert.equal(body.error, 'bad_request');
      assert.match(body.reason, reason);
      assert.deepEqual(r.lines, []);
    });
  }

  test('encoded path: a second request on the same keep-alive connection is normalised too', async () => {
    const before = internal.received.length;
    const r = await raw(gw2, 'GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /%69nternal/y HTTP/1.1\r\nHost: a\r\n\r\n', { responses: 2 });
    assert.deepEqual(
      r.responses.map((x) => [x.status, x.body]),
      [
        [200, 'stable'],
        [200, 'internal'],
      ],
    );
    assert.deepEqual(
      internal.received.slice(before).map((x) => x.line),
      ['GET /internal/y HTTP/1.1'],
    );
  });
});
