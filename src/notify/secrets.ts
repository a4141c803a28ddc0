/**
 * Reads a secret where the config points: an environment variable or a file. Read at each use, so
 * a rotated file is picked up without a restart. Errors name the reference, never the value.
 */
import { readFileSync } from 'node:fs';
import type { SecretRef, UrlRef } from '../spec/notifications.js';

export class SecretUnavailableError extends Error {
  readonly code = 'SECRET_UNAVAILABLE';
}

export function readSecret(ref: SecretRef): string {
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined || v === '') throw new SecretUnavailableError(`environment variable ${ref.env} is not set`);
    return v;
  }
  let text: string;
  try {
    text = readFileSync(ref.file, 'utf8');
  } catch (err) {
    throw new SecretUnavailableError(`secret file ${ref.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const v = text.replace(/\r?\n$/, '');
  if (v === '') throw new SecretUnavailableError(`secret file ${ref.file} is empty`);
  return v;
}

export function readUrl(ref: UrlRef): string {
  return typeof ref === 'string' ? ref : readSecret(ref);
}
