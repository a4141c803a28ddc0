/**
 * Builtin provider: the gateway's own per-version traffic counters (window.ts), no Prometheus needed.
 * Result: one number (`result < 0.01`). Fewer than `minRequests` requests in the window is
 * Inconclusive: there is not enough traffic to judge, which is not the same as healthy.
 *
 * The window never reaches back before the attempt started (MeasureContext.since): a retry is
 * judged only on its own traffic.
 *
 * `compare` reads the canary and stable over the same window, counting only requests marking drew
 * at random (split, percent), and gives its own verdict (compare.ts). Its value is the comparison's
 * numbers, for `rollout get`, the dashboard and events.
 */
import type { ProviderOutcome } from '../analysis.js';
import type { ProviderSpec } from '../../spec/rollout-model.js';
import type { MetricsSource } from '../../traffic/index.js';
import { compareVersions } from '../compare.js';
import { errorMessage, type MeasureContext, type MetricProvider } from './types.js';

type BuiltinSpec = Extract<ProviderSpec, { kind: 'builtin' }>;
type CompareSpec = Extract<ProviderSpec, { kind: 'compare' }>;

export function builtinProvider(spec: BuiltinSpec, metrics: MetricsSource): MetricProvider {
  return {
    kind: 'builtin',
    async measure(ctx: MeasureContext): Promise<ProviderOutcome> {
      const r = ctx.rollout;
      const service = spec.service ?? r.service;
      const version = spec.version === 'canary' ? r.canary : spec.version === 'stable' ? r.stable : spec.version;
      let w;
      try {
        w = await metrics.window(service, version, spec.windowMs, ctx.since);
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

export function compareProvider(spec: CompareSpec, metrics: MetricsSource): MetricProvider {
  return {
    kind: 'compare',
    async measure(ctx: MeasureContext): Promise<ProviderOutcome> {
      const r = ctx.rollout;
      const service = spec.service ?? r.service;
      if (metrics.chanceSample === undefined) {
        return { kind: 'error', message: 'builtin compare needs the counts of one gateway process; this one has workers or runs clustered' };
      }
      let canary;
      let stable;
      try {
        // Both read now, so both cover the same window.
        [canary, stable] = await Promise.all([
          metrics.chanceSample(service, r.canary, spec.windowMs, ctx.since),
          metrics.chanceSample(service, r.stable, spec.windowMs, ctx.since),
        ]);
      } catch (e) {
        return { kind: 'error', message: `metrics of ${service}: ${errorMessage(e)}` };
      }
      const c = compareVersions(canary, stable, spec);
      const value = comparisonValue(c);
      if (c.verdict === 'Inconclusive') return { kind: 'inconclusive', value, message: c.message };
      return { kind: 'value', value, verdict: c.verdict, message: c.message };
    },
  };
}

/** The numbers of a comparison as a measurement keeps them (small, JSON). */
function comparisonValue(c: ReturnType<typeof compareVersions>): Record<string, unknown> {
  const v: Record<string, unknown> = { verdict: c.verdict, canary: c.canary, stable: c.stable, alphaPerCheck: c.alphaPerCheck };
  if (c.errorRate) {
    const e = c.errorRate;
    v['errorRate'] = { test: e.test, pValue: e.pValue, canary: e.canaryRate, stable: e.stableRate, effect: e.effect, worse: e.worse };
  }
  if (c.latency) {
    const l = c.latency;
    v['latency'] = {
      test: l.test,
      pValue: l.pValue,
      quantile: l.quantile,
      canaryMs: l.canaryMs,
      stableMs: l.stableMs,
      effectMs: l.effectMs,
      probabilitySlower: l.probabilitySlower,
      worse: l.worse,
    };
  }
  return v;
}
