/**
 * Releases (docs/rollouts.md#releases) on the rollout state machine. A release is run as a canary
 * rollout of its lane, named `release:<name>` (rollout names cannot contain ':'), whose weight is
 * the lane's share of users at the entry route; everything else (steps, pauses, analysis runs,
 * hooks, abort, promote, retry, undo, crash safety, clustered mode) is the rollout machinery as is.
 * Because the whole release is one status, every change of it, the promotion of all its services
 * included, is one compare-and-swap commit: a crash leaves all of it or none.
 *
 * What differs is pure and lives here: the derived rollout, its analysis templates (one per service
 * for the builtin providers, so an error rate breached in one service fails the run), and the
 * routing overlay:
 *
 * | release                | entry route                          | each service of the release        |
 * |------------------------|--------------------------------------|------------------------------------|
 * | not started            | nothing                              | nothing                            |
 * | running, share w       | w% of users (release salt) -> lane   | nothing: the lane follows the call |
 * | aborted / undone       | nothing                              | withdrawn [lane]: back on stable, rule-put users included |
 * | completed              | nothing                              | stableVersion: lane                |
 */
import type { Spec } from '../spec/types.js';
import type { ReleaseSpec } from '../spec/release-model.js';
import type { AnalysisTemplate, CanaryStep, RolloutSpec } from '../spec/rollout-model.js';
import type { ReleaseShare, ServiceOverlay } from '../routing/types.js';
import type { RolloutStatus } from '../status/rollout-status.js';

/** Status names of releases start with this; rollout names cannot contain ':'. */
export const RELEASE_PREFIX = 'release:';

export function releaseRolloutName(release: string): string {
  return `${RELEASE_PREFIX}${release}`;
}

/** A derived rollout's release name, or undefined for an ordinary rollout. */
export function releaseNameOf(rollout: RolloutSpec): string | undefined {
  return rollout.release?.name;
}

/**
 * The rollouts that run the spec's releases, and the analysis templates they use: for each template
 * whose builtin provider reads "the rollout's service" (`service` unset), one copy per service of
 * the release, named `<template>@<service>` ('@' is not allowed in template names), reading that
 * service's lane version (`canary`) or fallback version (`stable`).
 */
export function releaseRollouts(spec: Pick<Spec, 'releases' | 'services' | 'routes' | 'analysisTemplates'>): {
  rollouts: RolloutSpec[];
  templates: Record<string, AnalysisTemplate>;
} {
  const templates: Record<string, AnalysisTemplate> = {};
  const rollouts: RolloutSpec[] = [];
  for (const release of spec.releases ?? []) {
    const route = spec.routes.find((r) => r.name === release.entry.route);
    const entryService = route?.service ?? release.services[0]!;
    const fallbackOf = (svc: string): string => spec.services[svc]?.fallback ?? 'stable';
    const expand = (names: readonly string[]): string[] =>
      names.flatMap((name) => {
        const t = spec.analysisTemplates?.[name];
        if (t === undefined || !perService(t)) return [name];
        return release.services.map((svc) => {
          const copy = `${name}@${svc}`;
          templates[copy] = templateFor(t, copy, svc, release.lane, fallbackOf(svc));
          return copy;
        });
      });
    const steps: CanaryStep[] = release.steps.map((s) => (s.kind === 'analysis' ? { kind: 'analysis', templates: expand(s.templates) } : s));
    const analysis = release.analysis === null ? null : { templates: expand(release.analysis.templates), startingStep: release.analysis.startingStep };
    const rollout: RolloutSpec = {
      name: releaseRolloutName(release.name),
      service: entryService,
      stable: fallbackOf(entryService),
      canary: release.lane,
      strategy: release.cleanup === undefined ? { kind: 'canary', steps, analysis } : { kind: 'canary', steps, analysis, cleanup: release.cleanup },
      release: { name: release.name, services: [...release.services], route: release.entry.route, salt: release.salt },
    };
    if (release.rollbackWindowMs !== undefined) rollout.rollbackWindowMs = release.rollbackWindowMs;
    rollouts.push(rollout);
  }
  return { rollouts, templates };
}

function perService(t: AnalysisTemplate): boolean {
  return (t.provider.kind === 'builtin' || t.provider.kind === 'compare') && t.provider.service === null;
}

function templateFor(t: AnalysisTemplate, name: string, service: string, lane: string, fallback: string): AnalysisTemplate {
  const p = t.provider;
  if (p.kind === 'builtin') {
    const version = p.version === 'canary' ? lane : p.version === 'stable' ? fallback : p.version;
    return { ...t, name, provider: { ...p, service, version } };
  }
  if (p.kind === 'compare') return { ...t, name, provider: { ...p, service } };
  return t;
}

/** What one release's status does to routing (the table at the top of this file). */
export function releaseOverlay(rollout: RolloutSpec, status: RolloutStatus | null): { services: Record<string, ServiceOverlay>; share: ReleaseShare | null } {
  const target = rollout.release;
  const services: Record<string, ServiceOverlay> = {};
  if (target === undefined || status === null) return { services, share: null };
  const lane = rollout.canary;
  if (status.phase === 'Degraded') {
    for (const svc of target.services) services[svc] = { withdrawn: [lane] };
    return { services, share: null };
  }
  if (status.phase === 'Healthy') {
    for (const svc of target.services) services[svc] = { stableVersion: lane };
    return { services, share: null };
  }
  const percent = Math.min(100, Math.max(0, status.weight));
  return { services, share: percent > 0 ? { name: target.name, lane, salt: target.salt, percent } : null };
}

/** The release a rollout runs, looked up in the spec (for views). */
export function releaseSpecOf(spec: Pick<Spec, 'releases'>, rollout: RolloutSpec): ReleaseSpec | undefined {
  const name = releaseNameOf(rollout);
  return name === undefined ? undefined : spec.releases?.find((r) => r.name === name);
}
