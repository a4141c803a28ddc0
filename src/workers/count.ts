import { availableParallelism } from 'node:os';

/**
 * The number of workers asked for: `auto` is one per core this process may run on
 * (os.availableParallelism(), which honours CPU affinity); absent is 1 (one process, no fork).
 */
export function workerCount(asked: number | 'auto' | undefined, cores: () => number = availableParallelism): number {
  if (asked === undefined) return 1;
  if (asked === 'auto') return Math.max(1, cores());
  return asked;
}
