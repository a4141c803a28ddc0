/**
 * The entry a primary forks its workers with (node:cluster's `exec`): see worker.ts.
 */
import { runWorker } from './worker.js';

runWorker().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
