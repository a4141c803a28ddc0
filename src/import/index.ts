/**
 * `graylane import`: other systems' canary configs -> one graylane config.
 *
 * Sources, detected per document: ingress-nginx Ingresses (ingress-nginx.ts), Traefik dynamic
 * configuration and its IngressRoute / TraefikService CRDs (traefik.ts), OpenKruise Rollouts and
 * TrafficRoutings (kruise.ts), Argo Rollouts and AnalysisTemplates (argo.ts), Gateway API HTTPRoutes and
 * GRPCRoutes (gateway-api.ts), Flagger Canaries (flagger.ts). Every feature that maps
 * is kept; every one that does not is named in a warning (never dropped silently); input that cannot
 * be imported at all throws ImportError listing every issue, and nothing is produced.
 *
 * Pure over its inputs: it reads no user files (files.ts expands paths for the CLI); only the
 * package's own schema, for the value forms (values.ts).
 */
import { importArgo, isArgo } from './argo.js';
import { ImportContext, rec, type SourceKind } from './config.js';
import { readDocuments, type ImportInput, type SourceDoc } from './documents.js';
import { emitConfig } from './emit.js';
import { ImportError, type ImportLocation, type ImportWarning } from './errors.js';
import { importFlagger, isFlagger } from './flagger.js';
import { importGatewayApi, isGatewayApi } from './gateway-api.js';
import { importIngresses, isIngress } from './ingress-nginx.js';
import { importKruise, isKruise } from './kruise.js';
import { importTraefik, isTraefik } from './traefik.js';
import { valueProblem } from './values.js';

export { ImportError, formatFinding, type ImportIssue, type ImportLocation, type ImportWarning } from './errors.js';
export { expandPaths, type ExpandOptions } from './files.js';
export type { ImportInput } from './documents.js';

export type ImportSource = 'auto' | SourceKind;

export interface ImportOptions {
  /** Only import documents of this system (others are skipped with a warning); default `auto`. */
  from?: ImportSource;
  /**
   * Endpoints of Kubernetes Services, instead of their cluster DNS names: key `name` or
   * `namespace/name`, value a URL (or several, comma-separated).
   */
  endpoints?: Record<string, string>;
}

export interface ImportResult {
  /** The graylane config, with a header comment naming the sources and the warnings. */
  yaml: string;
  warnings: ImportWarning[];
}

/**
 * Imports canary configs of other systems from several files (each with any number of YAML
 * documents) into one graylane config.
 *
 * @throws ImportError (with `.issues`) for malformed input; nothing is produced then
 * @example
 * const { yaml, warnings } = importConfigs([{ file: 'ingress.yaml', text }], { endpoints: { web: 'http://10.0.0.7:8080' } });
 */
export function importConfigs(inputs: readonly ImportInput[], opts: ImportOptions = {}): ImportResult {
  const ctx = new ImportContext(opts.endpoints ?? {});
  checkEndpoints(opts.endpoints ?? {}, ctx);
  // The header lists the files in the order given, whatever order the importers run in.
  for (const input of inputs) ctx.sources.set(input.file, new Map());
  const docs = readDocuments(inputs, ctx.issues);
  const bySource = new Map<SourceKind, SourceDoc[]>();
  for (const doc of docs) {
    const kind = detectSource(doc);
    if (kind === undefined) {
      const data = rec(doc.data);
      const what = typeof data.kind === 'string' ? `${data.kind}${typeof data.apiVersion === 'string' ? ` (${data.apiVersion})` : ''}` : 'this document';
      ctx.warn(doc, [], `${what} is not a config graylane imports (Ingress, Traefik dynamic config or CRD, Gateway API HTTPRoute or GRPCRoute, Flagger Canary, Kruise or Argo Rollout): skipped`);
      continue;
    }
    if (opts.from !== undefined && opts.from !== 'auto' && opts.from !== kind) {
      ctx.warn(doc, [], `skipped: this is ${kind}, and only ${opts.from} was asked for`);
      continue;
    }
    bySource.set(kind, [...(bySource.get(kind) ?? []), doc]);
  }
  // Ingresses, Traefik and Gateway API routes first: Kruise and Argo Rollouts attach to the services and routes they made.
  importIngresses(bySource.get('ingress-nginx') ?? [], ctx);
  importTraefik(bySource.get('traefik') ?? [], ctx);
  importGatewayApi(bySource.get('gateway-api') ?? [], ctx);
  importFlagger(bySource.get('flagger') ?? [], ctx);
  importKruise(bySource.get('kruise') ?? [], ctx);
  importArgo(bySource.get('argo') ?? [], ctx);
  const order = new Map(inputs.map((input, i) => [input.file, i]));
  const byPlace = (a: ImportLocation, b: ImportLocation): number =>
    (order.get(a.file) ?? -1) - (order.get(b.file) ?? -1) || a.document - b.document || a.line - b.line;
  if (ctx.issues.length > 0) throw new ImportError(ctx.issues.sort(byPlace));
  ctx.warnings.sort(byPlace);
  return { yaml: emitConfig(ctx), warnings: ctx.warnings };
}

/** Which system a document belongs to, from its apiVersion and kind (or Traefik's `http:` key). */
export function detectSource(doc: SourceDoc): SourceKind | undefined {
  const data = rec(doc.data);
  if (isIngress(data)) return 'ingress-nginx';
  if (isTraefik(data)) return 'traefik';
  if (isGatewayApi(data)) return 'gateway-api';
  if (isFlagger(data)) return 'flagger';
  if (isKruise(data)) return 'kruise';
  if (isArgo(data)) return 'argo';
  return undefined;
}

function checkEndpoints(endpoints: Record<string, string>, ctx: ImportContext): void {
  for (const [key, value] of Object.entries(endpoints)) {
    for (const url of value.split(',').map((u) => u.trim())) {
      let ok = false;
      try {
        const u = new URL(url);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.hash === '';
      } catch {
        ok = false;
      }
      // The URL class accepts what the loader refuses (credentials, spaces in the path...): ask both.
      const problem = ok ? valueProblem('endpoint', url) : `not an http(s) endpoint URL: ${JSON.stringify(url)}`;
      if (problem) ctx.issues.push({ file: '(endpoints option)', document: 1, line: 0, path: key, message: problem });
    }
  }
}
