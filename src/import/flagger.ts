/**
 * Flagger `Canary` (flagger.app/v1beta1) -> a graylane rollout with its analysis templates.
 *
 * Flagger runs a canary of `targetRef` behind two Services it creates, `<service>-primary` (stable)
 * and `<service>-canary`, and every `analysis.interval` checks the metrics and webhooks, moves the
 * weight by `stepWeight` (or along `stepWeights`) up to `maxWeight`, and rolls back after
 * `threshold` failed checks. Here:
 * - the service: the graylane service an imported route already sends `<service>-primary` to (a
 *   Gateway API HTTPRoute Flagger drives), else one made from the two Services;
 * - steps: `setWeight w` then `pause: { duration: interval }` per weight, then promotion;
 *   A/B testing (`iterations` with `match`) becomes `setHeaderRoute` and one pause of
 *   `iterations * interval`, blue/green (`iterations` alone) one pause of that length;
 * - the builtin metrics `request-success-rate` and `request-duration` become `builtin` templates
 *   (successRate >= min/100, p99 <= max ms) measured every `interval` by the background analysis,
 *   with `failureLimit` threshold - 1 (Flagger rolls back at `threshold` failures);
 * - `rollout` webhooks (load tests, acceptance checks called every interval) become `web`
 *   templates (a non-2xx answer is a measurement error); other webhook types, custom metrics
 *   (`templateRef`), alerts and the rest are warned.
 */
import type { Path } from '../spec/paths.js';
import { k8sMeta, list, rec, text, toName, type ImportContext, type OutStep, type OutTemplate } from './config.js';
import type { SourceDoc } from './documents.js';

export function isFlagger(data: Record<string, unknown>): boolean {
  return data.kind === 'Canary' && typeof data.apiVersion === 'string' && data.apiVersion.startsWith('flagger.app/');
}

export function importFlagger(docs: readonly SourceDoc[], ctx: ImportContext): void {
  for (const doc of docs) importCanary(doc, ctx);
}

const DURATION = /^\d+(ms|s|m|h)$/;

function importCanary(doc: SourceDoc, ctx: ImportContext): void {
  const data = rec(doc.data);
  const { name, namespace } = k8sMeta(data);
  ctx.noteSource(doc, 'flagger');
  const spec = rec(data.spec);
  const target = text(rec(spec.targetRef).name);
  if (target === undefined) {
    ctx.error(doc, ['spec', 'targetRef', 'name'], 'a Canary needs targetRef.name');
    return;
  }
  const svcSpec = rec(spec.service);
  const svcName = text(svcSpec.name) ?? target;
  const port = typeof svcSpec.port === 'number' ? svcSpec.port : undefined;
  for (const key of Object.keys(spec)) {
    if (!['targetRef', 'service', 'analysis', 'skipAnalysis'].includes(key)) {
      ctx.warn(doc, ['spec', key], `spec.${key} is not imported: graylane has no equivalent`);
    }
  }
  if (spec.skipAnalysis === true) ctx.warn(doc, ['spec', 'skipAnalysis'], 'skipAnalysis: imported with its analysis; promote by hand to skip it (graylane rollout promote --full)');

  // The service and its two versions: reuse what an imported route made of the two Services.
  const primary = ctx.k8sServices.get(`${namespace}/${svcName}-primary`);
  const canaryEntry = ctx.k8sServices.get(`${namespace}/${svcName}-canary`);
  let service: string;
  let stable: string;
  let canary: string;
  if (primary !== undefined) {
    service = primary.service;
    stable = primary.version;
    const svc = ctx.services.get(service)!;
    if (canaryEntry !== undefined && canaryEntry.service === service) canary = canaryEntry.version;
    else {
      canary = ctx.uniqueName('canary', (n) => Object.hasOwn(svc.versions, n));
      svc.versions[canary] = ctx.k8sEndpoints(doc, ['spec', 'service'], namespace, `${svcName}-canary`, port);
    }
    if (svc.fallback !== stable) ctx.warn(doc, ['spec', 'service'], `the route's fallback is ${svc.fallback}, not ${svcName}-primary: graylane's rollout needs stable to be the fallback (check the imported route)`);
  } else {
    const claimed = ctx.claimService(`flagger:${namespace}/${svcName}`, svcName);
    service = claimed.name;
    stable = 'stable';
    canary = 'canary';
    claimed.service.versions.stable = ctx.k8sEndpoints(doc, ['spec', 'service'], namespace, `${svcName}-primary`, port);
    claimed.service.versions.canary = ctx.k8sEndpoints(doc, ['spec', 'service'], namespace, `${svcName}-canary`, port);
    ctx.warn(doc, ['spec', 'service'], `no imported route sends traffic to ${svcName}-primary: service ${service} was made with no route (add one, or import the HTTPRoute or Ingress too)`);
  }

  const analysis = rec(spec.analysis);
  const at = (key: string): Path => ['spec', 'analysis', key];
  const interval = text(analysis.interval) ?? '1m';
  if (!DURATION.test(interval)) ctx.error(doc, at('interval'), `must be a duration such as 30s or 1m, got ${JSON.stringify(interval)}`);
  for (const key of Object.keys(analysis)) {
    if (!['interval', 'threshold', 'maxWeight', 'stepWeight', 'stepWeights', 'iterations', 'match', 'metrics', 'webhooks', 'stepWeightPromotion'].includes(key)) {
      ctx.warn(doc, at(key), `analysis.${key} is not imported: graylane has no equivalent`);
    }
  }
  const threshold = typeof analysis.threshold === 'number' && analysis.threshold >= 1 ? analysis.threshold : 1;

  // Steps.
  const steps: OutStep[] = [];
  const iterations = typeof analysis.iterations === 'number' ? analysis.iterations : undefined;
  if (iterations !== undefined) {
    const match = list(analysis.match);
    const total = `${Number(interval.replace(/\D+$/, '')) * iterations}${interval.replace(/^\d+/, '')}`;
    if (match.length > 0) {
      const headers = rec(rec(match[0]).headers);
      const [headerName, cond] = Object.entries(headers)[0] ?? [];
      const c = rec(cond);
      if (headerName !== undefined && (text(c.exact) !== undefined || text(c.regex) !== undefined)) {
        steps.push({ setHeaderRoute: { header: { name: headerName.toLowerCase(), ...(text(c.exact) !== undefined ? { equals: text(c.exact)! } : { pattern: text(c.regex)! }) } } });
      } else ctx.warn(doc, at('match'), 'only a header match with exact or regex is imported (setHeaderRoute)');
      if (match.length > 1 || Object.keys(headers).length > 1) ctx.warn(doc, at('match'), 'setHeaderRoute takes one header: only the first is imported');
    }
    steps.push({ pause: { duration: total } });
  } else {
    const weights: number[] = [];
    if (analysis.stepWeights !== undefined) {
      for (const w of list(analysis.stepWeights)) if (typeof w === 'number') weights.push(w);
    } else {
      const step = typeof analysis.stepWeight === 'number' ? analysis.stepWeight : 10;
      const max = typeof analysis.maxWeight === 'number' ? analysis.maxWeight : 50;
      for (let w = step; w <= max && weights.length < 100; w += step) weights.push(w);
    }
    for (const w of weights) steps.push({ setWeight: w }, { pause: { duration: interval } });
    if (analysis.stepWeightPromotion !== undefined) ctx.warn(doc, at('stepWeightPromotion'), 'promotion is one switch in graylane: stepWeightPromotion is not imported');
  }
  steps.push({ setWeight: 100 });

  // Analysis templates from metrics and rollout webhooks.
  const templates: string[] = [];
  const addTemplate = (base: string, t: OutTemplate): void => {
    const tname = ctx.uniqueName(toName(`${name}.${base}`), (n) => ctx.templates.has(n));
    ctx.templates.set(tname, t);
    templates.push(tname);
  };
  list(analysis.metrics).forEach((raw, i) => {
    const m = rec(raw);
    const mat: Path = ['spec', 'analysis', 'metrics', i];
    const mname = text(m.name) ?? `metric-${i}`;
    const range = rec(m.thresholdRange);
    const every = text(m.interval) ?? interval;
    const common = { interval: every, failureLimit: threshold - 1 };
    if (m.templateRef !== undefined) {
      ctx.warn(doc, mat, `metric ${mname}: a MetricTemplate (templateRef) is not read by graylane import; write its query as a prometheus analysis template (docs/rollouts.md#prometheus)`);
    } else if (mname === 'request-success-rate' && typeof range.min === 'number') {
      addTemplate('success-rate', { ...common, successCondition: `result >= ${range.min / 100}`, provider: { builtin: { metric: 'successRate', version: 'canary', window: every } } });
    } else if (mname === 'request-duration' && typeof range.max === 'number') {
      addTemplate('duration', { ...common, successCondition: `result <= ${range.max}`, provider: { builtin: { metric: 'p99', version: 'canary', window: every } } });
    } else {
      ctx.warn(doc, mat, `metric ${mname} is not imported: graylane's builtin metrics cover request-success-rate (min) and request-duration (max)`);
    }
  });
  list(analysis.webhooks).forEach((raw, i) => {
    const w = rec(raw);
    const wat: Path = ['spec', 'analysis', 'webhooks', i];
    const type = text(w.type) ?? 'rollout';
    const url = text(w.url);
    if (type !== 'rollout' || url === undefined) {
      ctx.warn(doc, wat, `webhook ${text(w.name) ?? i} of type ${type} is not imported: graylane's canary rollouts run analysis, not ${type} hooks (blue-green rollouts have preRollout / postPromotion hooks)`);
      return;
    }
    addTemplate(text(w.name) ?? `webhook-${i}`, {
      interval,
      failureLimit: threshold - 1,
      provider: { web: { url, method: 'POST', body: JSON.stringify({ name, namespace, phase: 'Progressing', metadata: rec(w.metadata) }), ...(text(w.timeout) ? { timeout: text(w.timeout) } : {}) } },
    });
    ctx.warn(doc, wat, `webhook ${text(w.name) ?? i}: imported as a web analysis template; a non-2xx answer is a measurement error (consecutiveErrorLimit), where Flagger counts a failed check`);
  });

  ctx.rollouts.push({
    name: ctx.uniqueName(toName(name), (n) => ctx.rollouts.some((r) => r.name === n)),
    service,
    stable,
    canary,
    strategy: { canary: { steps, ...(templates.length > 0 ? { analysis: { templates } } : {}) } },
  });
}
