/** The `mesh` key of the config: off when absent, defaults, and problems reported like any other key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseSpec } from '../../src/spec/index.js';

const BASE = 'services:\n  a:\n    versions:\n      stable: [http://127.0.0.1:9001]\nroutes: []\n';

function issues(yaml: string): string[] {
  try {
    parseSpec(yaml, 'gl.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => `${i.line}:${i.column} ${i.path} ${i.code}`);
  }
  return [];
}

test('mesh is off without the key, and on with its default address with `mesh: {}`', () => {
  assert.equal('mesh' in parseSpec(BASE, 'gl.yaml'), false);
  assert.deepEqual(parseSpec(`${BASE}mesh: {}\n`, 'gl.yaml').mesh, { listen: '127.0.0.1:8081' });
  assert.deepEqual(parseSpec(`${BASE}mesh: { listen: "10.0.0.5:9081" }\n`, 'gl.yaml').mesh, { listen: '10.0.0.5:9081' });
});

test('a bad mesh listen address or an unknown key is reported with its line', () => {
  assert.deepEqual(issues(`${BASE}mesh: { listen: "127.0.0.1:99999" }\n`), ['6:17 mesh.listen bad-listen']);
  assert.deepEqual(issues(`${BASE}mesh: { listen: "nope" }\n`), ['6:17 mesh.listen bad-listen']);
  assert.deepEqual(issues(`${BASE}mesh: { lisen: "127.0.0.1:8081" }\n`), ['6:9 mesh.lisen unknown-key']);
  assert.deepEqual(issues(`${BASE}mesh: true\n`).length, 1);
});
