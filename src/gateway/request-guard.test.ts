import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { DEFAULT_LIMITS } from '../spec/sections/gateway.js';
import { checkRequest, checkTarget, chunkedCodings } from './request-guard.js';

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

test('checkRequest refuses a Host with an empty label; a trailing dot and a port pass', () => {
  for (const host of ['prod.example.com', 'prod.example.com.', 'prod.example.com.:8080', '[::1]:8080']) {
    assert.equal(checkRequest(req(['Host', host]), '/', DEFAULT_LIMITS), '/', host);
  }
  // Dots after the colon are no empty label, but no port either.
  assert.match((checkRequest(req(['Host', 'a:..']), '/', DEFAULT_LIMITS) as { reason: string }).reason, /not host\[:port\]/);
  for (const host of ['prod..example.com', 'prod.example.com..', '.prod.example.com', '.', '..:8080']) {
    const r = checkRequest(req(['Host', host]), '/', DEFAULT_LIMITS) as { code: string; reason: string };
    assert.equal(r.code, 'bad_request', host);
    assert.match(r.reason, /empty label/);
  }
});

test('checkRequest and checkTarget refuse an empty host; an empty port and an IP literal pass', () => {
  for (const host of [':80', ':', '', '[]', '[]:80']) {
    for (const r of [checkRequest(req(['Host', host]), '/', DEFAULT_LIMITS), checkTarget(host, '/')] as { code: string; reason: string }[]) {
      assert.equal(r.code, 'bad_request', host);
      assert.match(r.reason, /names no host/, host);
    }
  }
  for (const host of ['example.com:', '[::1]:80', '[::1]', 'a:8080']) {
    assert.equal(checkRequest(req(['Host', host]), '/', DEFAULT_LIMITS), '/', host);
    assert.equal(checkTarget(host, '/'), '/', host);
  }
  assert.equal(checkTarget(undefined, '/'), '/', 'no Host (HTTP/1.0): nothing to check');
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

test('checkRequest refuses an ambiguous path with the reason naming what is wrong', () => {
  const r = checkRequest(req(['Host', 'a']), '/a%zz', DEFAULT_LIMITS) as { code: string; reason: string };
  assert.equal(r.code, 'bad_request');
  assert.match(r.reason, /% not followed by two hex digits/);
  assert.equal(checkRequest(req(['Host', 'a']), '/%69nternal', DEFAULT_LIMITS), '/internal');
});
