/**
 * Builtin provider: the gateway's own per-version traffic counters (window.ts), no Prometheus needed.
 * Result: one number (`result < 0.01`). Fewer than `minRequests` requests in the window is
 * Inconclusive: there is not enough traffic to judge, which is not the same as healthy.
 */
import type { ProviderOutcome } from '../analysis.js';
import type { ProviderSpec } from '../../spec/rollout-model.js';
import type { MetricsSource } from '../../traffic/index.js';
import { errorMessage, type MeasureContext, type MetricProvider } from './types.js';

type BuiltinSpec = Extract<ProviderSpec, { kind: 'builtin' }>;

export function builtinProvider(spec: BuiltinSpec, metrics: MetricsSource): MetricProvider {
  return {
    kind: 'builtin',
    async measure(ctx: MeasureContext): Promise<ProviderOutcome> {
      const r = ctx.rollout;
      const service = spec.service ?? r.service;
      const version = spec.version === 'canary' ? r.canary : spec.version === 'stable' ? r.stable : spec.version;
      let w;
      try {
        w = await metrics.window(service, version, spec.windowMs);
      } catch (e) {
        return { kind: 'error', message: `metrics of ${service}/${version}: ${errorMessage(e)}` };
      }
      const value = valueOf(spec.metric, w);
      if (w.requests < spec.minRequests) {
        return { kind: 'inconclusive', value, message: `${w.requests} requests to ${service}/${version} in the window, need ${spec.minRequests}` };
      }
      return { kind: 'value', value, message: `${w.requests} requests, ${w.errors} errors` };
    },
  };
}

function valueOf(metric: BuiltinSpec['metric'], w: { requests: number; errors: number; p50: number; p90: number; p99: number }): number {
  switch (metric) {
    case 'requests':
      return w.requests;
    case 'errors':
      return w.errors;
    case 'errorRate':
      return w.requests === 0 ? Number.NaN : w.errors / w.requests;
    case 'successRate':
      return w.requests === 0 ? Number.NaN : 1 - w.errors / w.requests;
    case 'p50':
    case 'p90':
    case 'p99':
      return w[metric];
  }
}
