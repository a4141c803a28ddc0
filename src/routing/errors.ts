/**
 * Raised by compile() when a spec or status cannot be turned into a Snapshot (a regex or semver range
 * that does not compile, a rule with no lane...). The loader validates specs first, so in practice
 * this means a spec that skipped validation; the caller keeps serving its previous Snapshot.
 */
export class CompileError extends Error {
  readonly code = 'GRAYLANE_COMPILE';

  /**
   * @param keyPath where in the spec, e.g. `routes[0].rules[2].path.regex`
   * @param message what is wrong there
   */
  constructor(
    readonly keyPath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${keyPath}: ${message}`, options);
    this.name = 'CompileError';
  }
}
