/**
 * `graylane export <format> -c graylane.yaml`: the config in another system's terms, with every
 * rule that system cannot express named in a warning (stderr and the output's header comment).
 * Formats: gateway-api (src/export/gateway-api.ts).
 */
import { writeFile } from 'node:fs/promises';
import { exportGatewayApi } from '../export/gateway-api.js';
import { ConfigError, loadSpecFile } from '../spec/index.js';

export const EXPORT_FORMATS = ['gateway-api'] as const;

export interface ExportCommandOptions {
  config: string;
  output?: string;
  namespace?: string;
  gateway?: string;
}

export async function exportCommand(format: (typeof EXPORT_FORMATS)[number], opts: ExportCommandOptions): Promise<void> {
  let spec;
  try {
    spec = await loadSpecFile(opts.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exitCode = 1;
    return;
  }
  const { yaml, warnings } = exportGatewayApi(spec, { ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.gateway ? { gateway: opts.gateway } : {}) });
  for (const w of warnings) console.error(`warning: ${opts.config}: ${w.path}: ${w.message}`);
  if (opts.output !== undefined) await writeFile(opts.output, yaml);
  else process.stdout.write(yaml);
  void format;
}
