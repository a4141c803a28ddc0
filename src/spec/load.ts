/**
 * The loader's entry points: YAML text or a file -> a validated, defaulted, deeply frozen Spec, or
 * a ConfigError listing every problem with file, line, column and key path.
 */
import type { Spec } from './types.js';
import { ConfigFileError, readConfigText } from './config-file.js';
import { NormalizeContext } from './context.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { normalizeSpec } from './normalize.js';
import { validateShape } from './schema.js';
import { readYaml, type PathIssue } from './yaml-source.js';

/**
 * Parses and validates a config.
 *
 * @param text YAML text
 * @param file name used in issues (need not exist)
 * @throws ConfigError with all issues found
 * @example
 * const spec = parseSpec(readFileSync('graylane.yaml', 'utf8'), 'graylane.yaml');
 */
export function parseSpec(text: string, file: string): Spec {
  const source = readYaml(text, file);
  if (!source.syntaxOk) throw new ConfigError(sortIssues(source.issues));

  // Shape first: where the schema and a normalizer both find a problem at one path (an endpoint
  // that is no URL), the schema's issue is kept.
  const ctx = new NormalizeContext(source.data, (path) => source.sourceText(path));
  const shape = validateShape(source.data);
  const spec = normalizeSpec(source.data, ctx);
  const issues = [...source.issues, ...wrongTypeAlone(uniqueByPath([...shape, ...ctx.issues])).map((i) => source.locate(i))];
  if (issues.length > 0) throw new ConfigError(sortIssues(issues));
  return deepFreeze(spec);
}

/**
 * Reads and parses a config file: a regular file (or a symlink to one) of at most MAX_CONFIG_BYTES.
 *
 * @throws ConfigError, also when the file cannot be read (code `unreadable-file`)
 */
export async function loadSpecFile(path: string): Promise<Spec> {
  return (await readSpecFile(path)).spec;
}

/** loadSpecFile, with the text the spec was parsed from (hot reload compares later contents with it). */
export async function readSpecFile(path: string): Promise<{ spec: Spec; text: string }> {
  let text: string;
  try {
    text = await readConfigText(path);
  } catch (err) {
    throw unreadableConfig(path, err);
  }
  return { spec: parseSpec(text, path), text };
}

/** A config file that could not be read, as the one-issue ConfigError every reader reports. */
export function unreadableConfig(path: string, err: unknown): ConfigError {
  const reason = err instanceof ConfigFileError ? err.reason : err instanceof Error ? err.message : String(err);
  const at = err instanceof ConfigFileError && err.at ? err.at : { line: 0, column: 0 };
  return new ConfigError([{ file: path, ...at, path: '', code: 'unreadable-file', message: `cannot read config file: ${reason}` }]);
}

/** One issue per path and code, the first one found. */
function uniqueByPath(issues: PathIssue[]): PathIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${JSON.stringify(issue.path)} ${issue.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Where a value has the wrong type, whatever else is said of that value follows from it
 * (`header: x-canary` is no mapping, so it sets none of equals, in, pattern, present): the type
 * issue is kept alone there, so the first line read is the one to act on.
 */
function wrongTypeAlone(issues: PathIssue[]): PathIssue[] {
  const wrongType = new Set(issues.filter((i) => i.code === 'wrong-type').map((i) => JSON.stringify(i.path)));
  return issues.filter((i) => i.code === 'wrong-type' || !wrongType.has(JSON.stringify(i.path)));
}

/** File order: by line, then column; stable for issues at the same place. */
function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** A Spec is shared by every request and every reload: nobody may change it after loading. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
