import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from './index.js';

const BASE = 'services: {}\nroutes: []\n';

test('a document nested thousands deep is a ConfigError, not a stack overflow past the loader', () => {
  const deep = [
    `x: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
    `x: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}\n`,
    `x:\n${Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i + 1)}-`).join('\n')} 1\n`,
  ];
  for (const text of deep) {
    assert.throws(
      () => parseSpec(`${BASE}${text}`, 'deep.yaml'),
      // The YAML parser's own recursion may give up first ("Maximum call stack size exceeded", at
      // the line it reached), which the loader turns into an issue too: a ConfigError either way.
      (err: unknown) =>
        err instanceof ConfigError && (/nested more than 64 levels deep/.test(err.message) ? err.issues[0]!.line === 3 : /call stack/.test(err.message)),
    );
  }
});

test('ordinary nesting is far below the limit', () => {
  assert.doesNotThrow(() => parseSpec(`${BASE}`, 'ok.yaml'));
  assert.throws(() => parseSpec(`${BASE}x: ${'['.repeat(60)}${']'.repeat(60)}\n`, 'ok.yaml'), (err: unknown) => err instanceof ConfigError && !/nested/.test(err.message));
});
