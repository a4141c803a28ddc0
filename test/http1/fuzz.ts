/**
 * `npm run fuzz [-- RUNS [SEED]]`: the differential test of test/http1/differential.test.ts at
 * scale (default 100,000 request streams, and 100,000 response streams against Node's llhttp and
 * as many against undici's, the parser of the upstream side). Prints what it ran and
 * the first divergence, if any (exit 1). docs/reliability.md quotes its last run.
 */
import fc from 'fast-check';
import { divergence, graylane, llhttp, undiciDivergence, undiciLlhttp, type Outcome } from './reference.js';
import { requestStream, responseStream } from './generators.js';

const runs = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);

function run(name: string, property: fc.IProperty<[Buffer]> | fc.IProperty<[Buffer, string]>): boolean {
  const started = performance.now();
  const details = fc.check(property as fc.IProperty<unknown[]>, { numRuns: runs, seed });
  const s = ((performance.now() - started) / 1000).toFixed(1);
  if (details.failed) {
    console.log(`${name}: DIVERGENCE after ${details.numRuns} runs (seed ${seed}, ${s} s)`);
    console.log(details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance));
    console.log(JSON.stringify(details.counterexample?.map((x) => (Buffer.isBuffer(x) ? x.toString('latin1') : x))));
    return false;
  }
  console.log(`${name}: ${details.numRuns} generated streams, no divergence from llhttp (seed ${seed}, ${s} s)`);
  return true;
}

/** How the cases split: so a fuzzer that refuses everything cannot pass unnoticed. */
const tally = { accepted: 0, stricter: 0, bothRefused: 0 };
function count(kind: 'request' | 'response', bytes: Buffer, method: string, reference: 'node' | 'undici' = 'node'): void {
  const ours: Outcome = graylane(kind, bytes, method);
  const theirs: Outcome = reference === 'node' ? llhttp(kind, bytes, method) : undiciLlhttp(bytes, method);
  if (ours.messages.length > 0) tally.accepted++;
  else if (theirs.messages.length > 0) tally.stricter++;
  else tally.bothRefused++;
}
function report(): void {
  console.log(`  messages accepted by both: ${tally.accepted}; refused by graylane only: ${tally.stricter}; refused or incomplete for both: ${tally.bothRefused}`);
  tally.accepted = tally.stricter = tally.bothRefused = 0;
}

const requests = run('requests', fc.property(requestStream, (bytes) => (count('request', bytes, 'GET'), divergence('request', bytes) === null)));
report();
const responses = run('responses', fc.property(responseStream, fc.constantFrom('GET', 'HEAD'), (bytes, method) => (count('response', bytes, method), divergence('response', bytes, method) === null)));
report();
const viaUndici = run(
  "responses vs undici's llhttp",
  fc.property(responseStream, fc.constantFrom('GET', 'HEAD'), (bytes, method) => (count('response', bytes, method, 'undici'), undiciDivergence(bytes, method) === null)),
);
report();
process.exit(requests && responses && viaUndici ? 0 : 1);
