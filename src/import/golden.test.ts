/**
 * Golden tests: every input under test/fixtures/import/<source>/ is imported and compared with its
 * `<name>.expected.yaml`, and the output must load with the real loader (parseSpec) and rollout
 * model. `UPDATE_GOLDEN=1 node scripts/test.mjs import/golden` rewrites the expected files (review
 * the diff before committing it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { importConfigs } from './index.js';
import { loadImported } from '../../test/support/import.js';

const root = new URL('../../../test/fixtures/import/', import.meta.url);
const INPUT = /\.(ya?ml|toml|json)$/;

for (const source of readdirSync(root).sort()) {
  for (const name of readdirSync(new URL(`${source}/`, root)).sort()) {
    if (!INPUT.test(name) || name.includes('.expected.')) continue;
    const label = `${source}/${name}`;
    test(`golden: ${label}`, () => {
      const text = readFileSync(new URL(label, root), 'utf8');
      const { yaml, warnings } = importConfigs([{ file: label, text }]);
      const expectedUrl = new URL(`${source}/${name.replace(INPUT, '')}.expected.yaml`, root);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(expectedUrl, yaml);
      assert.ok(existsSync(expectedUrl), `missing ${expectedUrl.pathname} (run with UPDATE_GOLDEN=1)`);
      assert.equal(yaml, readFileSync(expectedUrl, 'utf8'));
      // Every warning is also written into the header comment of the output.
      for (const w of warnings) assert.ok(yaml.includes(w.message), `warning missing from the output: ${w.message}`);
      const loaded = loadImported(yaml, label);
      assert.ok(loaded.spec.routes.length + loaded.rollouts.length > 0, 'the import produced neither routes nor rollouts');
    });
  }
}
