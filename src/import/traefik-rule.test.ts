import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRule, RuleSyntaxError } from './traefik-rule.js';

test('host and path prefix', () => {
  assert.deepEqual(parseRule('Host(`A.example.com`) && PathPrefix(`/api`)'), [
    { host: 'a.example.com', pathPrefix: '/api', conditions: [], unsupported: [] },
  ]);
});

test('|| and v2 multi-value matchers become alternatives', () => {
  const alts = parseRule('(Host(`a.com`) || Host("b.com")) && Path(`/x`, `/y`)');
  assert.deepEqual(
    alts.map((a) => [a.host, a.path]),
    [
      ['a.com', '/x'],
      ['a.com', '/y'],
      ['b.com', '/x'],
      ['b.com', '/y'],
    ],
  );
});

test('header, query and path-regexp conditions, v2 and v3 forms', () => {
  const [alt] = parseRule('Host(`a.com`) && Headers(`X-Canary`, `true`) && Query(`beta=1`)');
  assert.deepEqual(alt!.conditions, [
    { kind: 'header', name: 'x-canary', equals: 'true' },
    { kind: 'query', name: 'beta', equals: '1' },
  ]);
  const [v3] = parseRule('Header(`X-Env`, `qa`) && QueryRegexp(`v`, `^2`) && PathRegexp(`^/api/v[0-9]+`)');
  assert.deepEqual(v3!.conditions, [
    { kind: 'header', name: 'x-env', equals: 'qa' },
    { kind: 'query', name: 'v', pattern: '^2' },
    { kind: 'path', name: '', pattern: '^/api/v[0-9]+' },
  ]);
  assert.deepEqual(parseRule('Query(`debug`)')[0]!.conditions, [{ kind: 'query', name: 'debug', present: true }]);
});

test('what graylane cannot express is named, as written', () => {
  assert.deepEqual(parseRule('Host(`a.com`) && Method(`POST`)')[0]!.unsupported, ['Method(`POST`)']);
  assert.deepEqual(parseRule('Host(`a.com`) && !PathPrefix(`/admin`)')[0]!.unsupported, ['!PathPrefix(`/admin`)']);
  assert.deepEqual(parseRule('Host(`a.com`) && Host(`b.com`)')[0]!.unsupported, ['Host(`b.com`)']);
  assert.deepEqual(parseRule('HostRegexp(`{sub:[a-z]+}.a.com`)')[0]!.unsupported, ['HostRegexp(`{sub:[a-z]+}.a.com`)']);
});

test('negation is pushed down with De Morgan', () => {
  const alts = parseRule('!(Method(`GET`) && ClientIP(`10.0.0.0/8`))');
  assert.deepEqual(
    alts.map((a) => a.unsupported),
    [['!Method(`GET`)'], ['!ClientIP(`10.0.0.0/8`)']],
  );
});

test('syntax errors say where', () => {
  assert.throws(() => parseRule('Host(`a.com`'), (e: unknown) => e instanceof RuleSyntaxError && /expected "\)"/.test(e.message));
  assert.throws(() => parseRule('Host(a.com)'), (e: unknown) => e instanceof RuleSyntaxError && e.position === 5);
  assert.throws(() => parseRule('Host(`a`) Host(`b`)'), RuleSyntaxError);
});
