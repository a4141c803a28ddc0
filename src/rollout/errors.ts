/**
 * The error catalog of rollout commands (promote, abort, retry, pause, resume, setWeight). Each code
 * is stable (the admin API and CLI branch on it) and carries the HTTP status the admin API answers
 * with: 400 for a request that can never be right, 404 for a rollout the config does not declare,
 * 409 for one the rollout's current state refuses, 503 while an abort waits for the store.
 */
import { GraylaneError } from '../errors.js';

export const ROLLOUT_ERRORS = {
  /** No rollout of that name in the loaded config. */
  UNKNOWN_ROLLOUT: 404,
  /** No release of that name in the loaded config. */
  UNKNOWN_RELEASE: 404,
  /** The rollout has completed: nothing left to promote, abort, pause or weigh. */
  ROLLOUT_COMPLETED: 409,
  /** The rollout is aborted (Degraded): `retry` starts it again. */
  ROLLOUT_ABORTED: 409,
  /** `retry` of a rollout that is not aborted. */
  NOT_ABORTED: 409,
  /** A hook of the attempt is running (or the cleanup hook has yet to run): wait for it. */
  HOOK_RUNNING: 409,
  ALREADY_PAUSED: 409,
  NOT_PAUSED: 409,
  /** A weight that is not a whole number from 0 to 100. */
  INVALID_WEIGHT: 400,
  /** `promote --to-step` naming a step that does not exist or is not ahead of the current one. */
  UNKNOWN_STEP: 400,
  /** The command does not apply to this rollout's strategy or stage (e.g. setWeight after a blue-green switch). */
  NOT_SUPPORTED: 409,
  /** Clustered mode: the rollout has no status yet and this gateway is not the controller that starts it. */
  NOT_STARTED: 409,
  /** `undo` refused: not completed, the rollback window ended, or the previous stable is gone (the message says which). */
  UNDO_REFUSED: 409,
  /** An abort routes on this gateway but the store has not taken its write yet: other commands wait for it. */
  ABORT_PENDING: 503,
} as const;

export type RolloutErrorCode = keyof typeof ROLLOUT_ERRORS;

/** Thrown by the command functions of transitions.ts; nothing was changed. */
export class RolloutError extends GraylaneError {
  readonly code: RolloutErrorCode;
  /** The admin API's answer status for this code. */
  readonly status: number;

  constructor(code: RolloutErrorCode, message: string) {
    super(message);
    this.code = code;
    this.status = ROLLOUT_ERRORS[code];
  }

  /** The same as `status` (its name before the error base). */
  get httpStatus(): number {
    return this.status;
  }
}
