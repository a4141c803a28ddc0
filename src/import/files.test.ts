import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths } from './files.js';

test('files as named, directories by config extension in name order, subdirectories on request', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'graylane-import-'));
  try {
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, '.hidden'));
    for (const [name, text] of [
      ['b.yaml', 'b'],
      ['a.toml', 'a'],
      ['c.json', 'c'],
      ['notes.txt', 'skip'],
      ['.x.yaml', 'skip'],
      ['sub/d.yml', 'd'],
      ['.hidden/e.yaml', 'skip'],
      ['plain', 'p'],
    ]) {
      await writeFile(join(dir, name!), text!);
    }
    const flat = await expandPaths([dir, join(dir, 'plain')]);
    assert.deepEqual(flat.map((i) => [i.file.slice(dir.length + 1), i.text]), [['a.toml', 'a'], ['b.yaml', 'b'], ['c.json', 'c'], ['plain', 'p']]);
    const deep = await expandPaths([dir], { recursive: true });
    assert.deepEqual(deep.map((i) => i.file.slice(dir.length + 1)), ['a.toml', 'b.yaml', 'c.json', 'sub/d.yml']);
    await assert.rejects(expandPaths([join(dir, 'missing.yaml')]), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
