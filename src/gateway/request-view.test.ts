import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostOf, requestView } from './request-view.js';

test('host is lower-cased without its port', () => {
  assert.equal(hostOf('Prod.Example.COM:8080'), 'prod.example.com');
  assert.equal(hostOf('prod.example.com'), 'prod.example.com');
  assert.equal(hostOf('[::1]:8080'), '[::1]');
  assert.equal(hostOf(undefined), '');
});

test('path and query are split without decoding (checkRequest normalised the target)', () => {
  const v = requestView('/a%2Fb/c?uid=7&x=%20', { host: 'h' });
  assert.equal(v.path, '/a%2Fb/c');
  assert.equal(v.query, 'uid=7&x=%20');
  assert.equal(requestView('/p', {}).query, '');
  assert.equal(requestView('/p?', {}).query, '');
});

test('a trailing dot is the same host, with or without a port', () => {
  assert.equal(hostOf('prod.example.com.'), 'prod.example.com');
  assert.equal(hostOf('Prod.Example.com.:8080'), 'prod.example.com');
  assert.equal(hostOf('.'), '.');
});

test('the path routes match has no ;parameters; the query is split off first', () => {
  const v = requestView('/internal;x=1/x?a=;b', { host: 'h' });
  assert.equal(v.path, '/internal/x');
  assert.equal(v.query, 'a=;b');
});
