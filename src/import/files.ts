/**
 * The I/O edge of `graylane import`: command-line paths (files and directories) -> inputs for
 * importConfigs. A file named on the command line is read whatever its name; a directory contributes
 * its `.yaml`, `.yml`, `.toml` and `.json` files in name order (subdirectories with `recursive`).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readConfigText } from '../spec/config-file.js';
import type { ImportInput } from './documents.js';

const CONFIG_FILE = /\.(ya?ml|toml|json)$/i;

export interface ExpandOptions {
  /** Also read subdirectories of directories (like `kubectl apply -R`); default false. */
  recursive?: boolean;
}

/**
 * Reads every file named by `paths` and every config file in the directories among them.
 *
 * @throws the fs error (ENOENT...) of a path that cannot be read; a ConfigFileError for a path that
 *   is no regular file or directory (a FIFO, a device: never a read that does not end) or too large
 * @example
 * const inputs = await expandPaths(['k8s/ingress.yaml', 'traefik/'], { recursive: true });
 * const { yaml } = importConfigs(inputs);
 */
export async function expandPaths(paths: readonly string[], opts: ExpandOptions = {}): Promise<ImportInput[]> {
  const inputs: ImportInput[] = [];
  for (const path of paths) {
    if ((await stat(path)).isDirectory()) {
      for (const file of await configFiles(path, opts.recursive ?? false)) inputs.push({ file, text: await readConfigText(file) });
    } else {
      inputs.push({ file: path, text: await readConfigText(path) });
    }
  }
  return inputs;
}

async function configFiles(dir: string, recursive: boolean): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive) files.push(...(await configFiles(path, true)));
    } else if (entry.isFile() && CONFIG_FILE.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}
