/** Temporary directories for the tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  /** `name` inside the directory. */
  file(name: string): string;
  remove(): Promise<void>;
}

/** A fresh directory under the OS temp dir, so tests never share or leave files in the tree; remove() deletes it. */
export async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), 'graylane-test-'));
  return { path, file: (name) => join(path, name), remove: () => rm(path, { recursive: true, force: true }) };
}
