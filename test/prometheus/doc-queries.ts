/**
 * The PromQL of the docs, as the docs show it, for the tests that run it against a real Prometheus.
 *
 * The convention (stated in docs/rollouts.md#prometheus):
 * - a ```promql fence holds queries separated by blank lines; lines starting with `#` are comments;
 * - a ```yaml fence with `analysisTemplates` holds templates; each with a `prometheus` provider
 *   contributes its template (query with `{{...}}` left for the provider to expand).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** docs/ of the repository, seen from dist/test/prometheus/. */
const DOCS = new URL('../../../docs/', import.meta.url);

export interface DocQuery {
  /** `docs/observability.md:123`, where the query starts. */
  where: string;
  query: string;
}

export interface DocTemplate {
  where: string;
  name: string;
  /** The template as written (parsed YAML), provider included. */
  template: Record<string, unknown> & { provider: { prometheus: { address: string; query: string } } };
}

interface Fence {
  lang: string;
  /** 1-based line of the first line inside the fence. */
  line: number;
  lines: string[];
}

export function readDoc(name: string): string {
  return readFileSync(new URL(name, DOCS), 'utf8');
}

function fences(markdown: string): Fence[] {
  const out: Fence[] = [];
  const lines = markdown.split('\n');
  let open: Fence | undefined;
  lines.forEach((text, i) => {
    const m = /^```\s*([\w-]*)\s*$/.exec(text);
    if (m === null) {
      open?.lines.push(text);
    } else if (open === undefined) {
      open = { lang: m[1]!, line: i + 2, lines: [] };
    } else {
      out.push(open);
      open = undefined;
    }
  });
  if (open !== undefined) throw new Error(`an unclosed code fence starts at line ${open.line - 1}`);
  return out;
}

/** Every query of every ```promql fence of `doc` (a file name under docs/). */
export function promqlQueries(doc: string): DocQuery[] {
  const out: DocQuery[] = [];
  for (const fence of fences(readDoc(doc)).filter((f) => f.lang === 'promql')) {
    let current: string[] = [];
    let start = 0;
    const flush = (): void => {
      if (current.length > 0) out.push({ where: `docs/${doc}:${start}`, query: current.join('\n') });
      current = [];
    };
    fence.lines.forEach((text, i) => {
      const trimmed = text.trim();
      if (trimmed === '') return flush();
      if (trimmed.startsWith('#')) return;
      if (current.length === 0) start = fence.line + i;
      current.push(text);
    });
    flush();
  }
  return out;
}

/** Every analysis template with a `prometheus` provider in the ```yaml fences of `doc`. */
export function prometheusTemplates(doc: string): DocTemplate[] {
  const out: DocTemplate[] = [];
  for (const fence of fences(readDoc(doc)).filter((f) => f.lang === 'yaml')) {
    const text = fence.lines.join('\n');
    if (!text.includes('prometheus:')) continue;
    const parsed = parse(text) as { analysisTemplates?: Record<string, DocTemplate['template']> } | null;
    for (const [name, template] of Object.entries(parsed?.analysisTemplates ?? {})) {
      if (template?.provider?.prometheus === undefined) continue;
      out.push({ where: `docs/${doc}:${fence.line}`, name, template });
    }
  }
  return out;
}
