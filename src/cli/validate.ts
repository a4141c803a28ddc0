import { configHash } from '../routing/index.js';
import { ConfigError, loadSpecFile } from '../spec/index.js';

/** `graylane validate FILE...`: the same checks (and messages) as a reload; exit 1 on any problem. */
export async function validateCommand(files: string[]): Promise<void> {
  let failed = false;
  for (const file of files) {
    try {
      const spec = await loadSpecFile(file);
      const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
      const rollouts = spec.rollouts?.length ?? 0;
      const parts = [count(Object.keys(spec.services).length, 'service'), count(spec.routes.length, 'route')];
      if (rollouts > 0) parts.push(count(rollouts, 'rollout'));
      console.log(`ok: ${file} (${parts.join(', ')}; config hash ${configHash(spec)})`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      failed = true;
      console.error(err.message);
    }
  }
  if (failed) process.exitCode = 1;
}
