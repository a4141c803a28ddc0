/** Picks the provider of a template. */
import type { ProviderSpec } from '../../spec/rollout-model.js';
import type { MetricsSource } from '../../traffic/index.js';
import { builtinProvider, compareProvider } from './builtin.js';
import { jobProvider } from './job.js';
import { prometheusProvider } from './prometheus.js';
import type { MetricProvider } from './types.js';
import { webProvider } from './web.js';

export interface ProviderDeps {
  /** Traffic counters for builtin analysis; without them builtin measurements are errors. */
  metrics?: MetricsSource;
}

export function providerFor(spec: ProviderSpec, deps: ProviderDeps): MetricProvider {
  switch (spec.kind) {
    case 'builtin':
      return builtinProvider(spec, deps.metrics ?? NO_METRICS);
    case 'compare':
      return compareProvider(spec, deps.metrics ?? NO_METRICS);
    case 'prometheus':
      return prometheusProvider(spec);
    case 'web':
      return webProvider(spec);
    case 'job':
      return jobProvider(spec);
  }
}

const NO_METRICS: MetricsSource = {
  window() {
    throw new Error('no traffic metrics source is configured for builtin analysis');
  },
};

export type { MetricProvider, MeasureContext } from './types.js';
export { expandVars } from './types.js';
