/**
 * The JSON path subset of the web analysis provider: `$`, `$.ok`, `$.data.rate`, `$.items[0].value`,
 * `$["odd key"]`. Dotted names and list indexes only (no wildcards, filters or recursion), which is
 * all a health or metrics endpoint needs and keeps the evaluator a loop over precomputed segments.
 */

/** One step: a field name or a list index. */
export type JsonPathSegment = string | number;

export class JsonPathError extends Error {
  readonly code = 'JSON_PATH';
  constructor(message: string) {
    super(message);
    this.name = 'JsonPathError';
  }
}

const NAME = /^[A-Za-z_$][\w$-]*/;
const INDEX = /^\[(\d+)\]/;
const QUOTED = /^\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/;

/**
 * Parses a path once. Throws JsonPathError on anything outside the subset.
 *
 * @example parseJsonPath('$.data[0].rate') // ['data', 0, 'rate']
 */
export function parseJsonPath(path: string): JsonPathSegment[] {
  if (!path.startsWith('$')) throw new JsonPathError(`JSON path must start with '$': ${JSON.stringify(path)}`);
  const segments: JsonPathSegment[] = [];
  let rest = path.slice(1);
  while (rest !== '') {
    let m: RegExpExecArray | null;
    if (rest.startsWith('.') && (m = NAME.exec(rest.slice(1)))) {
      segments.push(m[0]);
      rest = rest.slice(1 + m[0].length);
    } else if ((m = INDEX.exec(rest))) {
      segments.push(Number(m[1]));
      rest = rest.slice(m[0].length);
    } else if ((m = QUOTED.exec(rest))) {
      segments.push((m[1] ?? m[2]!).replace(/\\(.)/g, '$1'));
      rest = rest.slice(m[0].length);
    } else {
      throw new JsonPathError(
        `unsupported JSON path ${JSON.stringify(path)} at ${JSON.stringify(rest)}: use $.name, [index] or ["key"]`,
      );
    }
  }
  return segments;
}

/** The value at the path; throws JsonPathError naming the first segment that is absent. */
export function readJsonPath(document: unknown, segments: readonly JsonPathSegment[]): unknown {
  let node = document;
  let where = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') {
      if (!Array.isArray(node) || segment >= node.length) throw new JsonPathError(`${where}[${segment}] is absent`);
      node = node[segment];
      where += `[${segment}]`;
    } else {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, segment)) {
        throw new JsonPathError(`${where}.${segment} is absent`);
      }
      node = (node as Record<string, unknown>)[segment];
      where += `.${segment}`;
    }
  }
  return node;
}
