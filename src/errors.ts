/**
 * The one error base of graylane's error catalogues (rollout commands, the store, the registry,
 * the admin API): a stable `code` that clients branch on, the HTTP `status` the admin API answers
 * with, a message that says what is wrong and where, and the `cause` kept. Each catalogue keeps its
 * own codes as they are on the wire (rollout and store codes are UPPER_CASE in code and answered
 * lower-cased; registry and admin codes are lower-case): a client's `error` field never changed.
 *
 * The gateway's own answers (src/gateway/errors.ts) are a table of code -> status, not thrown
 * errors: a request path that allocates no Error for an answer it can name in advance.
 */
export abstract class GraylaneError extends Error {
  /** Stable, for clients: never reworded. */
  abstract readonly code: string;
  /** The HTTP status the admin API answers this error with. */
  abstract readonly status: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
