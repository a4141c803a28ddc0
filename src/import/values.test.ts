import { test } from 'node:test';
import assert from 'node:assert/strict';
import { k8sServiceProblem, valueForms, valueProblem } from './values.js';

test('every form is found in the schema, with its message', () => {
  for (const [kind, f] of Object.entries(valueForms())) {
    assert.ok(f.re instanceof RegExp && f.message.startsWith('must be '), `${kind}: ${String(f.re)} "${f.message}"`);
  }
});

test('valueProblem and k8sServiceProblem', () => {
  assert.equal(valueProblem('host', '*.example.com'), undefined);
  assert.equal(valueProblem('host', 'a.com:80'), 'must be a host name without port (prod.example.com) or a wildcard (*.example.com), got "a.com:80"');
  assert.equal(valueProblem('path', '/a/b'), undefined);
  assert.match(valueProblem('path', 'a') ?? '', /starting with '\/'/);
  assert.match(valueProblem('headerName', 'X Y') ?? '', /HTTP header name/);
  assert.match(valueProblem('headerValue', 'a\nb') ?? '', /without line breaks/);
  assert.match(valueProblem('endpoint', 'http://u:p@h') ?? '', /no query, fragment or credentials/);
  assert.equal(k8sServiceProblem('shop', 'web-v2', 8080), undefined);
  assert.match(k8sServiceProblem('shop', 'a/b', 80) ?? '', /not a Kubernetes Service name/);
  assert.match(k8sServiceProblem('Shop', 'web', 80) ?? '', /not a Kubernetes namespace name/);
  assert.match(k8sServiceProblem('shop', 'web', 0) ?? '', /not a port number/);
});
