/**
 * Test support for the importers: loads an imported config with the real loader (parseSpec, the
 * path `graylane validate` and a reload take, rollouts and analysis templates included), failing on
 * any issue. Not used by production code.
 */
import type { AnalysisTemplate, RolloutSpec } from '../../src/spec/rollout-model.js';
import { parseSpec } from '../../src/spec/index.js';
import type { Spec } from '../../src/spec/types.js';

export interface LoadedImport {
  spec: Spec;
  rollouts: readonly RolloutSpec[];
  templates: Readonly<Record<string, AnalysisTemplate>>;
}

/** Loads `yamlText` as graylane would; throws the ConfigError listing every issue found. */
export function loadImported(yamlText: string, file = 'imported.yaml'): LoadedImport {
  const spec = parseSpec(yamlText, file);
  return { spec, rollouts: spec.rollouts ?? [], templates: spec.analysisTemplates ?? {} };
}
