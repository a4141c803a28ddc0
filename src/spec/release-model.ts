/**
 * The `releases:` part of the config: a lane released across several services as one unit
 * (full-link gray). One step plan moves the lane's share of users at one entry route; one verdict
 * (analysis over every service) promotes or aborts all of it. Documented in docs/rollouts.md
 * ("Releases"); run by src/rollout/release.ts on the rollout state machine.
 *
 * ```yaml
 * releases:
 *   checkout-2026-12:
 *     lane: gray                       # each service's version named gray
 *     services: [frontend, cart, payment]
 *     entry: { route: shop }           # where the lane's share of users is decided
 *     salt: checkout-2026-12           # default: the release's name
 *     steps: [ { setWeight: 5 }, { pause: { duration: 10m } }, { analysis: { templates: [error-rate] } } ]
 *     hooks: { cleanup: { command: ... } }
 *     rollbackWindow: 30m
 * ```
 */
import type { Path } from './paths.js';
import type { RouteSpec } from './types.js';
import { isRecord, type NormalizeContext } from './context.js';
import { isObjectName } from './names.js';
import {
  readHook,
  readStep,
  Reader,
  TemplateRefs,
  type AnalysisTemplate,
  type BackgroundAnalysis,
  type CanaryStep,
  type HookSpec,
  type RolloutSpec,
  type ServiceVersions,
} from './rollout-model.js';

/** The steps a release takes: a canary's, without setHeaderRoute (the lane's share is by user). */
export type ReleaseStep = Exclude<CanaryStep, { kind: 'setHeaderRoute' }>;

export interface ReleaseSpec {
  name: string;
  /** The lane (= the version name in each service) being released. */
  lane: string;
  services: string[];
  /** The route (by name) where the lane's share of users is decided. */
  entry: { route: string };
  /** Salt of the release's own user buckets (default: the release's name). */
  salt: string;
  steps: ReleaseStep[];
  /** Analysis beside the steps over every service, from `startingStep` until the end: a failure aborts all. */
  analysis: BackgroundAnalysis | null;
  /** Runs once when the attempt ends, however it ends. Absent when not configured. */
  cleanup?: HookSpec;
  /** How long after completion `release undo` may put the previous stables back; absent = default. */
  rollbackWindowMs?: number;
}

const KEYS = ['lane', 'services', 'entry', 'salt', 'steps', 'analysis', 'hooks', 'rollbackWindow'];

/**
 * Validates `releases:` (a map of names to releases) and fills in defaults. Never throws; what is
 * wrong is reported to `ctx` at its key path and left out. References to services, versions, the
 * entry route and other releases and rollouts are checked by checkReleaseRefs().
 */
export function normalizeReleases(root: unknown, templates: Record<string, AnalysisTemplate>, ctx: NormalizeContext): ReleaseSpec[] {
  const r = new Reader(ctx);
  const raw = isRecord(root) ? root['releases'] : undefined;
  if (raw === undefined || raw === null) return [];
  if (!isRecord(raw)) {
    r.issue(['releases'], 'wrong-type', 'must be a map of release names to releases');
    return [];
  }
  const rawTemplates = isRecord(root) ? root['analysisTemplates'] : undefined;
  const out: ReleaseSpec[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const path = ['releases', name];
    if (!isObjectName(name)) {
      r.issue(path, 'bad-name', `release name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-'`);
      continue;
    }
    const release = readRelease(r, path, name, value, new TemplateRefs(r, rawTemplates, templates));
    if (release) out.push(release);
  }
  return out;
}

function readRelease(r: Reader, path: Path, name: string, value: unknown, refs: TemplateRefs): ReleaseSpec | undefined {
  const o = r.object(path, value, KEYS, true);
  if (!o) return undefined;
  let ok = true;
  const lane = r.name(path, o, 'lane', true);
  const services = readServices(r, [...path, 'services'], o['services']);
  const e = r.object([...path, 'entry'], o['entry'], ['route'], true);
  const route = e ? r.string([...path, 'entry'], e, 'route', true) : undefined;
  const salt = o['salt'] === undefined ? name : r.string(path, o, 'salt', true);
  const steps: ReleaseStep[] = [];
  const stepsPath = [...path, 'steps'];
  if (!Array.isArray(o['steps']) || o['steps'].length === 0) {
    r.issue(stepsPath, o['steps'] === undefined ? 'missing-key' : 'wrong-type', 'must be a non-empty list of steps (setWeight, pause, analysis, hook)');
    ok = false;
  } else {
    const hookNames = new Map<string, number>();
    o['steps'].forEach((raw, i) => {
      const step = readStep(r, [...stepsPath, i], raw, refs, i);
      if (step?.kind === 'setHeaderRoute') {
        // The schema names the allowed keys too; the loader keeps its issue at this path.
        r.issue([...stepsPath, i, 'setHeaderRoute'], 'unknown-key', 'not a release step (setWeight, pause, analysis, hook): a release moves a share of users; header routing is for the route\'s rules');
      }
      if (step === undefined || step.kind === 'setHeaderRoute') {
        ok = false;
        return;
      }
      if (step.kind === 'hook') {
        const seen = hookNames.get(step.name);
        if (seen !== undefined) {
          r.issue([...stepsPath, i, 'hook', 'name'], 'duplicate-name', `hook step ${JSON.stringify(step.name)} is already defined at steps[${seen}]`);
          ok = false;
          return;
        }
        hookNames.set(step.name, i);
      }
      steps.push(step);
    });
  }
  let analysis: BackgroundAnalysis | null = null;
  if (o['analysis'] !== undefined) {
    const aPath = [...path, 'analysis'];
    const a = r.object(aPath, o['analysis'], ['templates', 'startingStep'], true);
    const templates = a && refs.list(aPath, a);
    const count = Array.isArray(o['steps']) ? o['steps'].length : 0;
    const startingStep = a?.['startingStep'] === undefined ? 0 : r.int([...aPath, 'startingStep'], a['startingStep'], 0, count);
    if (!templates || startingStep === undefined) ok = false;
    else analysis = { templates, startingStep };
  }
  let cleanup: HookSpec | undefined;
  if (o['hooks'] !== undefined) {
    const h = r.object([...path, 'hooks'], o['hooks'], ['cleanup']);
    if (!h) ok = false;
    else if (h['cleanup'] !== undefined) {
      cleanup = readHook(r, [...path, 'hooks', 'cleanup'], h['cleanup']);
      if (!cleanup) ok = false;
    }
  }
  const rollbackWindowMs = o['rollbackWindow'] === undefined ? undefined : r.duration([...path, 'rollbackWindow'], o['rollbackWindow']);
  if (o['rollbackWindow'] !== undefined && rollbackWindowMs === undefined) ok = false;
  if (!ok || lane === undefined || !services || route === undefined || salt === undefined) return undefined;
  const release: ReleaseSpec = { name, lane, services, entry: { route }, salt, steps, analysis };
  if (cleanup) release.cleanup = cleanup;
  if (rollbackWindowMs !== undefined) release.rollbackWindowMs = rollbackWindowMs;
  return release;
}

function readServices(r: Reader, path: Path, v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
    r.issue(path, v === undefined ? 'missing-key' : 'wrong-type', 'must be a non-empty list of service names');
    return undefined;
  }
  const seen = new Set<string>();
  let ok = true;
  (v as string[]).forEach((s, i) => {
    if (seen.has(s)) {
      r.issue([...path, i], 'duplicate-name', `service ${JSON.stringify(s)} is listed twice`);
      ok = false;
    }
    seen.add(s);
  });
  return ok ? [...(v as string[])] : undefined;
}

/**
 * Checks releases against the rest of the spec: every service exists and has a version named by
 * the lane (not its fallback: that is the version being replaced), the entry route exists and
 * serves one of the release's services, no service is in two releases, and no service is both in a
 * release and in a rollout (each service's routing overlay has one owner).
 */
export function checkReleaseRefs(
  releases: readonly ReleaseSpec[],
  services: ServiceVersions,
  routes: readonly Pick<RouteSpec, 'name' | 'service'>[],
  rollouts: readonly Pick<RolloutSpec, 'name' | 'service'>[],
  ctx: NormalizeContext,
): void {
  const r = new Reader(ctx);
  const owner = new Map<string, string>();
  for (const ro of rollouts) owner.set(ro.service, `rollout ${JSON.stringify(ro.name)}`);
  for (const rel of releases) {
    const path = ['releases', rel.name];
    rel.services.forEach((name, i) => {
      const p = [...path, 'services', i];
      const svc = Object.hasOwn(services, name) ? services[name] : undefined;
      if (!svc) {
        const known = Object.keys(services);
        r.issue(p, 'unknown-service', `unknown service ${JSON.stringify(name)}${known.length ? ` (known: ${known.join(', ')})` : ''}`);
        return;
      }
      if (!Object.hasOwn(svc.versions, rel.lane)) {
        r.issue(p, 'unknown-version', `service ${JSON.stringify(name)} has no version ${JSON.stringify(rel.lane)} (the release's lane): give it one, or leave it out of the release (it then serves the lane from its fallback)`);
      } else if (svc.fallback === rel.lane) {
        r.issue([...path, 'lane'], 'invalid-value', `lane ${JSON.stringify(rel.lane)} is service ${JSON.stringify(name)}'s fallback: a release replaces the fallback with the lane's version`);
      }
      const other = owner.get(name);
      if (other !== undefined) {
        r.issue(p, 'duplicate-name', `service ${JSON.stringify(name)} is already released by ${other}: one release or rollout per service`);
        return;
      }
      owner.set(name, `release ${JSON.stringify(rel.name)}`);
    });
    const route = routes.find((x) => x.name === rel.entry.route);
    if (route === undefined) {
      const known = routes.map((x) => x.name);
      r.issue([...path, 'entry', 'route'], 'invalid-value', `no route named ${JSON.stringify(rel.entry.route)}${known.length ? ` (routes: ${known.join(', ')})` : ''}`);
    } else if (!rel.services.includes(route.service)) {
      r.issue([...path, 'entry', 'route'], 'invalid-value', `route ${JSON.stringify(route.name)} serves ${JSON.stringify(route.service)}, which is not one of the release's services`);
    }
  }
}
