import { rename, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EXPORTERS, ExportError } from '../export/index.js';
import { ConfigError, loadSpecFile } from '../spec/index.js';
import { fileKind } from '../spec/config-file.js';

/** The format names `graylane export` accepts. */
export const EXPORT_FORMATS = Object.keys(EXPORTERS);

interface ExportCommandOptions {
  config: string;
  output?: string;
  listen?: string;
  cacheDir?: string;
  lua?: boolean;
  reportTokenFile?: string;
  namespace?: string;
  gateway?: string;
}

/**
 * `graylane export FORMAT -c FILE [-o OUT]`: the config another system needs to work with this
 * graylane config (nginx: the decide-mode side, docs/integrations.md; gateway-api: HTTPRoutes,
 * docs/migrating.md). Warnings (what the output
 * leaves out) go to stderr; what the format cannot express is an error naming the config key, and
 * nothing is written.
 */
export async function exportCommand(format: string, opts: ExportCommandOptions): Promise<void> {
  const exporter = EXPORTERS[format];
  if (exporter === undefined) throw new Error(`export ${format}: unknown format; known: ${EXPORT_FORMATS.join(', ')}`);
  let result;
  try {
    const reportTokenFile = opts.reportTokenFile === undefined ? undefined : await checkTokenFile(opts.reportTokenFile);
    const spec = await loadSpecFile(opts.config);
    result = exporter(spec, {
      source: opts.config,
      ...(opts.listen ? { listen: opts.listen } : {}),
      ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
      ...(opts.lua ? { lua: true } : {}),
      ...(reportTokenFile ? { reportTokenFile } : {}),
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      ...(opts.gateway ? { gateway: opts.gateway } : {}),
    });
  } catch (err) {
    if (!(err instanceof ConfigError) && !(err instanceof ExportError) && !(err instanceof TokenFileError)) throw err;
    if (err instanceof ExportError) console.error(`${opts.config}: ${format} cannot express:\n${err.issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}`);
    else console.error(err.message);
    console.error('nothing was written');
    process.exitCode = 1;
    return;
  }
  for (const w of result.warnings) console.error(`warning: ${opts.config}: ${w.key}: ${w.message}`);
  if (opts.output === undefined) {
    process.stdout.write(result.text);
    return;
  }
  // Write-then-rename: a proxy reloading meanwhile never reads half a file.
  await writeFile(`${opts.output}.tmp`, result.text);
  await rename(`${opts.output}.tmp`, opts.output);
  console.error(`wrote ${opts.output}`);
}

class TokenFileError extends Error {}

/**
 * --report-token-file as nginx will open it: absolute (nginx would resolve a relative path against
 * its own working directory, not this one), and, when it is already there, a regular file (nginx's
 * io.open of a FIFO waits for a writer for ever, so nginx never starts). A path not there yet, or
 * not readable by this user (nginx's master reads it as root), is left to nginx's own error at load.
 */
async function checkTokenFile(path: string): Promise<string> {
  const absolute = resolve(path);
  const st = await stat(absolute).catch(() => undefined);
  const kind = st === undefined ? 'file' : fileKind(st);
  if (kind !== 'file') throw new TokenFileError(`--report-token-file ${absolute}: is ${kind}, not a regular file (nginx reads the report token from it)`);
  return absolute;
}
