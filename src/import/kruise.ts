/**
 * OpenKruise Rollout (rollouts.kruise.io v1alpha1 and v1beta1) and TrafficRouting -> graylane
 * rollouts, versions and rules.
 *
 * - A Rollout with `trafficRoutings` (Kruise makes a `<service>-canary` Service for the canary pods)
 *   becomes a rollout of the graylane service of that Service, with version `canary` at
 *   `<service>-canary`.
 * - Steps: weight (v1alpha1) / traffic (v1beta1) -> setWeight; matches -> setHeaderRoute; pause ->
 *   pause (Kruise pauses for a person after every step unless the step has a duration, except the
 *   last); replicas are a workload matter and only warned about.
 * - Full link: Rollouts that share a TrafficRouting (`trafficRoutingRef`, or the annotation
 *   `rollouts.kruise.io/trafficrouting`) release several services in one lane, named by the canary
 *   pods' tag (`alicloud.service.tag` / `opensergo.io/canary-gray`, else `canary`). The
 *   TrafficRouting's matches and requestHeaderModifier become rules of the entry service's routes;
 *   each service gets a version in that lane whose endpoints register at run time (graylane's lane
 *   SDK) unless the `endpoints` option names `<service>-canary`.
 */
import type { Path } from '../spec/paths.js';
import { k8sMeta, list, rec, text, toName, type ImportContext, type OutHeaderMatch, type OutRule, type OutStep } from './config.js';
import type { SourceDoc } from './documents.js';
import { valueProblem } from './values.js';
import { addVersion, durationValue, headerMatch, percentValue, routesOf, serviceForK8s, siblingEndpoints } from './rollout-target.js';

const TAG_LABELS = ['alicloud.service.tag', 'opensergo.io/canary-gray'];
const TRAFFIC_ROUTING_ANNOTATION = 'rollouts.kruise.io/trafficrouting';

export function isKruise(data: Record<string, unknown>): boolean {
  return typeof data.apiVersion === 'string' && data.apiVersion.startsWith('rollouts.kruise.io/');
}

interface TrafficRouting {
  doc: SourceDoc;
  name: string;
  namespace: string;
  spec: Record<string, unknown>;
  used: boolean;
  lane?: string;
}

export function importKruise(docs: readonly SourceDoc[], ctx: ImportContext): void {
  const routings = new Map<string, TrafficRouting>();
  const rollouts: SourceDoc[] = [];
  for (const doc of docs) {
    ctx.noteSource(doc, 'kruise');
    const data = rec(doc.data);
    const { name, namespace } = k8sMeta(data);
    if (data.kind === 'TrafficRouting') routings.set(`${namespace}/${name}`, { doc, name, namespace, spec: rec(data.spec), used: false });
    else if (data.kind === 'Rollout') rollouts.push(doc);
    else ctx.warn(doc, ['kind'], `${String(data.kind)} is not imported (graylane imports Rollout and TrafficRouting)`);
  }
  for (const doc of rollouts) importRollout(doc, ctx, routings);
  for (const tr of routings.values()) {
    if (!tr.used) ctx.warn(tr.doc, [], `TrafficRouting ${tr.name} is used by no imported Rollout: not imported`);
  }
}

function importRollout(doc: SourceDoc, ctx: ImportContext, routings: Map<string, TrafficRouting>): void {
  const data = rec(doc.data);
  const { name, namespace, annotations } = k8sMeta(data);
  const spec = rec(data.spec);
  const v1alpha1 = data.apiVersion === 'rollouts.kruise.io/v1alpha1';
  const strategy = rec(spec.strategy);
  if (strategy.blueGreen !== undefined) {
    ctx.warn(doc, ['spec', 'strategy', 'blueGreen'], 'Kruise blue-green is not imported: write a graylane blueGreen rollout (docs/rollouts.md)');
    return;
  }
  const canary = rec(strategy.canary);
  const canaryAt: Path = ['spec', 'strategy', 'canary'];
  const workloadAt: Path = v1alpha1 ? ['spec', 'objectRef', 'workloadRef'] : ['spec', 'workloadRef'];
  const workload = text(rec(v1alpha1 ? rec(spec.objectRef).workloadRef : spec.workloadRef).name);

  const routingName = text(canary.trafficRoutingRef) ?? text(annotations[TRAFFIC_ROUTING_ANNOTATION]);
  const routingAt: Path = canary.trafficRoutingRef !== undefined ? [...canaryAt, 'trafficRoutingRef'] : ['metadata', 'annotations', TRAFFIC_ROUTING_ANNOTATION];
  const trafficRoutings = list(canary.trafficRoutings).map(rec);

  // The Kubernetes Service of the release.
  let serviceName: string | undefined = text(trafficRoutings[0]?.service);
  let serviceAt: Path = [...canaryAt, 'trafficRoutings', 0, 'service'];
  if (trafficRoutings.length > 1) ctx.warn(doc, [...canaryAt, 'trafficRoutings', 1], 'only the first traffic routing is imported');
  if (serviceName === undefined) {
    if (workload === undefined) {
      ctx.error(doc, workloadAt, 'a Rollout needs a workloadRef or a trafficRoutings service');
      return;
    }
    serviceName = workload;
    serviceAt = [...workloadAt, 'name'];
    ctx.warn(doc, serviceAt, `no trafficRoutings: the Service of workload ${workload} is taken to be named ${workload}`);
  }
  const target = serviceForK8s(ctx, doc, serviceAt, namespace, serviceName);
  for (const r of trafficRoutings.slice(0, 1)) {
    const ingress = text(rec(r.ingress).name);
    if (r.gateway !== undefined) ctx.warn(doc, [...canaryAt, 'trafficRoutings', 0, 'gateway'], 'Gateway API routes are not imported: graylane routes the traffic itself');
    if (r.customNetworkRefs !== undefined) ctx.warn(doc, [...canaryAt, 'trafficRoutings', 0, 'customNetworkRefs'], 'customNetworkRefs are not imported');
    if (ingress !== undefined && !ctx.ingressRoutes.has(`${namespace}/${ingress}`)) {
      ctx.warn(doc, [...canaryAt, 'trafficRoutings', 0, 'ingress'], `Ingress ${ingress} is not among the inputs: no route sends requests to service ${target.service}; import the Ingress too, or add a route`);
    }
  }

  // The lane of the new version.
  let lane = 'canary';
  let routing: TrafficRouting | undefined;
  if (routingName !== undefined) {
    routing = routings.get(`${namespace}/${routingName}`);
    if (!routing) {
      ctx.error(doc, routingAt, `unknown TrafficRouting ${JSON.stringify(routingName)} (it must be among the inputs)`);
      return;
    }
    const labels = rec(rec(canary.patchPodTemplateMetadata).labels);
    const tag = TAG_LABELS.map((l) => text(labels[l])).find((v) => v !== undefined);
    lane = toName(routing.lane ?? tag ?? 'canary');
    if (routing.lane === undefined && tag !== undefined && lane !== tag) {
      ctx.warn(doc, [...canaryAt, 'patchPodTemplateMetadata', 'labels'], `tag ${JSON.stringify(tag)} is not a graylane lane name: the lane is ${lane} (register the canary pods in lane ${lane})`);
    }
    if (routing.lane !== undefined && tag !== undefined && toName(tag) !== routing.lane) {
      ctx.warn(doc, [...canaryAt, 'patchPodTemplateMetadata', 'labels'], `tag ${tag} differs from lane ${routing.lane} of the other Rollouts of TrafficRouting ${routing.name}: the lane is kept`);
    }
    if (!routing.used) applyTrafficRouting(ctx, routing, lane);
    routing.used = true;
    routing.lane = lane;
    const canaryService = `${serviceName}-canary`;
    addVersion(ctx, target, lane, ctx.hasEndpointOverride(namespace, canaryService) ? siblingEndpoints(ctx, doc, serviceAt, target, namespace, canaryService) : []);
    if (!ctx.hasEndpointOverride(namespace, canaryService)) {
      ctx.warn(doc, routingAt, `the canary pods of ${serviceName} are found by their tag in Kruise: version ${lane} of service ${target.service} has no static endpoints (register them in lane ${lane} at run time, or pass endpoints ${canaryService}=URL)`);
    }
  } else {
    addVersion(ctx, target, lane, siblingEndpoints(ctx, doc, serviceAt, target, namespace, `${serviceName}-canary`));
  }
  if (lane === target.stable) {
    ctx.error(doc, routingAt, `the canary lane ${lane} is the stable version's name`);
    return;
  }

  const steps = readSteps(doc, ctx, canaryAt, list(canary.steps).map(rec), v1alpha1);
  if (steps === undefined) return;
  if (steps.length === 0) {
    ctx.warn(doc, [...canaryAt, 'steps'], 'no steps that graylane can run: the rollout is not imported');
    return;
  }
  for (const key of ['failureThreshold', 'patchPodTemplateMetadata', 'enableExtraWorkloadForCanary', 'disableGenerateCanaryService']) {
    if (canary[key] !== undefined && !(key === 'patchPodTemplateMetadata' && routing)) {
      ctx.warn(doc, [...canaryAt, key], `${key} is not imported: graylane moves traffic, not pods`);
    }
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
    strategy: { canary: { steps } },
  });
}

function readSteps(doc: SourceDoc, ctx: ImportContext, canaryAt: Path, raw: Record<string, unknown>[], v1alpha1: boolean): OutStep[] | undefined {
  const steps: OutStep[] = [];
  let ok = true;
  let headerRouted = false;
  let warnedReplicas = false;
  raw.forEach((step, i) => {
    const at = [...canaryAt, 'steps', i];
    const trafficKey = v1alpha1 ? 'weight' : 'traffic';
    if (step[trafficKey] !== undefined) {
      const weight = percentValue(step[trafficKey]);
      if (weight === undefined) {
        ctx.error(doc, [...at, trafficKey], `must be a percentage from 0 to 100${v1alpha1 ? '' : ' such as "20%"'}, got ${JSON.stringify(step[trafficKey])}`);
        ok = false;
      } else {
        steps.push({ setWeight: weight });
      }
    }
    if (step.matches !== undefined) {
      const header = firstHeader(doc, ctx, [...at, 'matches'], list(step.matches));
      if (header) {
        steps.push({ setHeaderRoute: { header } });
        headerRouted = true;
      }
    } else if (headerRouted) {
      // Each Kruise step states the whole routing: a step without matches ends the header route.
      steps.push({ setHeaderRoute: {} });
      headerRouted = false;
    }
    if (step.replicas !== undefined && !warnedReplicas) {
      warnedReplicas = true;
      ctx.warn(doc, [...at, 'replicas'], 'replicas are not imported (in any step): graylane moves traffic, not pods');
    }
    if (step.requestHeaderModifier !== undefined) ctx.warn(doc, [...at, 'requestHeaderModifier'], 'a step\'s requestHeaderModifier is not imported');
    const last = i === raw.length - 1;
    const pause = rec(step.pause);
    if (pause.duration !== undefined) {
      const duration = durationValue(pause.duration);
      if (duration === undefined) {
        ctx.error(doc, [...at, 'pause', 'duration'], `must be a number of seconds, got ${JSON.stringify(pause.duration)}`);
        ok = false;
      } else {
        steps.push({ pause: { duration } });
      }
    } else if (step.pause !== undefined || !last) {
      steps.push({ pause: {} });
    }
  });
  return ok ? steps : undefined;
}

/** Kruise matches (any of them, each all of its headers) -> one graylane header test. */
function firstHeader(doc: SourceDoc, ctx: ImportContext, at: Path, matches: unknown[]): OutHeaderMatch | undefined {
  const tests = matchesToHeaders(doc, ctx, at, matches);
  if (tests.length > 1) ctx.warn(doc, [...at, 1], 'a graylane header route tests one header: only the first match is imported');
  return tests[0];
}

/** Each match with exactly one header -> its test (matches with several headers are warned about). */
function matchesToHeaders(doc: SourceDoc, ctx: ImportContext, at: Path, matches: unknown[]): OutHeaderMatch[] {
  const out: OutHeaderMatch[] = [];
  matches.forEach((m, i) => {
    const match = rec(m);
    const headers = list(match.headers).map(rec);
    for (const key of Object.keys(match)) {
      if (key !== 'headers') ctx.warn(doc, [...at, i, key], `matching by ${key} is not imported`);
    }
    if (headers.length !== 1) {
      if (headers.length > 1) ctx.warn(doc, [...at, i, 'headers'], 'a graylane rule tests one header: a match on several headers is not imported');
      return;
    }
    const h = headers[0]!;
    const name = text(h.name) ?? '';
    const value = text(h.value) ?? '';
    const type = text(h.type) ?? 'Exact';
    const hAt = [...at, i, 'headers', 0];
    if (type !== 'Exact' && type !== 'RegularExpression') {
      ctx.warn(doc, [...hAt, 'type'], `match type ${type} is not imported`);
      return;
    }
    const test = headerMatch(ctx, doc, hAt, name, type === 'Exact' ? { exact: value } : { regex: value });
    if (test) out.push(test);
  });
  return out;
}

/** The TrafficRouting's matches, weight and header changes -> rules on the entry services' routes. */
function applyTrafficRouting(ctx: ImportContext, tr: TrafficRouting, lane: string): void {
  const strategy = rec(tr.spec.strategy);
  const at: Path = ['spec', 'strategy'];
  const modifier = headerModifier(ctx, tr.doc, [...at, 'requestHeaderModifier'], rec(strategy.requestHeaderModifier));
  const rules: OutRule[] = matchesToHeaders(tr.doc, ctx, [...at, 'matches'], list(strategy.matches)).map((header) => ({
    lane,
    header,
    ...(modifier ? { headers: modifier } : {}),
  }));
  if (strategy.weight !== undefined) {
    const weight = percentValue(strategy.weight);
    if (weight === undefined) ctx.error(tr.doc, [...at, 'weight'], `must be a percentage from 0 to 100, got ${JSON.stringify(strategy.weight)}`);
    else rules.push({ lane, percent: weight, ...(modifier ? { headers: modifier } : {}) });
  }
  list(tr.spec.objectRef).forEach((raw, i) => {
    const ref = rec(raw);
    const refAt: Path = ['spec', 'objectRef', i];
    const service = text(ref.service);
    if (service === undefined) {
      ctx.error(tr.doc, [...refAt, 'service'], 'needs the Service of the entry application');
      return;
    }
    const target = serviceForK8s(ctx, tr.doc, [...refAt, 'service'], tr.namespace, service);
    const routes = routesOf(ctx, target.service);
    if (routes.length === 0) {
      ctx.warn(tr.doc, refAt, `no route sends requests to service ${target.service} (its Ingress is not among the inputs): add a route with these rules: ${JSON.stringify(rules)}`);
      return;
    }
    for (const route of routes) route.rules = [...(route.rules ?? []), ...rules];
  });
}

/** requestHeaderModifier -> a rule's `headers`; a name or value graylane refuses is an error at its place. */
function headerModifier(ctx: ImportContext, doc: SourceDoc, at: Path, raw: Record<string, unknown>): OutRule['headers'] | undefined {
  const out: NonNullable<OutRule['headers']> = {};
  const check = (kind: 'headerName' | 'headerValue', value: string, vAt: Path): string => {
    const problem = valueProblem(kind, value);
    if (problem) ctx.error(doc, vAt, problem);
    return value;
  };
  for (const op of ['set', 'add'] as const) {
    const entries = list(raw[op]).map(rec);
    if (entries.length > 0) {
      out[op] = Object.fromEntries(
        entries.map((e, i) => [
          check('headerName', text(e.name) ?? '', [...at, op, i, 'name']).toLowerCase(),
          check('headerValue', text(e.value) ?? '', [...at, op, i, 'value']),
        ]),
      );
    }
  }
  const remove = list(raw.remove)
    .map((n, i) => (text(n) === undefined ? undefined : check('headerName', text(n)!, [...at, 'remove', i]).toLowerCase()))
    .filter((n): n is string => n !== undefined);
  if (remove.length > 0) out.remove = remove;
  return Object.keys(out).length > 0 ? out : undefined;
}
