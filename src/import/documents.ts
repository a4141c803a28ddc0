/**
 * Input files -> documents: every `---` document of a YAML (or JSON) file, the one table of a TOML
 * file, and every item of a Kubernetes `kind: List`. Each document keeps the means to turn a key path
 * back into a line number, so findings can say where they are.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { formatPath, type Path } from '../spec/paths.js';
import type { ImportIssue, ImportLocation } from './errors.js';

/** One input file as given to importConfigs (directory reading is the CLI's job: see files.ts). */
export interface ImportInput {
  file: string;
  text: string;
}

/** One document of an input, as plain data. */
export interface SourceDoc {
  file: string;
  /** 1-based document number in the file. */
  document: number;
  /** The document's data (a List item's data for items of a `kind: List`). */
  data: unknown;
  /** Where `path` (relative to `data`) is, for findings. */
  at(path: Path): ImportLocation;
}

/** Parses every input; syntax problems are appended to `issues` and their documents left out. */
export function readDocuments(inputs: readonly ImportInput[], issues: ImportIssue[]): SourceDoc[] {
  const docs: SourceDoc[] = [];
  for (const input of inputs) {
    const parsed = /\.toml$/i.test(input.file) ? readToml(input, issues) : readYaml(input, issues);
    for (const doc of parsed) docs.push(...expandList(doc));
  }
  return docs;
}

function readToml(input: ImportInput, issues: ImportIssue[]): SourceDoc[] {
  try {
    const data = parseToml(input.text);
    // smol-toml keeps no positions: findings in TOML files carry the key path only.
    return [{ file: input.file, document: 1, data, at: (path) => ({ file: input.file, document: 1, line: 0, path: formatPath(path) }) }];
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const message = err.message.split('\n')[0] ?? 'invalid TOML';
    issues.push({ file: input.file, document: 1, line: err.line, path: '', message: `TOML syntax: ${message}` });
    return [];
  }
}

function readYaml(input: ImportInput, issues: ImportIssue[]): SourceDoc[] {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(input.text, { lineCounter, uniqueKeys: true });
  // A stream with no documents at all (an empty file) parses to an EmptyStream, which is an array.
  const list: Document.Parsed[] = Array.isArray(parsed) ? parsed : [...parsed];
  const docs: SourceDoc[] = [];
  list.forEach((yamlDoc, i) => {
    const document = i + 1;
    if (yamlDoc.errors.length > 0) {
      for (const err of yamlDoc.errors) {
        const line = err.linePos?.[0].line ?? 0;
        const message = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        issues.push({ file: input.file, document, line, path: '', message: `YAML syntax: ${message}` });
      }
      return;
    }
    const at = (path: Path): ImportLocation => {
      // The deepest node that exists on the path: a missing key is reported where its parent is.
      for (let n = path.length; n >= 0; n--) {
        const node = yamlDoc.getIn(path.slice(0, n), true);
        if (isNode(node) && node.range) {
          return { file: input.file, document, line: lineCounter.linePos(node.range[0]).line, path: formatPath(path) };
        }
      }
      return { file: input.file, document, line: 0, path: formatPath(path) };
    };
    let data: unknown;
    try {
      data = yamlDoc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      issues.push({ file: input.file, document, line: 0, path: '', message: `YAML: ${(err as Error).message}` });
      return;
    }
    if (data === null || data === undefined) return; // an empty document between two `---`
    docs.push({ file: input.file, document, data, at });
  });
  return docs;
}

/** `kubectl get -o yaml` wraps objects in `kind: List`; each item is imported as a document. */
function expandList(doc: SourceDoc): SourceDoc[] {
  const data = doc.data as Record<string, unknown>;
  if (typeof data !== 'object' || data === null || data.kind !== 'List' || !Array.isArray(data.items)) return [doc];
  return data.items.map((item, i) => ({
    file: doc.file,
    document: doc.document,
    data: item,
    at: (path: Path) => doc.at(['items', i, ...path]),
  }));
}
