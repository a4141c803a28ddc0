/**
 * Renders deploy/ overlays with `kubectl kustomize` (offline) and checks every object against the
 * Kubernetes schemas, two ways, because neither alone catches a typo:
 * - kubernetes-models' validators (compiled from the Kubernetes OpenAPI): types, required fields,
 *   enums, formats. The OpenAPI schemas allow unknown fields, so `imagePullPolcy` passes them;
 * - the same package's TypeScript interfaces, with each object written out as an object literal and
 *   type-checked: TypeScript's excess-property check is the strict field validation the API server
 *   does (`kubectl apply --validate=strict`), field by field, at every depth.
 * CRDs (ServiceMonitor) come from @kubernetes-models/prometheus-operator, the same generator.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };

/** Where the model of an apiVersion lives: core and built-in groups, then the CRD packages. */
function modulePath(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** `kubectl kustomize dir`, parsed; throws with kubectl's message when it cannot render. */
export function render(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
}

/** The problems kubernetes-models' runtime validators find, one line each, named by object. */
export function validateRuntime(objects: K8sObject[], repo: string): string[] {
  const req = createRequire(join(repo, 'package.json'));
  const problems: string[] = [];
  for (const o of objects) {
    const name = `${o.kind}/${o.metadata?.name}`;
    let Model: new (data: unknown) => { validate(): void };
    try {
      Model = (req(modulePath(o.apiVersion, o.kind)) as Record<string, new (data: unknown) => { validate(): void }>)[o.kind]!;
      if (typeof Model !== 'function') throw new Error('no such kind');
    } catch {
      problems.push(`${name}: no schema for apiVersion ${o.apiVersion} kind ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * The problems TypeScript finds with every object typed as its kind's interface (unknown fields
 * included), one line each, naming the overlay and the object. `work` is a scratch directory.
 */
export function validateFields(byOverlay: Map<string, K8sObject[]>, repo: string, work: string): string[] {
  mkdirSync(work, { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(work, 'node_modules'));
  const lines: string[] = [];
  const names: string[] = [];
  for (const [overlay, objects] of byOverlay) {
    objects.forEach((o, i) => {
      const id = `${overlay}__${i}__${o.kind}__${o.metadata?.name ?? ''}`.replace(/[^A-Za-z0-9_]/g, '_');
      names.push(id);
      lines.push(`import type { I${o.kind} as T_${id} } from '${modulePath(o.apiVersion, o.kind)}';`);
      lines.push(`export const ${id}: T_${id} = ${JSON.stringify(o)};`);
    });
  }
  writeFileSync(join(work, 'manifests.mts'), `${lines.join('\n')}\n`);
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(repo, 'node_modules/@types'), 'manifests.mts'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  if (r.status === 0) return [];
  // tsc: manifests.mts(LINE,COL): error TSxxxx: message; the line names the object.
  const source = lines;
  return r.stdout
    .split('\n')
    .filter((l) => /error TS/.test(l))
    .map((l) => {
      const m = /^manifests\.mts\((\d+),\d+\): (.*)$/.exec(l);
      const at = m ? source[Number(m[1]) - 1] ?? '' : '';
      const id = /^export const (\w+):/.exec(at)?.[1] ?? /as T_(\w+) }/.exec(at)?.[1] ?? '?';
      return `${id}: ${m?.[2] ?? l}`;
    });
}

/** The running kubectl's client version line (for messages). */
export function kubectlVersion(): string {
  return execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).split('\n')[0] ?? '';
}
