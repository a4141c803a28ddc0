/**
 * A config in a few readable lines: each service with its versions and endpoints, each route with
 * its match, rules, canaries, split and mirror (worded as explain and the dashboard word them), each
 * rollout with its steps, then the import's warnings. `graylane import --check` prints it for what it
 * would write. Pure.
 */
import { routesOf } from '../metrics/overview.js';
import { describeStep, planOf } from '../rollout/plan.js';
import type { Snapshot } from '../routing/types.js';
import { formatFinding, type ImportWarning } from './errors.js';

export function summarizeConfig(snapshot: Snapshot): string {
  const spec = snapshot.spec;
  const lines: string[] = [];
  const services = Object.entries(spec.services);
  lines.push(`services (${services.length}):`);
  for (const [name, svc] of services) {
    lines.push(`  ${name}  (fallback ${svc.fallback})`);
    for (const [version, v] of Object.entries(svc.versions)) {
      lines.push(`    ${version}: ${v.endpoints.length === 0 ? '(no endpoints)' : v.endpoints.join(', ')}`);
    }
  }
  const routes = routesOf(snapshot);
  lines.push(`routes (${routes.length}):`);
  for (const r of routes) {
    lines.push(`  ${r.name}: ${r.match} -> ${r.service}${r.pinnedLane !== null ? `, pinned to lane ${r.pinnedLane}` : ''}${r.trustLane ? ', trusts incoming lanes' : ''}`);
    for (const rule of r.rules) lines.push(`    rule ${rule.name}: ${rule.when} -> lane ${rule.lane}`);
    for (const c of r.canary) lines.push(`    canary: ${c}`);
    if (r.split !== null) {
      const weights = Object.entries(r.split.weights).map(([lane, w]) => `${lane} ${w}`);
      lines.push(`    split: ${weights.join(', ')}${r.split.sticky ? ' (sticky by user)' : ''}`);
    }
    if (r.mirror !== null) lines.push(`    mirror: ${r.mirror.percent}% to lane ${r.mirror.lane}`);
  }
  const rollouts = spec.rollouts ?? [];
  if (rollouts.length > 0) {
    lines.push(`rollouts (${rollouts.length}):`);
    for (const r of rollouts) {
      lines.push(`  ${r.name}: ${r.strategy.kind} of ${r.service}, ${r.stable} -> ${r.canary}`);
      planOf(r).forEach((step, i) => lines.push(`    ${i + 1}. ${describeStep(step, r)}`));
    }
  }
  const templates = Object.keys(spec.analysisTemplates ?? {});
  if (templates.length > 0) lines.push(`analysis templates: ${templates.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The warnings section that follows the summary: one line each, as they are printed elsewhere. */
export function summarizeWarnings(warnings: readonly ImportWarning[]): string {
  if (warnings.length === 0) return 'warnings: none\n';
  return `warnings (${warnings.length}):\n${warnings.map((w) => `  ${formatFinding(w)}\n`).join('')}`;
}
