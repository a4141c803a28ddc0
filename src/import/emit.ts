/**
 * The imported config as YAML text: a header comment naming the sources and repeating the warnings,
 * then services, routes, rollouts and analysis templates. Small mappings (a match, a rule, a step)
 * are written on one line, as docs/config.md writes them.
 */
import { Document, isScalar, visit } from 'yaml';
import { formatFinding } from './errors.js';
import type { ImportContext, OutRoute } from './config.js';

export function emitConfig(ctx: ImportContext): string {
  const routes = orderRoutes(ctx.routes).map(routeObject);
  const root: Record<string, unknown> = {
    services: Object.fromEntries(
      [...ctx.services].map(([name, svc]) => [
        name,
        {
          ...(svc.fallback !== 'stable' ? { fallback: svc.fallback } : {}),
          versions: Object.fromEntries(Object.entries(svc.versions).map(([v, endpoints]) => [v, { endpoints }])),
        },
      ]),
    ),
    routes,
  };
  if (ctx.rollouts.length > 0) root.rollouts = ctx.rollouts;
  if (ctx.templates.size > 0) root.analysisTemplates = Object.fromEntries(ctx.templates);

  const doc = new Document(root);
  const flow = (path: (string | number)[], value: unknown): void => {
    doc.setIn(path, doc.createNode(value, { flow: true }));
  };
  for (const [name, svc] of ctx.services) {
    for (const [v, endpoints] of Object.entries(svc.versions)) flow(['services', name, 'versions', v], { endpoints });
  }
  routes.forEach((route, i) => {
    flow(['routes', i, 'match'], route.match);
    if (route.identity) flow(['routes', i, 'identity'], route.identity);
    route.rules?.forEach((rule, j) => flow(['routes', i, 'rules', j], rule));
    route.canary?.forEach((c, j) => flow(['routes', i, 'canary', j], c));
    if (route.split) flow(['routes', i, 'split'], route.split);
    if (route.mirror) flow(['routes', i, 'mirror'], route.mirror);
    if (typeof route.visitorCookie === 'object') flow(['routes', i, 'visitorCookie'], route.visitorCookie);
  });
  ctx.rollouts.forEach((rollout, i) => {
    if ('canary' in rollout.strategy) {
      rollout.strategy.canary.steps.forEach((step, j) => flow(['rollouts', i, 'strategy', 'canary', 'steps', j], step));
      const analysis = rollout.strategy.canary.analysis;
      if (analysis) flow(['rollouts', i, 'strategy', 'canary', 'analysis'], analysis);
    }
  });
  // YAML 1.1 readers (and people) take yes/no/on/off for booleans: quote them.
  visit(doc, {
    Scalar(_key, node) {
      if (isScalar(node) && typeof node.value === 'string' && /^(y|n|yes|no|on|off)$/i.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  doc.commentBefore = header(ctx);
  return doc.toString({ lineWidth: 0 });
}

/** The route's keys in the order docs/config.md lists them. */
function routeObject(r: OutRoute): OutRoute {
  const out: OutRoute = { name: r.name, match: r.match, service: r.service };
  if (r.identity) out.identity = r.identity;
  if (r.visitorCookie !== undefined) out.visitorCookie = r.visitorCookie;
  if (r.rules) out.rules = r.rules;
  if (r.canary) out.canary = r.canary;
  if (r.split) out.split = r.split;
  if (r.stickySplit) out.stickySplit = r.stickySplit;
  if (r.mirror) out.mirror = r.mirror;
  return out;
}

function header(ctx: ImportContext): string {
  const lines = [' graylane config written by `graylane import` from:'];
  for (const [file, kinds] of ctx.sources) {
    const parts = [...kinds].map(([kind, n]) => `${n} ${kind} ${n === 1 ? 'document' : 'documents'}`);
    lines.push(`   ${file}: ${parts.length > 0 ? parts.join(', ') : 'nothing graylane imports'}`);
  }
  if (ctx.warnings.length > 0) {
    lines.push('', ` ${ctx.warnings.length} ${ctx.warnings.length === 1 ? 'warning' : 'warnings'}: what was not imported, or only approximately:`);
    for (const w of ctx.warnings) lines.push(`   ${formatFinding(w)}`);
  }
  return lines.join('\n');
}

/**
 * The first route that matches wins in graylane, so the most specific go first, as ingress-nginx
 * (longest location) and Traefik (longest rule) would choose: exact hosts, then wildcard hosts
 * (longest first), then any host; within, exact paths, then longer prefixes first.
 */
export function orderRoutes(routes: readonly OutRoute[]): OutRoute[] {
  const hostRank = (r: OutRoute): [number, number] =>
    r.match.host === undefined ? [2, 0] : r.match.host.startsWith('*.') ? [1, -r.match.host.length] : [0, 0];
  const pathRank = (r: OutRoute): [number, number] =>
    r.match.path !== undefined ? [0, 0] : [1, -(r.match.pathPrefix ?? '/').length];
  return routes
    .map((route, index) => ({ route, index, key: [...hostRank(route), ...pathRank(route)] }))
    .sort((a, b) => {
      for (let k = 0; k < a.key.length; k++) if (a.key[k] !== b.key[k]) return a.key[k]! - b.key[k]!;
      return a.index - b.index;
    })
    .map((e) => e.route);
}
