/**
 * Argo Rollouts (argoproj.io/v1alpha1 Rollout, AnalysisTemplate, ClusterAnalysisTemplate) ->
 * graylane rollouts and analysis templates.
 *
 * - The rollout's service is the graylane service of `stableService` (the one an imported Ingress
 *   made, when the Rollout's nginx `stableIngress` is among the inputs); `canaryService` becomes its
 *   version `canary`. Blue-green: `activeService` and version `preview` from `previewService`.
 * - Steps: setWeight, pause (with and without duration), analysis and setHeaderRoute map one to one;
 *   setMirrorRoute (the warning says which share of which requests is not mirrored, over which steps),
 *   setCanaryScale, experiment and plugin steps are warned about.
 * - An AnalysisTemplate with several metrics becomes one graylane template per metric
 *   (`<template>.<metric>`); `{{args.x}}` placeholders are filled from the Rollout's args. Providers:
 *   prometheus, web and job (its container's command, run locally); any other provider, or a
 *   condition graylane's expression language cannot read, drops the template, and an analysis step
 *   that needed it becomes a pause for a person to judge instead (never an unchecked step).
 * - nginx `additionalIngressAnnotations` (canary-by-header...) become a canary on the service's routes.
 */
import { compileExpr, ExprError } from '../spec/expr.js';
import { JsonPathError, parseJsonPath } from '../spec/json-path.js';
import type { Path } from '../spec/paths.js';
import {
  k8sMeta,
  list,
  rec,
  text,
  toName,
  type ImportContext,
  type OutCanary,
  type OutRollout,
  type OutStep,
  type OutTemplate,
} from './config.js';
import type { SourceDoc } from './documents.js';
import { addVersion, durationValue, headerMatch, percentValue, routesOf, serviceForK8s, siblingEndpoints } from './rollout-target.js';
import { valueProblem } from './values.js';

export function isArgo(data: Record<string, unknown>): boolean {
  return data.apiVersion === 'argoproj.io/v1alpha1';
}

interface ArgoTemplate {
  doc: SourceDoc;
  name: string;
  spec: Record<string, unknown>;
  used: boolean;
}

/** A template reference of a Rollout, with the arguments to fill in. */
interface TemplateUse {
  doc: SourceDoc;
  at: Path;
  namespace: string;
  refs: Record<string, unknown>[];
  args: Record<string, unknown>[];
}

export function importArgo(docs: readonly SourceDoc[], ctx: ImportContext): void {
  const templates = new Map<string, ArgoTemplate>();
  const rollouts: SourceDoc[] = [];
  for (const doc of docs) {
    ctx.noteSource(doc, 'argo');
    const data = rec(doc.data);
    const { name, namespace } = k8sMeta(data);
    if (data.kind === 'AnalysisTemplate') templates.set(`${namespace}/${name}`, { doc, name, spec: rec(data.spec), used: false });
    else if (data.kind === 'ClusterAnalysisTemplate') templates.set(`cluster/${name}`, { doc, name, spec: rec(data.spec), used: false });
    else if (data.kind === 'Rollout') rollouts.push(doc);
    else ctx.warn(doc, ['kind'], `${String(data.kind)} is not imported (graylane imports Rollout, AnalysisTemplate and ClusterAnalysisTemplate)`);
  }
  for (const doc of rollouts) importRollout(doc, ctx, templates);
  for (const t of templates.values()) {
    if (!t.used) ctx.warn(t.doc, [], `analysis template ${t.name} is used by no imported Rollout: not imported`);
  }
}

function importRollout(doc: SourceDoc, ctx: ImportContext, templates: Map<string, ArgoTemplate>): void {
  const data = rec(doc.data);
  const { name, namespace } = k8sMeta(data);
  const strategy = rec(rec(data.spec).strategy);
  const blueGreen = strategy.blueGreen !== undefined;
  const s = rec(blueGreen ? strategy.blueGreen : strategy.canary);
  const at: Path = ['spec', 'strategy', blueGreen ? 'blueGreen' : 'canary'];
  if (strategy.blueGreen === undefined && strategy.canary === undefined) {
    ctx.error(doc, ['spec', 'strategy'], 'needs canary or blueGreen');
    return;
  }
  const analysis = new Analysis(ctx, templates, name);

  const stableKey = blueGreen ? 'activeService' : 'stableService';
  const newKey = blueGreen ? 'previewService' : 'canaryService';
  let stableService = text(s[stableKey]);
  if (stableService === undefined) {
    if (blueGreen) {
      ctx.error(doc, [...at, stableKey], 'a blue-green Rollout needs activeService');
      return;
    }
    stableService = name;
    ctx.warn(doc, at, `no stableService (a canary by replica counts): the Service is taken to be named ${name}`);
  }
  const target = serviceForK8s(ctx, doc, [...at, stableKey], namespace, stableService);
  const lane = blueGreen ? 'preview' : 'canary';
  const newService = text(s[newKey]);
  if (newService === undefined) {
    ctx.warn(doc, [...at, newKey], `no ${newKey}: version ${lane} of service ${target.service} has no static endpoints (register them in lane ${lane} at run time, or set them)`);
    addVersion(ctx, target, lane, []);
  } else {
    addVersion(ctx, target, lane, siblingEndpoints(ctx, doc, [...at, newKey], target, namespace, newService));
  }

  if (!blueGreen) trafficRouting(ctx, doc, [...at, 'trafficRouting'], rec(s.trafficRouting), namespace, target.service);

  let strategyOut: OutRollout['strategy'];
  if (blueGreen) {
    const bg: Record<string, unknown> = { previewWeight: 0, autoPromotionEnabled: s.autoPromotionEnabled !== false };
    if (s.autoPromotionSeconds !== undefined) {
      const d = durationValue(s.autoPromotionSeconds);
      if (d === undefined) ctx.error(doc, [...at, 'autoPromotionSeconds'], `must be a number of seconds, got ${JSON.stringify(s.autoPromotionSeconds)}`);
      else bg.autoPromotionDelay = d;
    }
    if (s.prePromotionAnalysis !== undefined) {
      const pre = rec(s.prePromotionAnalysis);
      const names = analysis.use({ doc, at: [...at, 'prePromotionAnalysis'], namespace, refs: list(pre.templates).map(rec), args: list(pre.args).map(rec) });
      if (names) bg.prePromotionAnalysis = { templates: names };
      else {
        bg.autoPromotionEnabled = false;
        ctx.warn(doc, [...at, 'prePromotionAnalysis'], 'the pre-promotion analysis is not imported: promotion waits for a person instead (autoPromotionEnabled: false)');
      }
    }
    for (const key of ['postPromotionAnalysis', 'scaleDownDelaySeconds', 'previewReplicaCount', 'antiAffinity', 'abortScaleDownDelaySeconds', 'previewMetadata', 'activeMetadata']) {
      if (s[key] !== undefined) ctx.warn(doc, [...at, key], `${key} is not imported`);
    }
    strategyOut = { blueGreen: bg };
  } else {
    const read = readSteps(ctx, doc, [...at, 'steps'], list(s.steps).map(rec), namespace, analysis);
    if (read === undefined) return;
    const { steps, sourceIndex } = read;
    if (steps.length === 0) {
      ctx.warn(doc, [...at, 'steps'], 'no steps that graylane can run: the rollout is not imported');
      return;
    }
    const canary: { steps: OutStep[]; analysis?: { templates: string[]; startingStep?: number } } = { steps };
    if (s.analysis !== undefined) {
      const bg = rec(s.analysis);
      const names = analysis.use({ doc, at: [...at, 'analysis'], namespace, refs: list(bg.templates).map(rec), args: list(bg.args).map(rec) });
      if (names) {
        canary.analysis = { templates: names };
        if (typeof bg.startingStep === 'number') canary.analysis.startingStep = stepIndex(sourceIndex, bg.startingStep);
      } else {
        ctx.warn(doc, [...at, 'analysis'], 'the background analysis is not imported (see the warnings on its templates)');
      }
    }
    for (const key of ['maxSurge', 'maxUnavailable', 'canaryMetadata', 'stableMetadata', 'antiAffinity', 'dynamicStableScale', 'abortScaleDownDelaySeconds', 'scaleDownDelaySeconds', 'minPodsPerReplicaSet', 'pingPong']) {
      if (s[key] !== undefined) ctx.warn(doc, [...at, key], `${key} is not imported: graylane moves traffic, not pods`);
    }
    strategyOut = { canary };
  }
  if (ctx.rollouts.some((r) => r.service === target.service)) {
    ctx.warn(doc, [], `service ${target.service} already has a rollout (graylane runs one rollout per service): not imported`);
    return;
  }
  ctx.rollouts.push({
    name: ctx.uniqueName(toName(name), (n) => ctx.rollouts.some((r) => r.name === n)),
    service: target.service,
    stable: target.stable,
    canary: lane,
    // spec.paused: true means the same in both (wait for resume); false is both defaults.
    ...(rec(data.spec).paused === true ? { paused: true as const } : {}),
    strategy: strategyOut,
  });
}

/** Where Argo step `i` landed among the graylane steps (steps not imported shift the rest). */
function stepIndex(sourceIndex: readonly number[], i: number): number {
  const found = sourceIndex.findIndex((src) => src >= i);
  return found < 0 ? sourceIndex.length : found;
}

function readSteps(
  ctx: ImportContext,
  doc: SourceDoc,
  at: Path,
  raw: Record<string, unknown>[],
  namespace: string,
  analysis: Analysis,
): { steps: OutStep[]; sourceIndex: number[] } | undefined {
  const steps: OutStep[] = [];
  /** The Argo step each graylane step came from. */
  const sourceIndex: number[] = [];
  let ok = true;
  const push = (step: OutStep, i: number): void => {
    steps.push(step);
    sourceIndex.push(i);
  };
  raw.forEach((step, i) => {
    const sAt = [...at, i];
    const kind = Object.keys(step)[0];
    switch (kind) {
      case 'setWeight': {
        const w = percentValue(step.setWeight);
        if (w === undefined) {
          ctx.error(doc, [...sAt, 'setWeight'], `must be a whole percent from 0 to 100, got ${JSON.stringify(step.setWeight)}`);
          ok = false;
        } else push({ setWeight: w }, i);
        break;
      }
      case 'pause': {
        const p = rec(step.pause);
        if (p.duration === undefined) push({ pause: {} }, i);
        else {
          const d = durationValue(p.duration);
          if (d === undefined) {
            ctx.error(doc, [...sAt, 'pause', 'duration'], `must be seconds or a duration such as 1h, got ${JSON.stringify(p.duration)}`);
            ok = false;
          } else push({ pause: { duration: d } }, i);
        }
        break;
      }
      case 'analysis': {
        const a = rec(step.analysis);
        const names = analysis.use({ doc, at: [...sAt, 'analysis'], namespace, refs: list(a.templates).map(rec), args: list(a.args).map(rec) });
        if (names) push({ analysis: { templates: names } }, i);
        else {
          ctx.warn(doc, [...sAt, 'analysis'], 'this analysis cannot run in graylane (see the warnings on its templates): imported as a pause for a person to judge');
          push({ pause: {} }, i);
        }
        break;
      }
      case 'setHeaderRoute': {
        const h = rec(step.setHeaderRoute);
        const matches = list(h.match).map(rec);
        if (matches.length === 0) {
          push({ setHeaderRoute: {} }, i);
          break;
        }
        if (matches.length > 1) ctx.warn(doc, [...sAt, 'setHeaderRoute', 'match', 1], 'a graylane header route tests one header: only the first is imported');
        const m = matches[0]!;
        const header = headerMatch(ctx, doc, [...sAt, 'setHeaderRoute', 'match', 0], text(m.headerName) ?? '', {
          exact: text(rec(m.headerValue).exact),
          prefix: text(rec(m.headerValue).prefix),
          regex: text(rec(m.headerValue).regex),
        });
        if (header) push({ setHeaderRoute: { header } }, i);
        break;
      }
      case 'setMirrorRoute':
        ctx.warn(doc, [...sAt, 'setMirrorRoute'], mirrorRouteWarning(raw, i));
        break;
      default:
        ctx.warn(doc, [...sAt, kind ?? ''], `${kind ?? 'an empty'} step is not imported`);
    }
  });
  return ok ? { steps, sourceIndex } : undefined;
}

/**
 * What is dropped with a setMirrorRoute step, said exactly: the share, the match conditions, the
 * steps it spans, and for a step that ends a mirror route, that there is nothing to end.
 *
 * It is not mapped to a route `mirror: { lane: canary, percent }`: graylane rollouts have no mirror
 * step, so a route mirror would copy all the time (also between rollouts, when Argo's canary Service
 * selects the stable pods, so those requests would be served twice) and every request of the route,
 * not only the matched ones (Argo mirrors are usually limited to GET for that reason).
 */
function mirrorRouteWarning(steps: readonly Record<string, unknown>[], i: number): string {
  const m = rec(steps[i]?.setMirrorRoute);
  const name = text(m.name);
  const named = name === undefined ? 'setMirrorRoute' : `setMirrorRoute ${JSON.stringify(name)}`;
  const sameRoute = (j: number): boolean => {
    const other = steps[j]?.setMirrorRoute;
    return other !== undefined && text(rec(other).name) === name;
  };
  const matches = list(m.match).map(rec);
  if (matches.length === 0) {
    // Argo: a setMirrorRoute with no match removes the mirror route of that name.
    let started = -1;
    for (let j = i - 1; j >= 0 && started < 0; j--) if (sameRoute(j)) started = j;
    return `${named} with no match ends that mirror route${started >= 0 ? ` (set by steps[${started}])` : ''}: not imported, as the mirror itself is not, so there is nothing to end`;
  }
  const pct = typeof m.percentage === 'number' ? m.percentage : 100;
  let until = 'the end of the rollout';
  for (let j = i + 1; j < steps.length; j++) {
    if (sameRoute(j)) {
      until = `steps[${j}]`;
      break;
    }
  }
  const conditions = matches.map(describeRouteMatch);
  const which = conditions.includes('any request') ? 'the requests' : `the requests matching ${conditions.join(' or ')}`;
  return (
    `${named} is not imported: graylane rollouts have no mirror step. Dropped: from this step to ${until}, ` +
    `a copy of ${pct}% of ${which} to the canary. A route mirror (\`mirror: { lane: canary, percent: ${pct} }\`) ` +
    "is not added for you: it would copy every request of the route, at all times (also between rollouts, when the canary Service selects the stable pods)"
  );
}

/** An Argo RouteMatch (method, path, headers; each an exact / prefix / regex StringMatch) in words. */
function describeRouteMatch(match: Record<string, unknown>): string {
  const test = (what: string, sm: unknown): string => {
    const s = rec(sm);
    if (text(s.exact) !== undefined) return `${what} ${text(s.exact)}`;
    if (text(s.prefix) !== undefined) return `${what} starting with ${text(s.prefix)}`;
    if (text(s.regex) !== undefined) return `${what} matching /${text(s.regex)}/`;
    return `${what} (any)`;
  };
  const parts: string[] = [];
  if (match.method !== undefined) parts.push(test('method', match.method));
  if (match.path !== undefined) parts.push(test('path', match.path));
  for (const [header, sm] of Object.entries(rec(match.headers))) parts.push(test(`header ${header}`, sm));
  return parts.length === 0 ? 'any request' : parts.join(' and ');
}

/** nginx traffic routing: the Ingress's routes get the additional canary annotations. */
function trafficRouting(ctx: ImportContext, doc: SourceDoc, at: Path, tr: Record<string, unknown>, namespace: string, service: string): void {
  for (const key of Object.keys(tr)) {
    if (key !== 'nginx' && key !== 'managedRoutes') ctx.warn(doc, [...at, key], `${key} traffic routing is not imported: graylane routes the traffic itself`);
  }
  if (tr.nginx === undefined) return;
  const nginx = rec(tr.nginx);
  const ingresses = [text(nginx.stableIngress), ...list(nginx.stableIngresses).map(text)].filter((n): n is string => n !== undefined);
  for (const ingress of ingresses) {
    if (!ctx.ingressRoutes.has(`${namespace}/${ingress}`)) {
      ctx.warn(doc, [...at, 'nginx'], `Ingress ${ingress} is not among the inputs: no route sends requests to service ${service}; import the Ingress too, or add a route`);
    }
  }
  const annotations = rec(nginx.additionalIngressAnnotations);
  const canary: OutCanary = { lane: 'canary' };
  for (const [key, raw] of Object.entries(annotations)) {
    const value = text(raw) ?? '';
    const aAt = [...at, 'nginx', 'additionalIngressAnnotations', key];
    const problem = key === 'canary-by-header' ? valueProblem('headerName', value) : key === 'canary-by-cookie' ? valueProblem('cookieName', value) : undefined;
    if (problem) ctx.error(doc, aAt, problem);
    else if (key === 'canary-by-header') canary.byHeader = value.toLowerCase();
    else if (key === 'canary-by-header-value') canary.byHeaderValue = value;
    else if (key === 'canary-by-header-pattern') canary.byHeaderPattern = value;
    else if (key === 'canary-by-cookie') canary.byCookie = value;
    else ctx.warn(doc, aAt, `annotation ${key} is not imported`);
  }
  if (canary.byHeaderValue !== undefined && canary.byHeaderPattern !== undefined) {
    ctx.warn(doc, [...at, 'nginx', 'additionalIngressAnnotations', 'canary-by-header-pattern'], 'ignored because canary-by-header-value is set (as ingress-nginx does)');
    delete canary.byHeaderPattern;
  }
  if (canary.byHeader === undefined && canary.byCookie === undefined) return;
  // Argo's canary Service always exists (it selects the stable pods between rollouts), so the
  // header/cookie override is always on, as the canary Ingress Argo keeps is.
  for (const route of routesOf(ctx, service)) route.canary = [...(route.canary ?? []), canary];
}

/** Argo AnalysisTemplates -> graylane templates, one per metric, filled with a Rollout's args. */
class Analysis {
  constructor(
    readonly ctx: ImportContext,
    readonly templates: Map<string, ArgoTemplate>,
    readonly rollout: string,
  ) {}

  /** The graylane template names for these references; undefined when any cannot be imported. */
  use(u: TemplateUse): string[] | undefined {
    const names: string[] = [];
    let ok = u.refs.length > 0;
    u.refs.forEach((ref, i) => {
      const name = text(ref.templateName) ?? '';
      const key = ref.clusterScope === true ? `cluster/${name}` : `${u.namespace}/${name}`;
      const t = this.templates.get(key);
      if (!t) {
        this.ctx.error(u.doc, [...u.at, 'templates', i, 'templateName'], `unknown ${ref.clusterScope === true ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate'} ${JSON.stringify(name)} (it must be among the inputs)`);
        ok = false;
        return;
      }
      t.used = true;
      const made = this.convert(t, u);
      if (made) names.push(...made);
      else ok = false;
    });
    return ok ? names : undefined;
  }

  private convert(t: ArgoTemplate, u: TemplateUse): string[] | undefined {
    const args = new Map<string, string>();
    for (const a of list(t.spec.args).map(rec)) if (text(a.value) !== undefined) args.set(text(a.name) ?? '', text(a.value)!);
    for (const a of u.args) if (text(a.value) !== undefined) args.set(text(a.name) ?? '', text(a.value)!);
    const fill = (s: string, at: Path): string =>
      s.replace(/\{\{\s*args\.([\w.-]+)\s*\}\}/g, (whole, arg: string) => {
        const v = args.get(arg);
        if (v !== undefined) return v;
        this.ctx.warn(t.doc, at, `argument ${arg} has no value (valueFrom is not imported): ${whole} is left as written`);
        return whole;
      });
    for (const key of ['dryRun', 'measurementRetention']) {
      if (t.spec[key] !== undefined) this.ctx.warn(t.doc, ['spec', key], `${key} is not imported`);
    }
    const metrics = list(t.spec.metrics).map(rec);
    const out: string[] = [];
    let ok = metrics.length > 0;
    metrics.forEach((m, i) => {
      const at: Path = ['spec', 'metrics', i];
      const metricName = text(m.name) ?? `metric${i}`;
      const body = this.metric(t, at, m, fill);
      if (!body) {
        ok = false;
        return;
      }
      const base = toName(metrics.length === 1 ? t.name : `${t.name}.${metricName}`);
      const same = JSON.stringify(body);
      const existing = [...this.ctx.templates].find(([n, b]) => (n === base || n.startsWith(`${base}-`)) && JSON.stringify(b) === same);
      const name = existing ? existing[0] : this.ctx.uniqueName(base, (n) => this.ctx.templates.has(n));
      if (!existing) this.ctx.templates.set(name, body);
      out.push(name);
    });
    return ok ? out : undefined;
  }

  private metric(t: ArgoTemplate, at: Path, m: Record<string, unknown>, fill: (s: string, at: Path) => string): OutTemplate | undefined {
    const out: OutTemplate = {};
    for (const key of ['interval', 'initialDelay'] as const) {
      if (m[key] === undefined) continue;
      const d = durationValue(m[key]);
      if (d === undefined) {
        this.ctx.error(t.doc, [...at, key], `not a duration: ${JSON.stringify(m[key])}`);
        return undefined;
      }
      out[key] = d;
    }
    for (const key of ['count', 'failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit'] as const) {
      if (m[key] === undefined) continue;
      const n = Number(text(m[key]));
      // The rollout model's bounds: count from 1, the limits from 0, all at most 1,000,000.
      if (!Number.isInteger(n) || n < (key === 'count' ? 1 : 0) || n > 1_000_000) {
        this.ctx.warn(t.doc, [...at, key], `${JSON.stringify(m[key])} is not a whole number graylane can use: metric ${String(m.name)} is not imported`);
        return undefined;
      }
      out[key] = n;
    }
    for (const key of ['successCondition', 'failureCondition'] as const) {
      const cond = text(m[key]);
      if (cond === undefined) continue;
      const filled = fill(cond, [...at, key]);
      try {
        compileExpr(filled);
      } catch (err) {
        if (!(err instanceof ExprError)) throw err;
        this.ctx.warn(t.doc, [...at, key], `graylane's condition language cannot read ${JSON.stringify(filled)} (${err.message}): metric ${String(m.name)} is not imported`);
        return undefined;
      }
      out[key] = filled;
    }
    const provider = this.provider(t, [...at, 'provider'], rec(m.provider), fill);
    if (!provider) return undefined;
    out.provider = provider;
    return out;
  }

  /** Whether `url` is an http(s) URL, as the rollout model requires; a warning when not. */
  private httpUrl(t: ArgoTemplate, at: Path, url: string): boolean {
    let ok = false;
    try {
      const u = new URL(url);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) this.ctx.warn(t.doc, at, `${JSON.stringify(url)} is not an http(s) URL graylane can call: this metric is not imported`);
    return ok;
  }

  private provider(t: ArgoTemplate, at: Path, p: Record<string, unknown>, fill: (s: string, at: Path) => string): Record<string, unknown> | undefined {
    const kind = Object.keys(p)[0];
    const body = rec(p[kind ?? '']);
    const pAt = [...at, kind ?? ''];
    const headers = (raw: unknown, hAt: Path): Record<string, string> =>
      Object.fromEntries(list(raw).map((h, i) => [text(rec(h).key) ?? '', fill(text(rec(h).value) ?? '', [...hAt, i, 'value'])]));
    const timeout = (raw: unknown): string | undefined => (raw === undefined ? undefined : durationValue(raw));
    switch (kind) {
      case 'prometheus': {
        const out: Record<string, unknown> = { address: fill(text(body.address) ?? '', [...pAt, 'address']), query: fill(text(body.query) ?? '', [...pAt, 'query']).trim() };
        if (!this.httpUrl(t, [...pAt, 'address'], out.address as string)) return undefined;
        if (out.query === '') {
          this.ctx.warn(t.doc, [...pAt, 'query'], 'the Prometheus query is empty: this metric is not imported');
          return undefined;
        }
        if (body.headers !== undefined) out.headers = headers(body.headers, [...pAt, 'headers']);
        if (timeout(body.timeout)) out.timeout = timeout(body.timeout);
        for (const key of ['authentication', 'insecure']) if (body[key] !== undefined) this.ctx.warn(t.doc, [...pAt, key], `${key} is not imported`);
        return { prometheus: out };
      }
      case 'web': {
        const method = (text(body.method) ?? 'GET').toUpperCase();
        if (method !== 'GET' && method !== 'POST') {
          this.ctx.warn(t.doc, [...pAt, 'method'], `graylane's web provider sends GET or POST, not ${method}: this metric is not imported`);
          return undefined;
        }
        const out: Record<string, unknown> = { url: fill(text(body.url) ?? '', [...pAt, 'url']) };
        if (!this.httpUrl(t, [...pAt, 'url'], out.url as string)) return undefined;
        if (method !== 'GET') out.method = method;
        if (body.headers !== undefined) out.headers = headers(body.headers, [...pAt, 'headers']);
        if (body.jsonBody !== undefined) out.body = JSON.stringify(body.jsonBody);
        else if (text(body.body) !== undefined) out.body = fill(text(body.body)!, [...pAt, 'body']);
        const jsonPath = text(body.jsonPath)?.trim().replace(/^\{(.*)\}$/, '$1');
        if (jsonPath !== undefined) {
          try {
            parseJsonPath(jsonPath);
          } catch (err) {
            if (!(err instanceof JsonPathError)) throw err;
            this.ctx.warn(t.doc, [...pAt, 'jsonPath'], `graylane cannot read JSON path ${JSON.stringify(jsonPath)} (${err.message}): this metric is not imported`);
            return undefined;
          }
          out.jsonPath = jsonPath;
        }
        if (timeout(body.timeoutSeconds)) out.timeout = timeout(body.timeoutSeconds);
        if (body.insecure !== undefined) this.ctx.warn(t.doc, [...pAt, 'insecure'], 'insecure is not imported');
        return { web: out };
      }
      case 'job': {
        const podSpec = rec(rec(rec(body.spec).template).spec);
        const containers = list(podSpec.containers).map(rec);
        const c = containers[0];
        const command = [...list(c?.command), ...list(c?.args)].map((x) => fill(text(x) ?? '', [...pAt, 'spec']));
        if (!c || command.length === 0 || command[0] === '') {
          this.ctx.warn(t.doc, pAt, 'the job has no container command graylane can run (only the image knows its entrypoint): this metric is not imported');
          return undefined;
        }
        const cAt = [...pAt, 'spec', 'template', 'spec', 'containers', 0];
        this.ctx.warn(t.doc, cAt, `the job runs as a local command (${command[0]}) on the graylane host, not in a pod of image ${text(c.image) ?? '?'}`);
        if (containers.length > 1) this.ctx.warn(t.doc, [...pAt, 'spec', 'template', 'spec', 'containers', 1], 'only the first container\'s command is imported');
        const out: Record<string, unknown> = { command };
        const env = list(c.env).map(rec).filter((e) => text(e.value) !== undefined);
        if (env.length > 0) out.env = Object.fromEntries(env.map((e) => [text(e.name) ?? '', fill(text(e.value)!, [...cAt, 'env'])]));
        if (list(c.env).some((e) => rec(e).valueFrom !== undefined)) this.ctx.warn(t.doc, [...cAt, 'env'], 'environment variables with valueFrom are not imported');
        const deadline = rec(body.spec).activeDeadlineSeconds;
        if (deadline !== undefined && durationValue(deadline)) out.timeout = durationValue(deadline);
        return { job: out };
      }
      default:
        this.ctx.warn(t.doc, pAt, `the ${kind ?? 'missing'} provider is not imported (graylane has builtin, prometheus, web and job): this metric is not imported`);
        return undefined;
    }
  }
}
