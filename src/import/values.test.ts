import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SCHEMA_FILE } from '../spec/index.js';
import { k8sServiceProblem, valueProblem, VALUE_FORMS } from './values.js';

/** Every { pattern, errorMessage } pair in the schema. */
function schemaForms(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const n of node) schemaForms(n, out);
  else if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (typeof o.pattern === 'string' && typeof o.errorMessage === 'string') out.add(`${o.pattern}\n${o.errorMessage}`);
    for (const v of Object.values(o)) schemaForms(v, out);
  }
  return out;
}

test('the forms checked on import are the schema\'s, pattern and message', () => {
  const forms = schemaForms(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')), new Set());
  for (const [kind, f] of Object.entries(VALUE_FORMS)) {
    assert.ok(forms.has(`${f.pattern}\n${f.message}`), `${kind}: pattern ${f.pattern} with message "${f.message}" is not in the schema`);
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
