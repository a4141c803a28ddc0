/**
 * The decision listener at the socket level: each proxy's check request, written byte for byte as
 * its documentation says it is sent, goes to `graylane serve`'s decide listener (startApp, real
 * config file, real reloads); the answer's status and headers are asserted. Marking is checked
 * against the gateway itself: the lane the decide listener answers is the lane the gateway's
 * upstream receives for the same request.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import type { DecideProxy } from '../../src/spec/types.js';
import { get, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { raw, type RawResponse } from '../security/helpers.js';
import { until } from '../support/wait.js';
import { tempDir } from '../support/temp.js';

const dirs: { remove(): Promise<void> }[] = [];
after(async () => {
  for (const d of dirs) await d.remove();
});

interface Setup {
  app: App;
  stable: Upstream;
  beta: Upstream;
  file: string;
  close(): Promise<void>;
}

/** The config: route `shop` on shop.example.com with a users rule, an app-version rule and a 50% rule. */
function config(state: string, stable: string, beta: string, decide: string, extraRules = ''): string {
  return [
    'listen: 127.0.0.1:0',
    'accessLog: false',
    'drain: 0s',
    'admin: { listen: 127.0.0.1:0 }',
    `state: { path: ${JSON.stringify(state)} }`,
    `decide: { listen: 127.0.0.1:0, ${decide} }`,
    'services:',
    '  web:',
    '    versions:',
    `      stable: [${stable}]`,
    `      beta: [${beta}]`,
    'routes:',
    '  - name: shop',
    '    match: { host: shop.example.com, pathPrefix: / }',
    '    service: web',
    '    identity: [header:x-user-id]',
    '    visitorCookie: { name: gl_vid, maxAge: 1d }',
    '    rules:',
    extraRules,
    '      - { name: vip, lane: beta, users: ["1001"] }',
    '      - { name: app, lane: beta, appVersion: { header: x-app-version, range: ">=2.3.0" } }',
    '      - { name: half, lane: beta, percent: 50 }',
    '  - name: trusted',
    '    match: { host: internal.example.com }',
    '    service: web',
    '    trustLane: true',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

async function setup(decide: string): Promise<Setup> {
  const dir = await tempDir();
  dirs.push(dir);
  const stable = await startUpstream('stable');
  const beta = await startUpstream('beta');
  const file = dir.file('graylane.yaml');
  writeFileSync(file, config(dir.file('state.db'), stable.url, beta.url, decide));
  const app = await startApp({ configFile: file, logger: pino({ level: 'silent' }) });
  return {
    app,
    stable,
    beta,
    file,
    async close() {
      await app.close({ drainMs: 0 });
      await stable.close();
      await beta.close();
    },
  };
}

/** One check request, raw bytes on a fresh connection; the first (and only) answer. */
async function ask(app: App, head: string[]): Promise<RawResponse> {
  const result = await raw(app.decide!.address.port, `${head.join('\r\n')}\r\n\r\n`, { responses: 1 });
  assert.equal(result.responses.length, 1, `no answer to:\n${head.join('\n')}\n---\n${result.text}`);
  return result.responses[0]!;
}

/**
 * Traefik forwardAuth (https://doc.traefik.io/traefik/middlewares/http/forwardauth/, "Forward-Request
 * Headers"): a GET to the auth address with the client's headers plus X-Forwarded-Method, -Proto,
 * -Host, -Uri and -For describing the original request.
 */
function traefikCheck(host: string, uri: string, extra: string[] = []): string[] {
  return [
    'GET / HTTP/1.1',
    'Host: 127.0.0.1:8082',
    'User-Agent: Mozilla/5.0',
    ...extra,
    'X-Forwarded-For: 203.0.113.9',
    'X-Forwarded-Host: ' + host,
    'X-Forwarded-Method: GET',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Uri: ' + uri,
    'Accept-Encoding: gzip',
  ];
}

test('traefik: users list, app version, sticky percent, spoofed lane ignored, visitor cookie; same lanes as the gateway', async () => {
  const s = await setup('proxy: traefik');
  try {
    const vip = await ask(s.app, traefikCheck('shop.example.com', '/cart?x=1', ['X-User-Id: 1001']));
    assert.equal(vip.status, 200);
    assert.equal(vip.body, '');
    assert.equal(vip.headers['content-length'], '0');
    assert.equal(vip.headers['x-gray-lane'], 'beta');
    assert.equal(vip.headers.baggage, 'graylane-lane=beta');
    assert.equal(vip.headers['set-cookie'], undefined, 'an identified user gets no visitor cookie');

    const app = await ask(s.app, traefikCheck('shop.example.com', '/', ['X-App-Version: 2.4.0.1200', 'Cookie: gl_vid=v-fixed']));
    assert.equal(app.headers['x-gray-lane'], 'beta');

    // A client asking for beta by header and baggage, on a route without trustLane: its bucket
    // decides, as in the gateway, and the answer's baggage replaces its member (other members kept).
    const lanes = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const user = `u${i}`;
      const extra = [`X-User-Id: ${user}`, 'X-Gray-Lane: beta', 'Baggage: tenant=acme,graylane-lane=beta'];
      const first = await ask(s.app, traefikCheck('shop.example.com', '/p', extra));
      const second = await ask(s.app, traefikCheck('shop.example.com', '/p', extra));
      assert.equal(second.headers['x-gray-lane'], first.headers['x-gray-lane'], `user ${user} changed lanes`);
      assert.equal(first.headers.baggage, `tenant=acme,graylane-lane=${first.headers['x-gray-lane']}`);
      lanes.set(user, first.headers['x-gray-lane']!);
    }
    const beta = [...lanes.values()].filter((l) => l === 'beta').length;
    assert.ok(beta > 5 && beta < 35, `50% rule put ${beta} of 40 users in beta`);
    // The gateway marks the same users into the same lanes: the upstream that served says which.
    for (const [user, lane] of lanes) {
      const res = await get(s.app.gateway, '/p', { host: 'shop.example.com', 'x-user-id': user, 'x-gray-lane': 'beta' });
      assert.equal(res.json<Echo>().version, lane, `user ${user}: decided ${lane}, the gateway sent it to ${res.json<Echo>().version}`);
    }

    // Anonymous: a visitor id is minted and set; with it, the next check is the same lane.
    const anon = await ask(s.app, traefikCheck('shop.example.com', '/'));
    const cookie = anon.headers['set-cookie'];
    assert.match(cookie ?? '', /^gl_vid=[0-9a-f-]{36}; Path=\/; Max-Age=86400; SameSite=Lax; HttpOnly$/);
    const id = cookie!.slice('gl_vid='.length, cookie!.indexOf(';'));
    for (let i = 0; i < 3; i++) {
      const again = await ask(s.app, traefikCheck('shop.example.com', '/', [`Cookie: gl_vid=${id}`]));
      assert.equal(again.headers['x-gray-lane'], anon.headers['x-gray-lane']);
      assert.equal(again.headers['set-cookie'], undefined);
    }

    // trustLane: the lane the request carries is the decision, as in the gateway.
    const trusted = await ask(s.app, traefikCheck('internal.example.com', '/', ['X-Gray-Lane: beta']));
    assert.equal(trusted.headers['x-gray-lane'], 'beta');
  } finally {
    await s.close();
  }
});

test('traefik: the check request\'s own Host and path are not the original request', async () => {
  const s = await setup('proxy: traefik');
  try {
    // Host: shop.example.com on the check request itself, but the original host is elsewhere.
    const head = traefikCheck('other.example.com', '/', ['X-User-Id: 1001']);
    head[1] = 'Host: shop.example.com';
    const res = await ask(s.app, head);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-gray-lane'], undefined, 'no route for other.example.com: no lane header');
    assert.equal(res.headers.baggage, undefined);
  } finally {
    await s.close();
  }
});

/**
 * nginx auth_request (https://nginx.org/en/docs/http/ngx_http_auth_request_module.html): a
 * subrequest with the client's headers, no body; the original URI comes as the location sets it
 * (`proxy_set_header X-Original-URI $request_uri;`), Host as `proxy_set_header Host $host`.
 */
test('nginx: X-Original-URI and Host; users list; two checks on one keep-alive connection', async () => {
  const s = await setup('proxy: nginx');
  try {
    const check = (user: string) =>
      ['GET /_graylane HTTP/1.1', 'Host: shop.example.com', 'X-Original-URI: /cart/../checkout?step=2', 'X-Original-Method: POST', `X-User-Id: ${user}`, 'Connection: keep-alive'].join('\r\n') + '\r\n\r\n';
    const result = await raw(s.app.decide!.address.port, check('1001') + check('42'), { responses: 2 });
    assert.equal(result.responses.length, 2);
    assert.equal(result.responses[0]!.headers['x-gray-lane'], 'beta');
    const lane42 = result.responses[1]!.headers['x-gray-lane'];
    assert.ok(lane42 === 'beta' || lane42 === 'stable');
    const res = await get(s.app.gateway, '/checkout?step=2', { host: 'shop.example.com', 'x-user-id': '42' });
    assert.equal(res.json<Echo>().version, lane42);
    // A client behind nginx sending Traefik's header: nginx passes it on; it is not read.
    const spoof = await ask(s.app, ['GET /_graylane HTTP/1.1', 'Host: other.example.com', 'X-Original-URI: /', 'X-Forwarded-Host: shop.example.com', 'X-Forwarded-Uri: /', 'X-User-Id: 1001']);
    assert.equal(spoof.headers['x-gray-lane'], undefined);
  } finally {
    await s.close();
  }
});

/**
 * ingress-nginx auth-url (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#external-authentication):
 * the generated auth location sends X-Original-URL ($scheme://$http_host$request_uri),
 * X-Original-Method, X-Sent-From, X-Real-IP, X-Auth-Request-Redirect, with Host set to the auth
 * service's host, plus the client's headers.
 */
test('ingress-nginx: X-Original-URL carries host and target; app-version rule', async () => {
  const s = await setup('proxy: ingress-nginx');
  try {
    const res = await ask(s.app, [
      'GET /decide HTTP/1.1',
      'Host: graylane.graylane.svc.cluster.local',
      'X-Original-URL: https://shop.example.com/app/home?tab=1',
      'X-Original-Method: GET',
      'X-Sent-From: nginx-ingress-controller',
      'X-Real-IP: 203.0.113.9',
      'X-Forwarded-For: 203.0.113.9',
      'X-Auth-Request-Redirect: /app/home?tab=1',
      'X-App-Version: 2.3.0',
      'X-User-Id: 7',
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-gray-lane'], 'beta');
    const old = await ask(s.app, ['GET /decide HTTP/1.1', 'Host: graylane', 'X-Original-URL: https://shop.example.com/', 'X-App-Version: 2.2.9', 'X-User-Id: 1001']);
    assert.equal(old.headers['x-gray-lane'], 'beta', 'the users rule still marks 1001');
  } finally {
    await s.close();
  }
});

/**
 * Envoy ext_authz, HTTP service
 * (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto#extensions-filters-http-ext-authz-v3-httpservice):
 * the check request has the original method, the original path with `path_prefix` in front, the
 * original Host, Content-Length 0, and only the headers allowed_headers lets through.
 */
test('envoy: the check request is the original, with path_prefix; noRoute deny', async () => {
  const s = await setup('proxy: envoy, pathPrefix: /graylane, noRoute: deny');
  try {
    const res = await ask(s.app, ['POST /graylane/orders?id=9 HTTP/1.1', 'Host: shop.example.com', 'Content-Length: 0', 'X-User-Id: 1001', 'X-Envoy-Expected-Rq-Timeout-Ms: 200', 'X-Forwarded-Proto: http', 'X-Request-Id: 2d8f']);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-gray-lane'], 'beta');
    const none = await ask(s.app, ['GET /graylane/ HTTP/1.1', 'Host: other.example.com', 'Content-Length: 0']);
    assert.equal(none.status, 403);
    assert.equal(none.headers['x-gray-lane'], undefined);
    const outside = await ask(s.app, ['GET /orders HTTP/1.1', 'Host: shop.example.com', 'Content-Length: 0']);
    assert.equal(outside.status, 400);
    assert.match(outside.body, /does not start with decide.pathPrefix \/graylane\//);
  } finally {
    await s.close();
  }
});

/**
 * APISIX forward-auth (https://apisix.apache.org/docs/apisix/plugins/forward-auth/): a GET (default
 * request_method) with X-Forwarded-Proto, -Method, -Host, -Uri (normalised, with the query), -For,
 * plus only the client headers listed in request_headers.
 */
test('apisix: X-Forwarded-Host/Uri; no route passes without a lane header; a reload changes the answer', async () => {
  const s = await setup('proxy: apisix');
  try {
    const check = (host: string, user: string) => [
      'GET /decide HTTP/1.1',
      'Host: 127.0.0.1:8082',
      'X-Forwarded-Proto: http',
      'X-Forwarded-Method: GET',
      `X-Forwarded-Host: ${host}`,
      'X-Forwarded-Uri: /shop?q=1',
      'X-Forwarded-For: 127.0.0.1',
      `X-User-Id: ${user}`,
    ];
    const none = await ask(s.app, check('unknown.example.com', '1001'));
    assert.equal(none.status, 200);
    assert.equal(none.headers['x-gray-lane'], undefined);
    assert.equal(none.body, '');

    // One user the 50% rule puts in stable and one it puts in beta.
    const laneOf = async (user: string) => (await ask(s.app, check('shop.example.com', user))).headers['x-gray-lane'];
    let inStable: string | undefined;
    let inBeta: string | undefined;
    for (let i = 0; i < 64 && (inStable === undefined || inBeta === undefined); i++) {
      const lane = await laneOf(`r${i}`);
      if (lane === 'stable') inStable ??= `r${i}`;
      else if (lane === 'beta') inBeta ??= `r${i}`;
    }
    assert.ok(inStable !== undefined && inBeta !== undefined, 'the 50% rule put 64 users all in one lane');

    // Reload: the stable user joins the users list and the percent drops to 0: both answers flip.
    const text = readFileSync(s.file, 'utf8');
    writeFileSync(s.file, text.replace('users: ["1001"]', `users: ["1001", "${inStable}"]`).replace('percent: 50', 'percent: 0'));
    await until('the rule\'s users list to take the stable user', () => s.app.gateway.snapshot().spec.routes[0]!.rules[0]!.users!.includes(inStable!), 10_000);
    assert.equal(await laneOf(inStable), 'beta');
    assert.equal(await laneOf(inBeta), 'stable');
  } finally {
    await s.close();
  }
});

test('what cannot be rebuilt is 400 with the reason; repeated headers are refused', async () => {
  const s = await setup('proxy: traefik');
  try {
    const missing = await ask(s.app, ['GET / HTTP/1.1', 'Host: x', 'X-Original-URI: /']);
    assert.equal(missing.status, 400);
    assert.match(missing.body, /X-Forwarded-Uri is missing: decide.proxy is traefik/);
    const twice = await ask(s.app, traefikCheck('shop.example.com', '/a', ['X-Forwarded-Uri: /b']));
    assert.equal(twice.status, 400);
    assert.match(twice.body, /more than one X-Forwarded-Uri/);
    const bad = await ask(s.app, traefikCheck('shop.example.com', '/a%2f..%2fadmin'));
    assert.equal(bad.status, 400);
    assert.match(bad.body, /dot segment/);
  } finally {
    await s.close();
  }
});

/**
 * Check requests with a body, each followed by a second check on the same keep-alive connection:
 * the body is discarded, never read as the next request.
 * - APISIX forward-auth with `request_method: POST` sends the client's body along
 *   (https://apisix.apache.org/docs/apisix/plugins/forward-auth/, "request_method").
 * - Envoy ext_authz with `with_request_body` buffers the body and sends it with the check request
 *   (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto,
 *   "with_request_body"), with the Content-Length of what it sends.
 */
test('apisix POST and envoy with_request_body: the body is skipped, the next check on the connection is answered', async () => {
  const apisix = await setup('proxy: apisix');
  try {
    const body = '{"items":[1,2,3]}\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const post = [
      'POST /decide HTTP/1.1',
      'Host: 127.0.0.1:8082',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Method: POST',
      'X-Forwarded-Host: shop.example.com',
      'X-Forwarded-Uri: /orders?x=1',
      'X-Forwarded-For: 203.0.113.9',
      'X-User-Id: 1001',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
    ].join('\r\n');
    const next = ['GET /decide HTTP/1.1', 'Host: 127.0.0.1:8082', 'X-Forwarded-Host: shop.example.com', 'X-Forwarded-Uri: /', 'X-App-Version: 2.3.1'].join('\r\n');
    const r = await raw(apisix.app.decide!.address.port, `${post}\r\n\r\n${body}${next}\r\n\r\n`, { responses: 2 });
    assert.equal(r.responses.length, 2, r.text);
    assert.equal(r.responses[0]!.headers['x-gray-lane'], 'beta');
    assert.equal(r.responses[1]!.status, 200);
    assert.equal(r.responses[1]!.headers['x-gray-lane'], 'beta', 'the app-version rule, not a request smuggled in the body');
  } finally {
    await apisix.close();
  }
  const envoy = await setup('proxy: envoy, pathPrefix: /graylane');
  try {
    const body = 'a=1&b=2';
    const first = ['PUT /graylane/cart?id=3 HTTP/1.1', 'Host: shop.example.com', `Content-Length: ${body.length}`, 'X-User-Id: 1001', 'X-Request-Id: 7f1c', 'X-Envoy-Expected-Rq-Timeout-Ms: 250'].join('\r\n');
    const second = ['GET /graylane/ HTTP/1.1', 'Host: shop.example.com', 'Content-Length: 0', 'X-App-Version: 1.0.0'].join('\r\n');
    const r = await raw(envoy.app.decide!.address.port, `${first}\r\n\r\n${body}${second}\r\n\r\n`, { responses: 2 });
    assert.equal(r.responses.length, 2, r.text);
    assert.equal(r.responses[0]!.headers['x-gray-lane'], 'beta');
    assert.equal(r.responses[1]!.status, 200);
    assert.ok(['stable', 'beta'].includes(r.responses[1]!.headers['x-gray-lane']!), 'anonymous: the 50% rule with a minted visitor id');
    assert.match(r.responses[1]!.headers['set-cookie'] ?? '', /^gl_vid=/);
  } finally {
    await envoy.close();
  }
});
