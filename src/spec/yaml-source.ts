/**
 * The YAML side of loading: text -> plain data, plus the way back from a key path to the line and
 * column of the node it names, so every issue (from the schema or from cross-reference checks) can
 * point into the file.
 */
import {
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { ConfigIssue, IssueCode } from './errors.js';
import { formatPath, type Path } from './paths.js';

/** A problem found at a key path, before it is given a file position. */
export interface PathIssue {
  path: Path;
  code: IssueCode;
  message: string;
  /** Point at the key itself (unknown or duplicate keys) rather than at its value. */
  at?: 'key' | 'value';
}

export interface YamlSource {
  /** The document as plain data; undefined when `syntaxOk` is false. */
  readonly data: unknown;
  /** False when the text is not usable YAML; duplicate keys alone leave it usable (last one wins). */
  readonly syntaxOk: boolean;
  /** YAML problems: syntax errors, duplicate keys, unknown aliases, unsupported tags. */
  readonly issues: readonly ConfigIssue[];
  /** Gives a path issue its file, line and column. */
  locate(issue: PathIssue): ConfigIssue;
  /**
   * The text of the scalar at `path` exactly as written, for plain numbers that mean strings: a user id
   * `0012` must stay `0012`, and `12345678901234567890` must not be rounded to a double.
   */
  sourceText(path: Path): string | undefined;
}

const PARSE_OPTIONS = {
  // Duplicates are found by our own walk, which knows the key path and the first occurrence.
  uniqueKeys: false,
  // `<<: *defaults` merge keys: handy for repeated route settings.
  merge: true,
  prettyErrors: false,
  // The yaml package would otherwise print some warnings to the console itself.
  logLevel: 'error',
  // !!set, !!omap, !!binary, !!timestamp would become Sets, Maps, bytes and Dates; a config has no use
  // for them, so they are reported as unresolved tags instead.
  resolveKnownTags: false,
} as const;

/** Anchors may be reused, but not exponentially (the "billion laughs" document). */
const MAX_ALIAS_COUNT = 100;

/** How deep mappings and sequences may nest. */
const MAX_DEPTH = 64;

/** Parses YAML text; never throws. */
export function readYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const issueAt = (offset: number, code: IssueCode, message: string, path: Path = []): ConfigIssue => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, path: formatPath(path), code, message };
  };

  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { ...PARSE_OPTIONS, lineCounter });
  } catch (err) {
    // The parser reports problems as doc.errors; this is only for the unforeseen (e.g. stack depth).
    return failed([{ file, line: 1, column: 1, path: '', code: 'yaml-syntax', message: `cannot parse YAML: ${errorText(err)}` }]);
  }

  const issues: ConfigIssue[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    if (e.code === 'BAD_INDENT' && e.message.startsWith('All mapping items')) {
      const bad = badIndent(text, e.pos[0]);
      issues.push(issueAt(bad.offset, 'yaml-syntax', `${firstLine(e.message).replace(/ at line \d+, column \d+:$/, '')}: ${bad.what}`));
      continue;
    }
    const message =
      e.code === 'MULTIPLE_DOCS'
        ? 'a config file holds one YAML document; found a second one (---)'
        : e.code === 'TAG_RESOLVE_FAILED'
          ? `${firstLine(e.message).replace(/^Unresolved tag: /, 'tag ')} is not supported: write a plain value`
          : firstLine(e.message);
    issues.push(issueAt(e.pos[0], 'yaml-syntax', message));
  }
  if (doc.errors.length > 0) return failed(issues);

  const lineOf = (node: Node): number => lineCounter.linePos(node.range?.[0] ?? 0).line;
  const fatal = walk(doc, doc.contents, [], lineOf, (node, code, message, path) =>
    issues.push(issueAt(node.range?.[0] ?? 0, code, message, path)),
  );
  if (fatal) return failed(issues);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    issues.push(issueAt(doc.contents?.range?.[0] ?? 0, 'yaml-syntax', errorText(err)));
    return failed(issues);
  }

  const positionOf = (node: Node): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(node.range?.[0] ?? 0);
    return { line, column: col };
  };

  return {
    data,
    syntaxOk: true,
    issues,
    locate(issue) {
      const found = find(doc, issue.path);
      // Point at the key when asked to, when the value is a block (its first line is a child key),
      // or when the path ends below what exists (a missing key: show its parent's key).
      const useKey =
        found.key !== undefined && (issue.at === 'key' || !found.complete || found.node === undefined || isCollection(found.node) || isEmpty(found.node));
      const node = useKey ? found.key : found.node;
      const { line, column } = node ? positionOf(node) : { line: 1, column: 1 };
      return { file, line, column, path: formatPath(issue.path), code: issue.code, message: issue.message };
    },
    sourceText(path) {
      const found = find(doc, path);
      return found.complete && isScalar(found.node) && typeof found.node.value === 'number' ? found.node.source : undefined;
    },
  };

  function failed(list: ConfigIssue[]): YamlSource {
    return {
      data: undefined,
      syntaxOk: false,
      issues: list,
      locate: (issue) => ({ file, line: 1, column: 1, path: formatPath(issue.path), code: issue.code, message: issue.message }),
      sourceText: () => undefined,
    };
  }
}

type Report = (node: Node, code: IssueCode, message: string, path: Path) => void;

/**
 * Finds duplicate keys and aliases without an anchor. Returns true when the document cannot be
 * turned into data (an unknown alias). Aliases are not followed: their target is walked where defined.
 */
function walk(doc: Document, node: unknown, path: Path, lineOf: (node: Node) => number, report: Report): boolean {
  if (path.length > MAX_DEPTH) {
    // Every later stage (this walk, toJS, the schema, the normalizers) recurses over the tree: a
    // document nested thousands deep would overflow the stack instead of getting an issue.
    report(node as Node, 'yaml-syntax', `nested more than ${MAX_DEPTH} levels deep (a config needs a dozen at most)`, path.slice(0, 8));
    return true;
  }
  let fatal = false;
  if (isAlias(node)) {
    if (node.resolve(doc) === undefined) {
      report(node, 'yaml-syntax', `unknown alias *${node.source} (an anchor &${node.source} must come before it)`, path);
      fatal = true;
    }
  } else if (isMap(node)) {
    const seen = new Map<string, Node>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
        // A `<<` merge key: its value is an alias or a list of them, checked as aliases.
        fatal = walk(doc, pair.value, path, lineOf, report) || fatal;
        continue;
      }
      const key = keyText(keyNode);
      const first = seen.get(key);
      if (first && keyNode) {
        report(keyNode, 'duplicate-key', `duplicate key ${JSON.stringify(key)} (first defined on line ${lineOf(first)})`, [...path, key]);
      } else if (keyNode) {
        seen.set(key, keyNode);
      }
      fatal = walk(doc, pair.value, [...path, key], lineOf, report) || fatal;
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      fatal = walk(doc, item, [...path, i], lineOf, report) || fatal;
    });
  }
  return fatal;
}

interface Found {
  /** The node at the end of the path, or the deepest one that exists. */
  node: Node | undefined;
  /** The key node that led to `node`, when it was reached through a mapping. */
  key: Node | undefined;
  complete: boolean;
}

function find(doc: Document, path: Path): Found {
  let node = resolve(doc, doc.contents);
  let key: Node | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = findPair(doc, node, String(segment), 0);
      if (!pair) return { node, key, complete: false };
      key = pair.key as Node;
      node = resolve(doc, pair.value);
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      key = undefined;
      node = resolve(doc, node.items[segment]);
    } else {
      return { node, key, complete: false };
    }
  }
  return { node, key, complete: true };
}

/** The pair for `key` in a mapping; the last one wins (as in the data), then `<<` merged mappings. */
function findPair(doc: Document, map: YAMLMap, key: string, depth: number): Pair | undefined {
  let found: Pair | undefined;
  for (const pair of map.items) {
    const k = pair.key as Node | null;
    if (!(isScalar(k) && typeof k.value === 'symbol') && keyText(k) === key) found = pair;
  }
  if (found || depth > 8) return found;
  for (const pair of map.items) {
    const k = pair.key as Node | null;
    if (!(isScalar(k) && typeof k.value === 'symbol')) continue;
    const source = resolve(doc, pair.value);
    const sources = isSeq(source) ? source.items.map((item) => resolve(doc, item)) : [source];
    for (const s of sources) {
      const merged = isMap(s) ? findPair(doc, s, key, depth + 1) : undefined;
      if (merged) return merged;
    }
  }
  return undefined;
}

function resolve(doc: Document, node: unknown): Node | undefined {
  if (isAlias(node)) return node.resolve(doc) as Node | undefined;
  return (node ?? undefined) as Node | undefined;
}

/** A key as it appears in the data: plain objects stringify their keys (null -> ''). */
function keyText(key: Node | null): string {
  if (key === null) return '';
  if (isScalar(key)) return key.value === null || key.value === undefined ? '' : String(key.value);
  return String(key);
}

function isEmpty(node: Node): boolean {
  return isScalar(node) && node.value === null;
}

/**
 * The parser's BAD_INDENT ("All mapping items must start at the same column") points at the start
 * of the line, before its indentation, and does not say what is off: point at the line's first
 * character and name the key there (or the line's start, when it holds no `key:`).
 */
function badIndent(text: string, offset: number): { offset: number; what: string } {
  // lastIndexOf with -1 would search from the end of the text.
  const lineStart = offset === 0 ? 0 : text.lastIndexOf('\n', offset - 1) + 1;
  const lineEnd = text.indexOf('\n', lineStart);
  const line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).replace(/\r$/, '');
  const indent = line.length - line.trimStart().length;
  const content = line.trim();
  const key = /^(?:-\s+)?([^\s:#'"{[][^:#]*?):(?:\s|$)/.exec(content)?.[1];
  const what = key !== undefined ? `key "${key}"` : `the line "${content.length > 30 ? `${content.slice(0, 30)}...` : content}"`;
  return { offset: lineStart + indent, what: `${what} does not line up with the keys above it` };
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
