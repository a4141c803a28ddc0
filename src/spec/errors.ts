/**
 * Config errors: every problem found in a config file, with where it is (file, line, column, key
 * path) and a stable code. The loader collects all of them before throwing one ConfigError.
 */

/**
 * Stable codes of config issues (documented in docs/config.md, "Errors"). Tests, the CLI and the admin
 * API may branch on them; the messages are for humans and may change.
 */
export const ISSUE_CODES = [
  'unreadable-file',
  'yaml-syntax',
  'duplicate-key',
  'unknown-key',
  'missing-key',
  'wrong-type',
  'invalid-value',
  'out-of-range',
  'bad-name',
  'bad-duration',
  'bad-size',
  'bad-listen',
  'bad-url',
  'bad-regex',
  'unsafe-regex',
  'bad-semver',
  'bad-version',
  'empty-versions',
  'unknown-service',
  'unknown-version',
  'unknown-lane',
  'duplicate-route',
  'duplicate-name',
  'zero-split',
  'bad-certificate',
] as const;

export type IssueCode = (typeof ISSUE_CODES)[number];

/** One problem in a config file. `line` and `column` are 1-based; both are 0 for whole-file problems. */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Key path in the YAML, e.g. `routes[0].rules[2].percent`; '' for the document as a whole. */
  path: string;
  message: string;
  code: IssueCode;
}

/**
 * Thrown by parseSpec / loadSpecFile when a config is unusable. `message` is formatIssues(issues):
 * one line per issue, so printing the error is enough for a CLI.
 */
export class ConfigError extends Error {
  /** Stable error code of the class, in the style of Node's `err.code`. */
  readonly code = 'ERR_GRAYLANE_CONFIG';
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * One line per issue: `file:line:col: path: message`. The path is left out for issues about the
 * document as a whole (YAML syntax), and `line:col` for issues about the file itself (unreadable).
 *
 * @example
 * formatIssues([{ file: 'gl.yaml', line: 7, column: 9, path: 'routes[0].service', code: 'unknown-service',
 *   message: 'unknown service "whoamii" (did you mean whoami?)' }])
 * // 'gl.yaml:7:9: routes[0].service: unknown service "whoamii" (did you mean whoami?)'
 */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}
