import { certificateIssues } from '../app/listeners.js';
import { configHash } from '../routing/index.js';
import { ConfigError, readSpecFile, type Spec } from '../spec/index.js';
import { readYaml } from '../spec/yaml-source.js';

/**
 * `graylane validate FILE...` (or `-c FILE`): the same checks (and messages) as a reload, and the
 * certificate files of TLS listeners checked as `serve` checks them at start; exit 1 on any problem.
 * Nothing is started.
 */
export async function validateCommand(files: string[], opts: { config?: string[] } = {}): Promise<void> {
  const all = [...(opts.config ?? []), ...files];
  if (all.length === 0) throw new Error('graylane validate: name a config file (graylane validate FILE, or -c FILE)');
  let failed = false;
  for (const file of all) {
    try {
      const spec = await validateFile(file);
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

/** The spec of a valid file whose certificates can serve; else a ConfigError with every issue, at its line. */
async function validateFile(file: string): Promise<Spec> {
  const { spec, text } = await readSpecFile(file);
  const issues = await certificateIssues(spec);
  if (issues.length > 0) {
    const source = readYaml(text, file);
    throw new ConfigError(issues.map((i) => source.locate(i)));
  }
  return spec;
}
