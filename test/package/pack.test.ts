/**
 * What `npm pack` would publish: the built code, schema, examples and docs, and no test code (the
 * unit tests beside the code, the etcd harness, the store conformance suite, fixtures, test
 * support). Runs `npm pack --dry-run --json` on the repository as built (dist/ as it is: a file
 * left there by an old build would be published too, so it counts), with scripts off so `prepare`
 * does not rebuild.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Paths that are test code wherever they sit. */
const TEST_CODE = [/\.test\.[cm]?[jt]s/, /(^|\/)test\//, /harness/, /conformance/, /\.fixture\./, /test-support/, /test-fixtures/];

async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, timeout: 120_000, maxBuffer: 64 << 20 });
  const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
  return pack!.files.map((f) => f.path);
}

test('npm pack lists no test code, and every entry point package.json names', async () => {
  const files = await packedFiles();
  assert.ok(files.includes('dist/src/cli/main.js'), 'the built CLI is packed (run the build first)');

  const testCode = files.filter((f) => TEST_CODE.some((re) => re.test(f)));
  assert.deepEqual(testCode, [], 'test code in the package (a leftover of an old build? remove dist/ and build again)');

  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { bin: Record<string, string>; exports: Record<string, string> };
  for (const target of [...Object.values(pkg.bin), ...Object.values(pkg.exports)]) {
    assert.ok(files.includes(target.replace(/^\.\//, '')), `package.json names ${target}, which is not in the package`);
  }
});
