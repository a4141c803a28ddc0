import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { DEFAULT_LIMITS } from '../spec/sections/gateway.js';
import { checkRequest, chunkedCodings, normalizeTarget } from './request-guard.js';

test('paths without dot segments, repeated slashes, % or \\ are returned as the same string', () => {
  for (const url of ['/', '/a/b', '/a/b/?x=/../y', '/.well-known/x', '/a.b/c..d/...', '/a?b=%2e%2e']) {
    assert.equal(normalizeTarget(url), url, url);
  }
});

test('dot segments (also %2e-encoded) are removed, .. stopping at the root, and slashes merged; the query is kept', () => {
  const cases: [string, string][] = [
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2e/admin?q=/../x', '/admin?q=/../x'],
    ['/public/.%2e/admin', '/admin'],
    ['/a/./b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['//admin', '/admin'],
    ['/a//b///c/', '/a/b/c/'],
    ['/a/%2e', '/a/'],
    ['/%2e%2e/x', '/x'],
  ];
  for (const [url, want] of cases) assert.equal(normalizeTarget(url), want, url);
});

test('encoded slashes pass unchanged unless they hide a dot segment; a backslash is refused', () => {
  assert.equal(normalizeTarget('/projects/group%2Fname'), '/projects/group%2Fname');
  assert.equal(normalizeTarget('/a%20b'), '/a%20b');
  for (const url of ['/public%2f..%2fadmin', '/public/..%2fadmin', '/public/%2e%2e%5cadmin', '/a/%2e%2F', '/public\\..\\admin', '/a\\b']) {
    assert.equal(normalizeTarget(url), null, url);
  }
});

function req(rawHeaders: string[], httpVersionMajor = 1): IncomingMessage {
  return { rawHeaders, httpVersionMajor } as unknown as IncomingMessage;
}

test('checkRequest refuses long targets (414), too many fields (431), a second Host (400) and HTTP/0.9 or 2.0 request lines (505)', () => {
  const limits = { ...DEFAULT_LIMITS, maxUrlBytes: 10, maxHeaders: 2 };
  assert.equal(checkRequest(req(['Host', 'a']), '/123456789', limits) as unknown, '/123456789');
  assert.equal((checkRequest(req(['Host', 'a']), '/1234567890', limits) as { code: string }).code, 'uri_too_long');
  assert.equal((checkRequest(req(['Host', 'a', 'x', '1', 'y', '2']), '/', limits) as { code: string }).code, 'headers_too_large');
  assert.equal((checkRequest(req(['Host', 'a', 'HOST', 'b']), '/', limits) as { code: string }).code, 'bad_request');
  assert.equal(checkRequest(req(['Host', 'a', 'x', '1']), '/a/../b', limits), '/b');
  assert.equal((checkRequest(req(['Host', 'a'], 2), '/', limits) as { code: string }).code, 'version_not_supported');
  assert.equal((checkRequest(req([], 0), '/', limits) as { code: string }).code, 'version_not_supported');
});

test('Transfer-Encoding: chunked alone passes; another coding is 501, chunked twice 400, both closing the connection', () => {
  for (const te of [['chunked'], ['CHUNKED'], [' Chunked '], [',chunked'], ['', 'chunked']]) {
    const raw = ['Host', 'a', ...te.flatMap((v) => ['Transfer-Encoding', v])];
    assert.equal(checkRequest(req(raw), '/', DEFAULT_LIMITS), '/', JSON.stringify(te));
  }
  for (const te of [['gzip, chunked'], ['identity, chunked'], ['gzip', 'chunked'], ['x-custom,chunked'], ['chunked, gzip']]) {
    const raw = ['Host', 'a', ...te.flatMap((v) => ['transfer-encoding', v])];
    const r = checkRequest(req(raw), '/', DEFAULT_LIMITS) as { code: string; close?: boolean };
    assert.equal(r.code, 'not_implemented', JSON.stringify(te));
    assert.equal(r.close, true);
  }
  for (const te of [['chunked, chunked'], ['chunked', 'chunked']]) {
    const raw = ['Host', 'a', ...te.flatMap((v) => ['Transfer-Encoding', v])];
    const r = checkRequest(req(raw), '/', DEFAULT_LIMITS) as { code: string; close?: boolean };
    assert.equal(r.code, 'bad_request', JSON.stringify(te));
    assert.equal(r.close, true);
  }
  assert.equal(chunkedCodings('chunked, , chunked'), 2);
  assert.equal(chunkedCodings('gzip'), -1);
});

test('checkRequest refuses a Host with an empty label; a trailing dot and a port pass', () => {
  for (const host of ['prod.example.com', 'prod.example.com.', 'prod.example.com.:8080', '[::1]:8080', 'a:..']) {
    assert.equal(checkRequest(req(['Host', host]), '/', DEFAULT_LIMITS), '/', host);
  }
  for (const host of ['prod..example.com', 'prod.example.com..', '.prod.example.com', '.', '..:8080']) {
    const r = checkRequest(req(['Host', host]), '/', DEFAULT_LIMITS) as { code: string; reason: string };
    assert.equal(r.code, 'bad_request', host);
    assert.match(r.reason, /empty label/);
  }
});
