/**
 * Test support for the importers: loads an imported config with the real loader, and its rollout
 * part with the rollout model, failing on any issue. Not used by production code.
 *
 * While the loader's schema does not yet know `rollouts` / `analysisTemplates` (they are modelled in
 * src/rollout/model.ts), those two keys are checked by normalizeRollouts + checkRolloutRefs and the
 * rest by parseSpec; once parseSpec accepts them, it checks the whole file.
 */
import { parse } from 'yaml';
import { checkRolloutRefs, normalizeRollouts, type AnalysisTemplate, type RolloutSpec } from '../rollout/model.js';
import { ConfigError, parseSpec } from '../spec/index.js';
import type { Spec } from '../spec/types.js';

const ROLLOUT_KEYS = ['rollouts', 'analysisTemplates'];

export interface LoadedImport {
  spec: Spec;
  rollouts: RolloutSpec[];
  templates: Record<string, AnalysisTemplate>;
}

/** Loads `yamlText` as graylane would; throws with every issue found. */
export function loadImported(yamlText: string, file = 'imported.yaml'): LoadedImport {
  let spec: Spec;
  try {
    spec = parseSpec(yamlText, file);
  } catch (err) {
    const rolloutKeysOnly =
      err instanceof ConfigError && err.issues.every((i) => i.code === 'unknown-key' && ROLLOUT_KEYS.includes(i.path));
    if (!rolloutKeysOnly) throw err;
    const data = parse(yamlText) as Record<string, unknown>;
    for (const key of ROLLOUT_KEYS) delete data[key];
    spec = parseSpec(JSON.stringify(data), file);
  }
  const data = parse(yamlText) as unknown;
  const at = (): { line: number; column: number } => ({ line: 0, column: 0 });
  const { rollouts, templates, issues } = normalizeRollouts(data, at);
  issues.push(...checkRolloutRefs(rollouts, spec.services, at));
  if (issues.length > 0) throw new Error(`${file}: rollout issues:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
  return { spec, rollouts, templates };
}
