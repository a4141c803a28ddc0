import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { DecideProxy } from '../spec/types.js';
import { originalRequest, type CheckProblem } from './original-request.js';
import type { RequestView } from '../routing/types.js';

/** A check request as Node would hand it over: raw pairs, and the lower-cased object built from them. */
function check(url: string, raw: string[]): { url: string; headers: IncomingHttpHeaders; rawHeaders: string[] } {
  const headers: IncomingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const prev = headers[name];
    headers[name] = prev === undefined ? raw[i + 1]! : `${String(prev)}, ${raw[i + 1]!}`;
  }
  return { url, headers, rawHeaders: raw };
}

function decide(proxy: DecideProxy, url: string, raw: string[], pathPrefix = ''): RequestView | CheckProblem {
  return originalRequest({ proxy, pathPrefix, maxUrlBytes: 100 }, check(url, raw));
}

function view(r: RequestView | CheckProblem): RequestView {
  if ('problem' in r) assert.fail(`expected a view, got problem: ${r.problem}`);
  return r;
}

function problem(r: RequestView | CheckProblem): string {
  if (!('problem' in r)) assert.fail(`expected a problem, got ${JSON.stringify(r)}`);
  return r.problem;
}

test('traefik: host and target from X-Forwarded-Host/Uri, not from the check request', () => {
  const v = view(decide('traefik', '/', ['Host', 'graylane:8082', 'X-Forwarded-Method', 'GET', 'X-Forwarded-Proto', 'https',
    'X-Forwarded-Host', 'Shop.Example.com:443', 'X-Forwarded-Uri', '/cart/../checkout?uid=7', 'X-User-Id', '1001']));
  assert.equal(v.host, 'shop.example.com');
  assert.equal(v.path, '/checkout');
  assert.equal(v.query, 'uid=7');
  assert.equal(v.headers.get('x-user-id'), '1001');
});

test('apisix reads the same X-Forwarded-* headers as traefik', () => {
  const v = view(decide('apisix', '/auth', ['X-Forwarded-Host', 'shop.example.com', 'X-Forwarded-Uri', '/a%62c']));
  assert.deepEqual([v.host, v.path, v.query], ['shop.example.com', '/abc', '']);
});

test('nginx: target from X-Original-URI, host from Host', () => {
  const v = view(decide('nginx', '/_graylane', ['Host', 'shop.example.com', 'X-Original-URI', '/api/x;jsessionid=1?v=2']));
  assert.deepEqual([v.host, v.path, v.query], ['shop.example.com', '/api/x', 'v=2']);
});

test('ingress-nginx: host and target from the absolute X-Original-URL', () => {
  const headers = ['Host', 'graylane.svc', 'X-Original-URL', 'https://Shop.example.com:8443/p/q?x=1', 'X-Original-Method', 'POST'];
  const v = view(decide('ingress-nginx', '/', headers));
  assert.deepEqual([v.host, v.path, v.query], ['shop.example.com', '/p/q', 'x=1']);
  assert.deepEqual([view(decide('ingress-nginx', '/', ['X-Original-URL', 'http://h']))].map((x) => [x.host, x.path]), [['h', '/']]);
  assert.equal(view(decide('ingress-nginx', '/', ['X-Original-URL', 'http://h?x=1'])).query, 'x=1');
  assert.match(problem(decide('ingress-nginx', '/', ['X-Original-URL', '/p'])), /absolute URL/);
  assert.match(problem(decide('ingress-nginx', '/', ['X-Original-URL', 'http://u@h/p'])), /user information/);
});

test('envoy: the check request is the original, path_prefix removed', () => {
  const v = view(decide('envoy', '/graylane/cart?uid=7', ['Host', 'shop.example.com'], '/graylane'));
  assert.deepEqual([v.host, v.path, v.query], ['shop.example.com', '/cart', 'uid=7']);
  assert.equal(view(decide('envoy', '/cart', ['Host', 'h'])).path, '/cart');
  assert.match(problem(decide('envoy', '/graylaneX/cart', ['Host', 'h'], '/graylane')), /does not start with decide.pathPrefix/);
  assert.match(problem(decide('envoy', '/cart', ['Host', 'h'], '/graylane')), /pathPrefix/);
});

test('the configured proxy decides which headers count: another proxy\'s headers are ignored', () => {
  // A client behind nginx sends Traefik's header: nginx passes it on, graylane must not read it.
  const v = view(decide('nginx', '/_graylane', ['Host', 'shop.example.com', 'X-Original-URI', '/public', 'X-Forwarded-Uri', '/admin']));
  assert.equal(v.path, '/public');
  assert.match(problem(decide('traefik', '/', ['X-Original-URI', '/public'])), /X-Forwarded-Uri is missing: decide.proxy is traefik/);
});

test('a header read twice is refused: Node would join or drop one, and the proxy routes one of them', () => {
  assert.match(problem(decide('traefik', '/', ['X-Forwarded-Uri', '/a', 'x-forwarded-uri', '/b'])), /more than one X-Forwarded-Uri/);
  assert.match(problem(decide('traefik', '/', ['X-Forwarded-Uri', '/a', 'X-Forwarded-Host', 'a', 'X-Forwarded-Host', 'b'])), /X-Forwarded-Host/);
  assert.match(problem(decide('nginx', '/', ['Host', 'a', 'Host', 'b', 'X-Original-URI', '/'])), /more than one Host/);
  assert.match(problem(decide('envoy', '/', ['Host', 'a', 'host', 'b'])), /more than one Host/);
});

test('what the gateway refuses is refused: bad paths, long targets, empty host labels, non-origin targets', () => {
  assert.match(problem(decide('nginx', '/', ['Host', 'h', 'X-Original-URI', '/a%2f..%2fadmin'])), /dot segment/);
  assert.match(problem(decide('nginx', '/', ['Host', 'h', 'X-Original-URI', '/a\\b'])), /backslash/);
  assert.match(problem(decide('nginx', '/', ['Host', 'h', 'X-Original-URI', `/${'a'.repeat(100)}`])), /maxUrlBytes/);
  assert.match(problem(decide('traefik', '/', ['X-Forwarded-Host', 'a..b', 'X-Forwarded-Uri', '/'])), /empty label/);
  assert.match(problem(decide('traefik', '/', ['X-Forwarded-Host', ':80', 'X-Forwarded-Uri', '/'])), /names no host/);
  assert.match(problem(decide('nginx', '/', ['Host', '[]', 'X-Original-URI', '/'])), /names no host/);
  assert.match(problem(decide('traefik', '/', ['X-Forwarded-Uri', 'http://evil/x'])), /must start with \//);
  assert.match(problem(decide('nginx', '/', ['Host', 'h', 'X-Original-URI', '*'])), /must start with \//);
});

test('a missing host is the empty host (only host-less routes match)', () => {
  assert.equal(view(decide('traefik', '/', ['X-Forwarded-Uri', '/x'])).host, '');
});
