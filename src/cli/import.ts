import { writeFile, rename } from 'node:fs/promises';
import { expandPaths, formatFinding, importConfigs, ImportError, type ImportSource } from '../import/index.js';
import { compile } from '../routing/index.js';
import type { Snapshot } from '../routing/types.js';
import { ConfigError, parseSpec } from '../spec/index.js';
import { summarizeConfig, summarizeWarnings } from '../import/summary.js';

interface ImportCommandOptions {
  from: ImportSource;
  endpoints: string[];
  output?: string;
  check?: boolean;
  recursive?: boolean;
}

/**
 * `graylane import PATH...`: other systems' canary configs -> graylane config on stdout or `-o FILE`.
 * Warnings (what did not map) go to stderr; malformed input prints every issue, writes nothing, exit 1.
 * The output is checked as `graylane validate` checks a file before anything is written; `--check`
 * prints a summary of it (services, routes, rollouts, then the warnings) on stdout instead of writing it.
 */
export async function importCommand(paths: string[], opts: ImportCommandOptions): Promise<void> {
  const endpoints: Record<string, string> = {};
  for (const pair of opts.endpoints) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--endpoints "${pair}": expected NAME=URL or NAMESPACE/NAME=URL`);
    endpoints[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  let result;
  try {
    result = importConfigs(await expandPaths(paths, { recursive: opts.recursive ?? false }), { from: opts.from, endpoints });
  } catch (err) {
    if (!(err instanceof ImportError)) throw err;
    console.error(err.message);
    process.exitCode = 1;
    return;
  }
  // --check lists the warnings after the summary; otherwise they go to stderr, beside the output.
  if (!opts.check) for (const w of result.warnings) console.error(`warning: ${formatFinding(w)}`);
  // What a gateway would do with it: a converter bug must not hand the user a file graylane refuses.
  const target = opts.output ?? '<stdout>';
  let snapshot: Snapshot;
  try {
    snapshot = compile(parseSpec(result.yaml, target));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (opts.check) for (const w of result.warnings) console.error(`warning: ${formatFinding(w)}`);
    console.error(`graylane import produced a config that does not validate (a bug of the importer; please report it with the input):\n${err.message}`);
    console.error('nothing was written');
    process.exitCode = 1;
    return;
  }
  if (opts.check) {
    process.stdout.write(summarizeConfig(snapshot) + summarizeWarnings(result.warnings));
    console.error(`check: would write ${result.yaml.split('\n').length} lines to ${target}; ${result.warnings.length} warning(s); nothing written`);
    return;
  }
  if (opts.output === undefined) {
    process.stdout.write(result.yaml);
    return;
  }
  // Write-then-rename: a reader (or a watching gateway) never sees half a file.
  await writeFile(`${opts.output}.tmp`, result.yaml);
  await rename(`${opts.output}.tmp`, opts.output);
  console.error(`wrote ${opts.output}`);
}
