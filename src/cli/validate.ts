import { ConfigError, loadSpecFile } from '../spec/index.js';

/** `graylane validate FILE...`: the same checks (and messages) as a reload; exit 1 on any problem. */
export async function validateCommand(files: string[]): Promise<void> {
  let failed = false;
  for (const file of files) {
    try {
      const spec = await loadSpecFile(file);
      const services = Object.keys(spec.services).length;
      console.log(`ok: ${file} (${services} service${services === 1 ? '' : 's'}, ${spec.routes.length} route${spec.routes.length === 1 ? '' : 's'})`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      failed = true;
      console.error(err.message);
    }
  }
  if (failed) process.exitCode = 1;
}
