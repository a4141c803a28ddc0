/**
 * What an import reports: warnings (a feature of the source that graylane does not reproduce, named
 * so nothing is dropped silently) and issues (input that cannot be imported at all). Both say where:
 * file, document (1-based, in the order of the file's `---` documents), line when known, key path.
 */

/** Where in the inputs a finding is. */
export interface ImportLocation {
  file: string;
  /** 1-based number of the YAML document in the file (TOML and JSON files have one). */
  document: number;
  /** 1-based line of the offending value; 0 when unknown (TOML, or a key that is absent). */
  line: number;
  /** Key path inside the document, e.g. `metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]`. */
  path: string;
}

/** Malformed input: the import cannot produce a faithful config. */
export interface ImportIssue extends ImportLocation {
  message: string;
}

/** Something of the source that was imported approximately, or not at all, and why. */
export interface ImportWarning extends ImportLocation {
  message: string;
}

/**
 * Thrown by importConfigs when any input is malformed (bad YAML or TOML, a canary Ingress without a
 * main one, a weight that is no number, an unknown Traefik service...). Every issue found is listed;
 * `message` is one formatted line per issue, so printing the error is enough for a CLI.
 */
export class ImportError extends Error {
  /** Stable error code of the class, in the style of Node's `err.code`. */
  readonly code = 'ERR_GRAYLANE_IMPORT';
  readonly issues: ImportIssue[];

  constructor(issues: ImportIssue[]) {
    super(issues.map(formatFinding).join('\n'));
    this.name = 'ImportError';
    this.issues = issues;
  }
}

/**
 * One line: `file:line (document n): path: message`; the line and path are left out when unknown.
 *
 * @example
 * formatFinding({ file: 'canary.yaml', document: 2, line: 7, path: 'spec.rules[0]', message: 'no main Ingress' })
 * // 'canary.yaml:7 (document 2): spec.rules[0]: no main Ingress'
 */
export function formatFinding(f: ImportIssue | ImportWarning): string {
  const where = `${f.file}${f.line > 0 ? `:${f.line}` : ''} (document ${f.document})`;
  return f.path === '' ? `${where}: ${f.message}` : `${where}: ${f.path}: ${f.message}`;
}
