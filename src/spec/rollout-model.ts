/**
 * The rollout part of the config: `rollouts:` (Argo Rollouts-like canary steps, or a blue-green
 * workflow with hooks) and `analysisTemplates:` (one metric each, measured by a provider and judged by
 * conditions). normalizeRollouts() validates the raw YAML data and returns these types with
 * durations in milliseconds and every default filled in, so the controller never re-reads strings.
 *
 * Documented for users in docs/rollouts.md. The shapes are plain JSON (they travel through etcd).
 */
import type { NamedMatch } from './types.js';
import type { IssueCode } from './errors.js';
import type { Path } from './paths.js';
import { parseDuration } from './units.js';
import { isRecord, type NormalizeContext } from './context.js';
import { isObjectName } from './names.js';
import { compileExpr, ExprError } from './expr.js';
import { parseJsonPath, JsonPathError } from './json-path.js';

// ---------------------------------------------------------------------------------------------
// Types

/** A step of `strategy.canary.steps`. */
export type CanaryStep =
  /** Send this share (whole percent, 0..100) of the service's unmarked traffic to the canary lane. */
  | { kind: 'setWeight'; weight: number }
  /** Wait `durationMs`, or for `promote` when null. */
  | { kind: 'pause'; durationMs: number | null }
  /** Run these templates as one analysis run; the step ends when the run succeeds. */
  | { kind: 'analysis'; templates: string[] }
  /** Requests matching the header go to the canary whatever the weight; null removes the route. */
  | { kind: 'setHeaderRoute'; header: NamedMatch | null }
  /**
   * Run a command or a webhook and wait for it (deploy, scale, call CI between weights); a failed
   * hook aborts the rollout. `name` keys its record in the status (`step<N>` unless named).
   */
  | { kind: 'hook'; name: string; hook: HookSpec };

/** Analysis that runs beside the steps, from `startingStep` until the rollout ends. */
export interface BackgroundAnalysis {
  templates: string[];
  startingStep: number;
}

export interface CanaryStrategy {
  kind: 'canary';
  steps: CanaryStep[];
  analysis: BackgroundAnalysis | null;
  /**
   * `hooks.cleanup`: runs once when the attempt ends, however it ends. Absent when not configured
   * (so canaries without it keep their spec hash).
   */
  cleanup?: HookSpec;
}

export type HookName = 'preRollout' | 'postPromotion' | 'cleanup';
export const HOOK_NAMES: readonly HookName[] = ['preRollout', 'postPromotion', 'cleanup'];

/** A command run without a shell (argv), or with `/bin/sh -c` when written as one string. */
export interface CommandHook {
  kind: 'command';
  command: string[];
  env: Record<string, string>;
  cwd: string | null;
  timeoutMs: number;
}

/** A POST of a JSON description of the rollout; any 2xx answer is success. */
export interface WebhookHook {
  kind: 'webhook';
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export type HookSpec = CommandHook | WebhookHook;

/**
 * What promotion means for a blue-green rollout:
 * - `switch` (Argo Rollouts): the new version takes over the service's fallback lane
 *   (overlay `stableVersion`); `postPromotion` runs after the switch.
 * - `upgrade` (Zadig): `postPromotion` upgrades the stable version's own endpoints in place while the
 *   preview still has its share; then the preview's traffic is cut and stable serves everything.
 */
export type BlueGreenPromotion = 'switch' | 'upgrade';

export interface BlueGreenStrategy {
  kind: 'blueGreen';
  /** The lane (= version, one namespace) that receives preview traffic: the rollout's `canary`. */
  previewLane: string;
  /** Share of unmarked traffic sent to the preview before promotion (Zadig sends 50). */
  previewWeight: number;
  prePromotionAnalysis: { templates: string[] } | null;
  /** False: wait for `promote` before promotion. */
  autoPromotionEnabled: boolean;
  /** With auto promotion: wait this long after the preview checks passed (null = promote at once). */
  autoPromotionDelayMs: number | null;
  promotion: BlueGreenPromotion;
  hooks: Partial<Record<HookName, HookSpec>>;
}

export interface RolloutSpec {
  name: string;
  service: string;
  /** The version serving the service's fallback lane before the rollout (default `stable`). */
  stable: string;
  /** The new version; for blue-green the same as `previewLane`. */
  canary: string;
  strategy: CanaryStrategy | BlueGreenStrategy;
  /**
   * Every attempt starts paused (as `rollout pause` would) until `rollout resume`: Argo's
   * `spec.paused`, so a rollout added to a running config can be reviewed before it moves traffic.
   * Read only when an attempt starts, so it is left out of the spec hash: editing it later neither
   * aborts nor restarts an attempt. Absent = false.
   */
  paused?: boolean;
  /**
   * How long after completion `rollout undo` may put the previous stable back (default
   * DEFAULT_ROLLBACK_WINDOW_MS, see rollbackWindowOf). Read only by undo, so left out of the spec
   * hash like `paused`. Absent = not written in the config.
   */
  rollbackWindowMs?: number;
  /**
   * Set only on the rollout src/rollout/release.ts derives from a release: the state machine runs a
   * release as a canary of its lane (`canary`) whose weight is the lane's share of users at `route`,
   * and whose overlay covers every service. Part of the spec hash: changing the services, route or
   * salt starts a new attempt.
   */
  release?: ReleaseTarget;
}

/** What a release adds to the rollout that runs it. */
export interface ReleaseTarget {
  /** The release's own name (the rollout's is `release:<name>`). */
  name: string;
  services: string[];
  route: string;
  salt: string;
}

/** `rollbackWindow` when the config leaves it out: 30 minutes. */
export const DEFAULT_ROLLBACK_WINDOW_MS = 30 * 60_000;

/** The rollback window of a rollout (or a release): its own, or the default. */
export function rollbackWindowOf(spec: { rollbackWindowMs?: number }): number {
  return spec.rollbackWindowMs ?? DEFAULT_ROLLBACK_WINDOW_MS;
}

export type BuiltinMetric = 'requests' | 'errors' | 'errorRate' | 'successRate' | 'p50' | 'p90' | 'p99';
export const BUILTIN_METRICS: readonly BuiltinMetric[] = ['requests', 'errors', 'errorRate', 'successRate', 'p50', 'p90', 'p99'];

export type ProviderSpec =
  | {
      kind: 'builtin';
      metric: BuiltinMetric;
      /** Service to read; null = the rollout's. */
      service: string | null;
      /** `canary` / `stable` name the rollout's versions; anything else is a version name. */
      version: string;
      windowMs: number;
      /** Fewer requests in the window: the measurement is Inconclusive (not enough traffic to judge). */
      minRequests: number;
    }
  | {
      /** `builtin: { compare: ... }`: the canary against stable over the same window (compare.ts). */
      kind: 'compare';
      /** Service to read; null = the rollout's. */
      service: string | null;
      windowMs: number;
      /** False-alarm rate of the whole verdict, split evenly over the checks. */
      alpha: number;
      /** Requests each version needs in the window (by chance: split, percent) before any verdict. */
      minSamples: number;
      errorRate: Record<string, never> | null;
      latency: { quantile: number; toleranceMs: number } | null;
    }
  | { kind: 'prometheus'; address: string; query: string; headers: Record<string, string>; timeoutMs: number }
  | {
      kind: 'web';
      url: string;
      method: 'GET' | 'POST';
      headers: Record<string, string>;
      body: string | null;
      /** `$.data.rate`; null = the whole JSON body. */
      jsonPath: string | null;
      timeoutMs: number;
    }
  | { kind: 'job'; command: string[]; env: Record<string, string>; cwd: string | null; timeoutMs: number };

/** One metric: measured `count` times every `intervalMs`, each measurement judged by the conditions. */
export interface AnalysisTemplate {
  name: string;
  intervalMs: number | null;
  initialDelayMs: number;
  /** Measurements to take; null = until the run is terminated (background analysis). */
  count: number | null;
  failureLimit: number;
  inconclusiveLimit: number;
  consecutiveErrorLimit: number;
  successCondition: string | null;
  failureCondition: string | null;
  provider: ProviderSpec;
}

export interface NormalizedRollouts {
  rollouts: RolloutSpec[];
  templates: Record<string, AnalysisTemplate>;
}

// ---------------------------------------------------------------------------------------------
// Defaults (docs/rollouts.md lists them)

const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;
const DEFAULT_PROVIDER_TIMEOUT_MS = 30_000;
const DEFAULT_JOB_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_HOOK_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_BUILTIN_WINDOW_MS = 60_000;
const DEFAULT_COMPARE_ALPHA = 0.05;
const DEFAULT_COMPARE_MIN_SAMPLES = 500;


// ---------------------------------------------------------------------------------------------
// Normalization

/**
 * Validates `rollouts` and `analysisTemplates` of the config root and fills in defaults. Never throws:
 * everything wrong is an issue reported to `ctx` at its key path (the loader gives it file, line and
 * column), and what is wrong is left out of the result. Cross-references to services and versions
 * are checked by checkRolloutRefs().
 *
 * @example
 * const ctx = new NormalizeContext(yamlRoot, source.sourceText);
 * const { rollouts, templates } = normalizeRollouts(yamlRoot, ctx); // ctx.issues: what is wrong
 */
export function normalizeRollouts(raw: unknown, ctx: NormalizeContext): NormalizedRollouts {
  const r = new Reader(ctx);
  const root = isRecord(raw) ? raw : {};
  const templates: Record<string, AnalysisTemplate> = {};
  const rawTemplates = root['analysisTemplates'];
  if (rawTemplates !== undefined && rawTemplates !== null) {
    if (!isRecord(rawTemplates)) r.issue(['analysisTemplates'], 'wrong-type', 'must be a map of template names to templates');
    else {
      for (const [name, value] of Object.entries(rawTemplates)) {
        const path = ['analysisTemplates', name];
        if (!isObjectName(name)) r.issue(path, 'bad-name', `template name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-'`);
        const t = readTemplate(r, path, name, value);
        if (t) templates[name] = t;
      }
    }
  }
  const rollouts: RolloutSpec[] = [];
  const rawRollouts = root['rollouts'];
  if (rawRollouts !== undefined && rawRollouts !== null) {
    if (!Array.isArray(rawRollouts)) r.issue(['rollouts'], 'wrong-type', 'must be a list of rollouts');
    else {
      const names = new Map<string, number>();
      const services = new Map<string, number>();
      rawRollouts.forEach((value, i) => {
        const ro = readRollout(r, ['rollouts', i], value, rawTemplates, templates);
        if (!ro) return;
        const seen = names.get(ro.name);
        if (seen !== undefined) {
          r.issue(['rollouts', i, 'name'], 'duplicate-name', `rollout ${JSON.stringify(ro.name)} is already defined at rollouts[${seen}]`);
          return;
        }
        const other = services.get(ro.service);
        if (other !== undefined) {
          r.issue(['rollouts', i, 'service'], 'duplicate-name', `service ${JSON.stringify(ro.service)} already has a rollout (rollouts[${other}]): one rollout per service`);
          return;
        }
        names.set(ro.name, i);
        services.set(ro.service, i);
        rollouts.push(ro);
      });
    }
  }
  return { rollouts, templates };
}

/** What checkRolloutRefs needs of the Spec's services (Spec['services'] fits). */
export type ServiceVersions = Record<string, { fallback: string; versions: Record<string, unknown> }>;

/**
 * Checks rollouts against the spec's services: the service exists, `stable` is its fallback (a
 * completed rollout hands the fallback lane to the canary), and both versions exist. `index` maps a
 * rollout back to its position for the key path (defaults to its position in `rollouts`).
 */
export function checkRolloutRefs(
  rollouts: readonly RolloutSpec[],
  services: ServiceVersions,
  ctx: NormalizeContext,
  index: (rollout: RolloutSpec, i: number) => number = (_ro, i) => i,
): void {
  const r = new Reader(ctx);
  rollouts.forEach((ro, position) => {
    // normalizeRollouts leaves broken rollouts out, so the position in `rollouts` may not be the file's.
    const i = index(ro, position);
    const svc = Object.hasOwn(services, ro.service) ? services[ro.service] : undefined;
    if (!svc) {
      r.issue(['rollouts', i, 'service'], 'unknown-service', `unknown service ${JSON.stringify(ro.service)}`);
      return;
    }
    if (ro.stable !== svc.fallback) {
      r.issue(['rollouts', i, 'stable'], 'invalid-value', `must be the service's fallback version ${JSON.stringify(svc.fallback)}: a completed rollout hands that lane to the canary`);
    }
    for (const key of ['stable', 'canary'] as const) {
      if (!Object.hasOwn(svc.versions, ro[key])) {
        r.issue(['rollouts', i, key], 'unknown-version', `service ${JSON.stringify(ro.service)} has no version ${JSON.stringify(ro[key])}`);
      }
    }
  });
}

function readRollout(
  r: Reader,
  path: Path,
  value: unknown,
  rawTemplates: unknown,
  templates: Record<string, AnalysisTemplate>,
): RolloutSpec | undefined {
  const o = r.object(path, value, ['name', 'service', 'stable', 'canary', 'paused', 'rollbackWindow', 'strategy']);
  if (!o) return undefined;
  const name = r.name(path, o, 'name', true);
  const service = r.name(path, o, 'service', true);
  const stable = r.name(path, o, 'stable', false) ?? 'stable';
  let canary = r.name(path, o, 'canary', false);
  const paused = r.bool([...path, 'paused'], o['paused'], false);
  const rollbackWindowMs = o['rollbackWindow'] === undefined ? undefined : r.duration([...path, 'rollbackWindow'], o['rollbackWindow']);
  if (o['rollbackWindow'] !== undefined && rollbackWindowMs === undefined) return undefined;
  const strategyPath = [...path, 'strategy'];
  const s = r.object(strategyPath, o['strategy'], ['canary', 'blueGreen'], true);
  if (!s) return undefined;
  const kinds = ['canary', 'blueGreen'].filter((k) => s[k] !== undefined);
  if (kinds.length !== 1) {
    r.issue(strategyPath, kinds.length === 0 ? 'missing-key' : 'invalid-value', 'needs exactly one of canary or blueGreen');
    return undefined;
  }
  const refs = new TemplateRefs(r, rawTemplates, templates);
  let strategy: CanaryStrategy | BlueGreenStrategy | undefined;
  if (kinds[0] === 'canary') {
    strategy = readCanary(r, [...strategyPath, 'canary'], s['canary'], refs);
    if (canary === undefined && o['canary'] === undefined) r.issue([...path, 'canary'], 'missing-key', 'names the new version');
  } else {
    const bg = readBlueGreen(r, [...strategyPath, 'blueGreen'], s['blueGreen'], refs, canary);
    if (bg) {
      canary ??= bg.previewLane;
      strategy = bg;
    }
  }
  if (name === undefined || service === undefined || canary === undefined || strategy === undefined) return undefined;
  if (canary === stable) {
    r.issue([...path, 'canary'], 'invalid-value', `must differ from stable (${JSON.stringify(stable)})`);
    return undefined;
  }
  const spec: RolloutSpec = { name, service, stable, canary, strategy };
  if (paused) spec.paused = true;
  if (rollbackWindowMs !== undefined) spec.rollbackWindowMs = rollbackWindowMs;
  return spec;
}

function readCanary(r: Reader, path: Path, value: unknown, refs: TemplateRefs): CanaryStrategy | undefined {
  const o = r.object(path, value, ['steps', 'analysis', 'hooks'], true);
  if (!o) return undefined;
  const steps: CanaryStep[] = [];
  let ok = true;
  const stepsPath = [...path, 'steps'];
  if (!Array.isArray(o['steps']) || o['steps'].length === 0) {
    r.issue(stepsPath, o['steps'] === undefined ? 'missing-key' : 'wrong-type', 'must be a non-empty list of steps');
    return undefined;
  }
  const hookNames = new Map<string, number>();
  o['steps'].forEach((raw, i) => {
    const step = readStep(r, [...stepsPath, i], raw, refs, i);
    if (step?.kind === 'hook') {
      const seen = hookNames.get(step.name);
      if (seen !== undefined) {
        r.issue([...stepsPath, i, 'hook', 'name'], 'duplicate-name', `hook step ${JSON.stringify(step.name)} is already defined at steps[${seen}]`);
        ok = false;
        return;
      }
      hookNames.set(step.name, i);
    }
    if (step) steps.push(step);
    else ok = false;
  });
  let cleanup: HookSpec | undefined;
  if (o['hooks'] !== undefined) {
    const hp = [...path, 'hooks'];
    const h = r.object(hp, o['hooks'], ['cleanup']);
    if (!h) ok = false;
    else if (h['cleanup'] !== undefined) {
      cleanup = readHook(r, [...hp, 'cleanup'], h['cleanup']);
      if (!cleanup) ok = false;
    }
  }
  let analysis: BackgroundAnalysis | null = null;
  if (o['analysis'] !== undefined) {
    const aPath = [...path, 'analysis'];
    const a = r.object(aPath, o['analysis'], ['templates', 'startingStep'], true);
    if (!a) return undefined;
    const templates = refs.list(aPath, a);
    // Bounded by the steps as written: the ones with issues of their own still count as steps.
    const startingStep = a['startingStep'] === undefined ? 0 : r.int([...aPath, 'startingStep'], a['startingStep'], 0, o['steps'].length);
    if (!templates || startingStep === undefined) return undefined;
    analysis = { templates, startingStep };
  }
  if (!ok) return undefined;
  return cleanup === undefined ? { kind: 'canary', steps, analysis } : { kind: 'canary', steps, analysis, cleanup };
}

const STEP_KINDS = ['setWeight', 'pause', 'analysis', 'setHeaderRoute', 'hook'] as const;

/** One canary step (release-model.ts reads release steps with it too). */
export function readStep(r: Reader, path: Path, value: unknown, refs: TemplateRefs, index: number): CanaryStep | undefined {
  const o = r.object(path, value, STEP_KINDS, true);
  if (!o) return undefined;
  const keys = Object.keys(o);
  if (keys.length !== 1) {
    r.issue(path, keys.length === 0 ? 'missing-key' : 'invalid-value', `a step has exactly one of ${STEP_KINDS.join(', ')}`);
    return undefined;
  }
  const kind = keys[0] as (typeof STEP_KINDS)[number];
  const p = [...path, kind];
  const v = o[kind];
  switch (kind) {
    case 'setWeight': {
      const weight = r.int(p, v, 0, 100);
      return weight === undefined ? undefined : { kind, weight };
    }
    case 'pause': {
      if (v === null) return { kind, durationMs: null };
      const po = r.object(p, v, ['duration']);
      if (!po) return undefined;
      if (po['duration'] === undefined) return { kind, durationMs: null };
      const durationMs = r.duration([...p, 'duration'], po['duration']);
      return durationMs === undefined ? undefined : { kind, durationMs };
    }
    case 'analysis': {
      const ao = r.object(p, v, ['templates'], true);
      const templates = ao && refs.list(p, ao);
      return templates ? { kind, templates } : undefined;
    }
    case 'setHeaderRoute': {
      if (v === null) return { kind, header: null };
      const ho = r.object(p, v, ['header']);
      if (!ho) return undefined;
      if (ho['header'] === undefined || ho['header'] === null) return { kind, header: null };
      const header = readHeaderMatch(r, [...p, 'header'], ho['header']);
      return header ? { kind, header } : undefined;
    }
    case 'hook':
      return readHookStep(r, p, v, index);
  }
}

/** `hook: { name?, command | webhook, env, cwd, timeout }`: the blue-green hook shape plus a name. */
function readHookStep(r: Reader, p: Path, v: unknown, index: number): CanaryStep | undefined {
  if (!isRecord(v)) return void r.issue(p, 'wrong-type', 'must be a map with command or webhook');
  const { name: rawName, ...rest } = v;
  let name = `step${index + 1}`;
  if (rawName !== undefined) {
    const n = r.name(p, v, 'name', true);
    if (n === undefined) return undefined;
    if ((HOOK_NAMES as readonly string[]).includes(n)) {
      return void r.issue([...p, 'name'], 'invalid-value', `${JSON.stringify(n)} is the name of a rollout hook; name the step something else`);
    }
    name = n;
  }
  const hook = readHook(r, p, rest);
  return hook ? { kind: 'hook', name, hook } : undefined;
}

function readHeaderMatch(r: Reader, path: Path, value: unknown): NamedMatch | undefined {
  const o = r.object(path, value, ['name', 'equals', 'in', 'pattern', 'present'], true);
  if (!o) return undefined;
  const name = r.string(path, o, 'name', true);
  const tests = ['equals', 'in', 'pattern', 'present'].filter((k) => o[k] !== undefined);
  if (tests.length !== 1) {
    r.issue(path, tests.length === 0 ? 'missing-key' : 'invalid-value', 'needs exactly one of equals, in, pattern or present');
    return undefined;
  }
  if (name === undefined) return undefined;
  const match: NamedMatch = { name: name.toLowerCase() };
  const key = tests[0]!;
  const v = o[key];
  const p = [...path, key];
  if (key === 'equals') {
    if (typeof v !== 'string') return void r.issue(p, 'wrong-type', 'must be a string');
    match.equals = v;
  } else if (key === 'in') {
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
      return void r.issue(p, 'wrong-type', 'must be a non-empty list of strings');
    }
    match.in = v as string[];
  } else if (key === 'pattern') {
    if (typeof v !== 'string') return void r.issue(p, 'wrong-type', 'must be a regular expression string');
    try {
      new RegExp(v);
    } catch (e) {
      return void r.issue(p, 'bad-regex', (e as Error).message);
    }
    match.pattern = v;
  } else {
    if (v !== true) return void r.issue(p, 'invalid-value', 'must be true');
    match.present = true;
  }
  return match;
}

function readBlueGreen(
  r: Reader,
  path: Path,
  value: unknown,
  refs: TemplateRefs,
  canary: string | undefined,
): BlueGreenStrategy | undefined {
  const keys = ['previewLane', 'previewWeight', 'prePromotionAnalysis', 'autoPromotionEnabled', 'autoPromotionDelay', 'promotion', 'hooks'];
  const o = r.object(path, value ?? {}, keys);
  if (!o) return undefined;
  let ok = true;
  let previewLane = r.name(path, o, 'previewLane', false);
  if (previewLane === undefined && o['previewLane'] !== undefined) ok = false;
  if (previewLane !== undefined && canary !== undefined && previewLane !== canary) {
    // Lanes and versions share one namespace: the preview lane *is* the new version.
    r.issue([...path, 'previewLane'], 'invalid-value', `must equal the rollout's canary ${JSON.stringify(canary)} (lanes are version names)`);
    ok = false;
  }
  previewLane ??= canary;
  if (previewLane === undefined) {
    r.issue([...path, 'previewLane'], 'missing-key', 'names the new version (or set the rollout\'s canary)');
    ok = false;
  }
  const previewWeight = o['previewWeight'] === undefined ? 0 : r.int([...path, 'previewWeight'], o['previewWeight'], 0, 100);
  let prePromotionAnalysis: { templates: string[] } | null = null;
  if (o['prePromotionAnalysis'] !== undefined) {
    const ap = [...path, 'prePromotionAnalysis'];
    const a = r.object(ap, o['prePromotionAnalysis'], ['templates'], true);
    const templates = a && refs.list(ap, a);
    if (templates) prePromotionAnalysis = { templates };
    else ok = false;
  }
  const autoPromotionEnabled = r.bool([...path, 'autoPromotionEnabled'], o['autoPromotionEnabled'], true);
  let autoPromotionDelayMs: number | null = null;
  if (o['autoPromotionDelay'] !== undefined) {
    const d = r.duration([...path, 'autoPromotionDelay'], o['autoPromotionDelay']);
    if (d === undefined) ok = false;
    else autoPromotionDelayMs = d;
  }
  let promotion: BlueGreenPromotion = 'switch';
  if (o['promotion'] !== undefined) {
    if (o['promotion'] === 'switch' || o['promotion'] === 'upgrade') promotion = o['promotion'];
    else {
      r.issue([...path, 'promotion'], 'invalid-value', 'must be switch or upgrade');
      ok = false;
    }
  }
  const hooks: Partial<Record<HookName, HookSpec>> = {};
  if (o['hooks'] !== undefined) {
    const hp = [...path, 'hooks'];
    const h = r.object(hp, o['hooks'], HOOK_NAMES);
    if (!h) ok = false;
    else {
      for (const name of HOOK_NAMES) {
        if (h[name] === undefined) continue;
        const hook = readHook(r, [...hp, name], h[name]);
        if (hook) hooks[name] = hook;
        else ok = false;
      }
    }
  }
  if (!ok || previewLane === undefined || previewWeight === undefined || autoPromotionEnabled === undefined) return undefined;
  return { kind: 'blueGreen', previewLane, previewWeight, prePromotionAnalysis, autoPromotionEnabled, autoPromotionDelayMs, promotion, hooks };
}

/** A hook: exactly one of command or webhook (release-model.ts reads a release's cleanup with it). */
export function readHook(r: Reader, path: Path, value: unknown): HookSpec | undefined {
  const o = r.object(path, value, ['command', 'env', 'cwd', 'webhook', 'timeout'], true);
  if (!o) return undefined;
  const kinds = ['command', 'webhook'].filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) {
    r.issue(path, kinds.length === 0 ? 'missing-key' : 'invalid-value', 'needs exactly one of command or webhook');
    return undefined;
  }
  const timeoutMs = o['timeout'] === undefined ? DEFAULT_HOOK_TIMEOUT_MS : r.duration([...path, 'timeout'], o['timeout']);
  if (timeoutMs === undefined) return undefined;
  if (kinds[0] === 'command') {
    const command = r.command([...path, 'command'], o['command']);
    const env = r.stringMap([...path, 'env'], o['env']);
    const cwd = o['cwd'] === undefined ? null : r.string(path, o, 'cwd', true);
    if (!command || !env || cwd === undefined) return undefined;
    return { kind: 'command', command, env, cwd, timeoutMs };
  }
  if (o['env'] !== undefined || o['cwd'] !== undefined) {
    r.issue(path, 'invalid-value', 'env and cwd apply to command hooks only');
    return undefined;
  }
  const wp = [...path, 'webhook'];
  const w = typeof o['webhook'] === 'string' ? { url: o['webhook'] } : r.object(wp, o['webhook'], ['url', 'headers'], true);
  if (!w) return undefined;
  const url = r.url(wp, w, 'url');
  const headers = r.stringMap([...wp, 'headers'], w['headers']);
  if (!url || !headers) return undefined;
  return { kind: 'webhook', url, headers, timeoutMs };
}

function readTemplate(r: Reader, path: Path, name: string, value: unknown): AnalysisTemplate | undefined {
  const keys = ['interval', 'initialDelay', 'count', 'failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit', 'successCondition', 'failureCondition', 'provider'];
  const o = r.object(path, value, keys, true);
  if (!o) return undefined;
  const intervalMs = o['interval'] === undefined ? null : r.duration([...path, 'interval'], o['interval']);
  const initialDelayMs = o['initialDelay'] === undefined ? 0 : r.duration([...path, 'initialDelay'], o['initialDelay']);
  let count: number | null | undefined = o['count'] === undefined ? (intervalMs === null ? 1 : null) : r.int([...path, 'count'], o['count'], 1, 1_000_000);
  if (typeof count === 'number' && count > 1 && intervalMs === null) {
    r.issue([...path, 'count'], 'invalid-value', 'more than one measurement needs an interval');
    count = undefined;
  }
  if (intervalMs === 0) r.issue([...path, 'interval'], 'out-of-range', 'must be more than 0');
  const failureLimit = o['failureLimit'] === undefined ? 0 : r.int([...path, 'failureLimit'], o['failureLimit'], 0, 1_000_000);
  const inconclusiveLimit = o['inconclusiveLimit'] === undefined ? 0 : r.int([...path, 'inconclusiveLimit'], o['inconclusiveLimit'], 0, 1_000_000);
  const consecutiveErrorLimit =
    o['consecutiveErrorLimit'] === undefined ? DEFAULT_CONSECUTIVE_ERROR_LIMIT : r.int([...path, 'consecutiveErrorLimit'], o['consecutiveErrorLimit'], 0, 1_000_000);
  const successCondition = r.condition([...path, 'successCondition'], o['successCondition']);
  const failureCondition = r.condition([...path, 'failureCondition'], o['failureCondition']);
  const provider = readProvider(r, [...path, 'provider'], o['provider']);
  if (provider?.kind === 'compare' && (successCondition !== null || failureCondition !== null)) {
    const key = successCondition !== null ? 'successCondition' : 'failureCondition';
    r.issue([...path, key], 'invalid-value', 'builtin compare gives its own verdict (the canary worse than stable or not): no conditions');
    return undefined;
  }
  if (
    intervalMs === undefined || intervalMs === 0 || initialDelayMs === undefined || count === undefined || failureLimit === undefined ||
    inconclusiveLimit === undefined || consecutiveErrorLimit === undefined || successCondition === undefined ||
    failureCondition === undefined || !provider
  ) {
    return undefined;
  }
  return { name, intervalMs, initialDelayMs, count, failureLimit, inconclusiveLimit, consecutiveErrorLimit, successCondition, failureCondition, provider };
}

function readProvider(r: Reader, path: Path, value: unknown): ProviderSpec | undefined {
  const o = r.object(path, value, ['builtin', 'prometheus', 'web', 'job'], true);
  if (!o) return undefined;
  const kinds = Object.keys(o);
  if (kinds.length !== 1) {
    r.issue(path, kinds.length === 0 ? 'missing-key' : 'invalid-value', 'needs exactly one of builtin, prometheus, web or job');
    return undefined;
  }
  const kind = kinds[0] as 'builtin' | 'prometheus' | 'web' | 'job';
  const p = [...path, kind];
  switch (kind) {
    case 'builtin': {
      const b = r.object(p, o[kind], ['metric', 'compare', 'service', 'version', 'window', 'minRequests'], true);
      if (!b) return undefined;
      if (b['compare'] !== undefined) return readCompare(r, p, b);
      const metric = b['metric'];
      if (!BUILTIN_METRICS.includes(metric as BuiltinMetric)) {
        r.issue([...p, 'metric'], b['metric'] === undefined ? 'missing-key' : 'invalid-value', `must be one of ${BUILTIN_METRICS.join(', ')}`);
        return undefined;
      }
      const service = b['service'] === undefined ? null : r.name(p, b, 'service', true);
      const version = r.name(p, b, 'version', false) ?? 'canary';
      const windowMs = b['window'] === undefined ? DEFAULT_BUILTIN_WINDOW_MS : r.duration([...p, 'window'], b['window']);
      const minRequests = b['minRequests'] === undefined ? 1 : r.int([...p, 'minRequests'], b['minRequests'], 0, 1_000_000_000);
      if (service === undefined || windowMs === undefined || minRequests === undefined) return undefined;
      if (windowMs === 0) return void r.issue([...p, 'window'], 'out-of-range', 'must be more than 0');
      return { kind, metric: metric as BuiltinMetric, service, version, windowMs, minRequests };
    }
    case 'prometheus': {
      const b = r.object(p, o[kind], ['address', 'query', 'headers', 'timeout'], true);
      if (!b) return undefined;
      const address = r.url(p, b, 'address');
      const query = r.string(p, b, 'query', true);
      const headers = r.stringMap([...p, 'headers'], b['headers']);
      const timeoutMs = b['timeout'] === undefined ? DEFAULT_PROVIDER_TIMEOUT_MS : r.duration([...p, 'timeout'], b['timeout']);
      if (!address || query === undefined || !headers || timeoutMs === undefined) return undefined;
      return { kind, address, query, headers, timeoutMs };
    }
    case 'web': {
      const b = r.object(p, o[kind], ['url', 'method', 'headers', 'body', 'jsonPath', 'timeout'], true);
      if (!b) return undefined;
      const url = r.url(p, b, 'url');
      const method = b['method'] === undefined ? 'GET' : b['method'];
      if (method !== 'GET' && method !== 'POST') return void r.issue([...p, 'method'], 'invalid-value', 'must be GET or POST');
      const headers = r.stringMap([...p, 'headers'], b['headers']);
      let body: string | null = null;
      if (b['body'] !== undefined) body = typeof b['body'] === 'string' ? b['body'] : JSON.stringify(b['body']);
      let jsonPath: string | null = null;
      if (b['jsonPath'] !== undefined) {
        const jp = r.string(p, b, 'jsonPath', true);
        if (jp === undefined) return undefined;
        try {
          parseJsonPath(jp);
        } catch (e) {
          if (!(e instanceof JsonPathError)) throw e;
          return void r.issue([...p, 'jsonPath'], 'invalid-value', e.message);
        }
        jsonPath = jp;
      }
      const timeoutMs = b['timeout'] === undefined ? DEFAULT_PROVIDER_TIMEOUT_MS : r.duration([...p, 'timeout'], b['timeout']);
      if (!url || !headers || timeoutMs === undefined) return undefined;
      return { kind, url, method, headers, body, jsonPath, timeoutMs };
    }
    case 'job': {
      const b = r.object(p, o[kind], ['command', 'env', 'cwd', 'timeout'], true);
      if (!b) return undefined;
      const command = r.command([...p, 'command'], b['command']);
      const env = r.stringMap([...p, 'env'], b['env']);
      const cwd = b['cwd'] === undefined ? null : r.string(p, b, 'cwd', true);
      const timeoutMs = b['timeout'] === undefined ? DEFAULT_JOB_TIMEOUT_MS : r.duration([...p, 'timeout'], b['timeout']);
      if (!command || !env || cwd === undefined || timeoutMs === undefined) return undefined;
      return { kind, command, env, cwd, timeoutMs };
    }
  }
}

/** `builtin: { compare: { alpha, minSamples, errorRate, latency }, window, service }` (see compare.ts). */
function readCompare(r: Reader, p: Path, b: Record<string, unknown>): ProviderSpec | undefined {
  for (const key of ['metric', 'version', 'minRequests']) {
    if (b[key] !== undefined) {
      const why = key === 'minRequests' ? 'use compare.minSamples' : key === 'version' ? 'it compares the canary with stable' : 'it has its own checks';
      return void r.issue([...p, key], 'invalid-value', `not with compare: ${why}`);
    }
  }
  const cp = [...p, 'compare'];
  const c = r.object(cp, b['compare'], ['alpha', 'minSamples', 'errorRate', 'latency']);
  if (!c) return undefined;
  const service = b['service'] === undefined ? null : r.name(p, b, 'service', true);
  const windowMs = b['window'] === undefined ? DEFAULT_BUILTIN_WINDOW_MS : r.duration([...p, 'window'], b['window']);
  if (windowMs === 0) return void r.issue([...p, 'window'], 'out-of-range', 'must be more than 0');
  let alpha: number | undefined = DEFAULT_COMPARE_ALPHA;
  if (c['alpha'] !== undefined) {
    const a = c['alpha'];
    if (typeof a !== 'number' || !(a > 0 && a < 0.5)) {
      r.issue([...cp, 'alpha'], typeof a === 'number' ? 'out-of-range' : 'wrong-type', 'must be a number above 0 and below 0.5 (e.g. 0.05)');
      alpha = undefined;
    } else alpha = a;
  }
  const minSamples = c['minSamples'] === undefined ? DEFAULT_COMPARE_MIN_SAMPLES : r.int([...cp, 'minSamples'], c['minSamples'], 1, 1_000_000_000);
  // Neither check named: both. An empty map `errorRate: {}` turns one on.
  const both = c['errorRate'] === undefined && c['latency'] === undefined;
  let errorRate: Record<string, never> | null | undefined = null;
  if (both || c['errorRate'] !== undefined) errorRate = r.object([...cp, 'errorRate'], c['errorRate'] ?? {}, []) ? {} : undefined;
  let latency: { quantile: number; toleranceMs: number } | null | undefined = null;
  if (both || c['latency'] !== undefined) latency = readCompareLatency(r, [...cp, 'latency'], c['latency'] ?? {});
  if (service === undefined || windowMs === undefined || alpha === undefined || minSamples === undefined || errorRate === undefined || latency === undefined) {
    return undefined;
  }
  return { kind: 'compare', service, windowMs, alpha, minSamples, errorRate, latency };
}

function readCompareLatency(r: Reader, path: Path, value: unknown): { quantile: number; toleranceMs: number } | undefined {
  const l = r.object(path, value, ['quantile', 'tolerance']);
  if (!l) return undefined;
  const q = l['quantile'] ?? 0.5;
  if (typeof q !== 'number' || !(q > 0 && q < 1)) {
    return void r.issue([...path, 'quantile'], typeof q === 'number' ? 'out-of-range' : 'wrong-type', 'must be a number above 0 and below 1 (0.5 is the median)');
  }
  const toleranceMs = l['tolerance'] === undefined ? 0 : r.duration([...path, 'tolerance'], l['tolerance']);
  if (toleranceMs === undefined) return undefined;
  return { quantile: q, toleranceMs };
}

/** Resolves template names of one rollout; an unknown name is an issue unless its template was itself broken. */
export class TemplateRefs {
  constructor(
    private readonly r: Reader,
    private readonly raw: unknown,
    private readonly templates: Record<string, AnalysisTemplate>,
  ) {}

  list(path: Path, o: Record<string, unknown>): string[] | undefined {
    const p = [...path, 'templates'];
    const v = o['templates'];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
      this.r.issue(p, v === undefined ? 'missing-key' : 'wrong-type', 'must be a non-empty list of template names');
      return undefined;
    }
    let ok = true;
    v.forEach((name: string, i) => {
      if (Object.hasOwn(this.templates, name)) return;
      ok = false;
      const declared = isRecord(this.raw) && Object.hasOwn(this.raw, name);
      if (!declared) {
        const known = Object.keys(this.templates);
        this.r.issue([...p, i], 'invalid-value', `unknown analysis template ${JSON.stringify(name)}${known.length ? ` (known: ${known.join(', ')})` : ''}`);
      }
    });
    return ok ? [...new Set(v as string[])] : undefined;
  }
}

/** Issues that point at a key rather than at its value (the loader places them on the key). */
const AT_KEY: ReadonlySet<IssueCode> = new Set(['unknown-key', 'duplicate-name']);

/**
 * Typed readers for the rollout part that report to the spec's NormalizeContext and return
 * undefined on a bad value. Stricter than context.ts's tolerant readers on purpose: the schema's
 * block for these keys is shallow, so these readers are where a wrong shape is found.
 */
export class Reader {
  constructor(private readonly ctx: NormalizeContext) {}

  issue(path: Path, code: IssueCode, message: string): void {
    this.ctx.report([...path], code, message, AT_KEY.has(code) ? 'key' : undefined);
  }

  object(path: Path, v: unknown, keys: readonly string[], required = false): Record<string, unknown> | undefined {
    if (v === undefined || v === null) {
      if (required || v === null) this.issue(path, v === undefined ? 'missing-key' : 'wrong-type', 'must be a map');
      else return {};
      return undefined;
    }
    if (!isRecord(v)) {
      this.issue(path, 'wrong-type', 'must be a map');
      return undefined;
    }
    let ok = true;
    for (const k of Object.keys(v)) {
      if (!keys.includes(k)) {
        this.issue([...path, k], 'unknown-key', `unknown key ${JSON.stringify(k)} (expected ${keys.join(', ')})`);
        ok = false;
      }
    }
    return ok ? v : undefined;
  }

  string(path: Path, o: Record<string, unknown>, key: string, required: boolean): string | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.issue([...path, key], 'missing-key', 'is required');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      this.issue([...path, key], 'wrong-type', 'must be a non-empty string');
      return undefined;
    }
    return v;
  }

  name(path: Path, o: Record<string, unknown>, key: string, required: boolean): string | undefined {
    const v = this.string(path, o, key, required);
    if (v !== undefined && !isObjectName(v)) {
      this.issue([...path, key], 'bad-name', `${JSON.stringify(v)} must be letters, digits, '.', '_' or '-'`);
      return undefined;
    }
    return v;
  }

  url(path: Path, o: Record<string, unknown>, key: string): string | undefined {
    const v = this.string(path, o, key, true);
    if (v === undefined) return undefined;
    let ok = false;
    try {
      const u = new URL(v);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) this.issue([...path, key], 'bad-url', `${JSON.stringify(v)} is not an http(s) URL`);
    return ok ? v : undefined;
  }

  int(path: Path, v: unknown, min: number, max: number): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.issue(path, 'wrong-type', 'must be a whole number');
      return undefined;
    }
    if (v < min || v > max) {
      this.issue(path, 'out-of-range', `must be between ${min} and ${max}`);
      return undefined;
    }
    return v;
  }

  bool(path: Path, v: unknown, dflt: boolean): boolean | undefined {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') {
      this.issue(path, 'wrong-type', 'must be true or false');
      return undefined;
    }
    return v;
  }

  duration(path: Path, v: unknown): number | undefined {
    const ms = parseDuration(v);
    if (ms === undefined) this.issue(path, 'bad-duration', `${JSON.stringify(v)} is not a duration (250ms, 30s, 2m, 1h, or milliseconds)`);
    return ms;
  }

  stringMap(path: Path, v: unknown): Record<string, string> | undefined {
    if (v === undefined) return {};
    if (!isRecord(v) || !Object.values(v).every((x) => typeof x === 'string')) {
      this.issue(path, 'wrong-type', 'must be a map of strings');
      return undefined;
    }
    return { ...(v as Record<string, string>) };
  }

  /** `[npm, run, e2e]` runs without a shell; a single string runs with `/bin/sh -c`. */
  command(path: Path, v: unknown): string[] | undefined {
    if (typeof v === 'string' && v.trim() !== '') return ['/bin/sh', '-c', v];
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string') && v[0] !== '') return [...(v as string[])];
    this.issue(path, v === undefined ? 'missing-key' : 'wrong-type', 'must be a list of arguments (no shell) or one shell command string');
    return undefined;
  }

  condition(path: Path, v: unknown): string | null | undefined {
    if (v === undefined) return null;
    if (typeof v !== 'string') {
      this.issue(path, 'wrong-type', 'must be an expression string such as "result < 0.01"');
      return undefined;
    }
    try {
      compileExpr(v);
      return v;
    } catch (e) {
      if (!(e instanceof ExprError)) throw e;
      this.issue(path, 'invalid-value', e.message);
      return undefined;
    }
  }
}
