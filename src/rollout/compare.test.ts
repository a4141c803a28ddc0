import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, erfc, fisherUpperTail, latencyTest, logGamma, normalUpperTail, type CompareOptions, type VersionSample } from './compare.js';
import { LATENCY_BUCKETS, latencyBucket } from '../traffic/latency.js';

/** mulberry32 (Tommy Ettinger, public domain): a small seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A synthetic window of one version: `n` requests, each an error with probability `errorRate`,
 * latency log-normal with median `medianMs` (sigma 0.5: a realistic long tail) plus `addMs`,
 * counted into the same fine histogram the recorder keeps.
 */
function synthetic(rand: () => number, n: number, errorRate: number, medianMs: number, addMs: number): VersionSample {
  const histogram = new Float64Array(LATENCY_BUCKETS);
  let errors = 0;
  for (let i = 0; i < n; i++) {
    if (rand() < errorRate) errors++;
    // Box-Muller: a standard normal from two uniforms.
    const g = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    histogram[latencyBucket(medianMs * Math.exp(0.5 * g) + addMs)]!++;
  }
  return { requests: n, errors, histogram };
}

const OPTS: CompareOptions = { alpha: 0.05, minSamples: 500, errorRate: {}, latency: { quantile: 0.5, toleranceMs: 0 } };
const SEEDS = 400;
/** Per version. >= 2,000 as the issue asks; see docs/rollouts.md for why 5,000 (the power of the error test). */
const N = 5000;

function verdicts(canaryErrorRate: number, canaryAddMs: number, n = N, opts = OPTS): Record<string, number> {
  const counts: Record<string, number> = { Successful: 0, Failed: 0, Inconclusive: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rand = mulberry32(seed);
    const stable = synthetic(rand, n, 0.01, 80, 0);
    const canary = synthetic(rand, n, canaryErrorRate, 80, canaryAddMs);
    counts[compareVersions(canary, stable, opts).verdict]!++;
  }
  return counts;
}

test('identical versions pass in at least 93% of 400 seeded windows at alpha 0.05', () => {
  const c = verdicts(0.01, 0);
  assert.ok(c['Successful']! >= 0.93 * SEEDS, JSON.stringify(c));
  assert.equal(c['Inconclusive'], 0);
});

test('a canary with twice the errors (2% vs 1%) fails in at least 95% of 400 seeded windows', () => {
  const c = verdicts(0.02, 0);
  assert.ok(c['Failed']! >= 0.95 * SEEDS, JSON.stringify(c));
});

test('a canary 50 ms slower fails in at least 95% of 400 seeded windows', () => {
  const c = verdicts(0.01, 50);
  assert.ok(c['Failed']! >= 0.95 * SEEDS, JSON.stringify(c));
});

test('fewer than minSamples in either version is always Inconclusive, however bad the canary', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = mulberry32(seed);
    const stable = synthetic(rand, 5000, 0.01, 80, 0);
    const canary = synthetic(rand, 499, 0.5, 80, 500);
    const r = compareVersions(canary, stable, OPTS);
    assert.equal(r.verdict, 'Inconclusive');
    assert.equal(r.errorRate, null);
    assert.match(r.message, /canary 499, stable 5000 .* need 500/);
    assert.equal(compareVersions(stable, synthetic(rand, 20, 0, 80, 0), OPTS).verdict, 'Inconclusive', 'a stable of 20 too');
  }
});

test('one-sided: a canary better than stable (fewer errors, faster) passes', () => {
  const c = verdicts(0.001, -30);
  assert.equal(c['Successful'], SEEDS);
});

test('a latency tolerance lets a significant but small shift pass, and fails a larger one', () => {
  const opts: CompareOptions = { ...OPTS, errorRate: null, latency: { quantile: 0.5, toleranceMs: 20 } };
  assert.ok(verdicts(0.01, 10, N, opts)['Successful']! >= 0.95 * SEEDS, '+10 ms is within 20 ms');
  assert.ok(verdicts(0.01, 50, N, opts)['Failed']! >= 0.95 * SEEDS, '+50 ms is not');
});

test('the normal tail matches known quantiles within 1.2e-7 relative', () => {
  for (const [z, p] of [
    [0, 0.5],
    [1.6448536269514722, 0.05],
    [1.959963984540054, 0.025],
    [3.090232306167813, 0.001],
    [-1.6448536269514722, 0.95],
  ] as const) {
    assert.ok(Math.abs(normalUpperTail(z) - p) / p < 1.2e-7, `z=${z}: ${normalUpperTail(z)} vs ${p}`);
  }
  assert.ok(Math.abs(erfc(1) - 0.15729920705028513) < 2e-8);
  assert.ok(Math.abs(logGamma(10) - Math.log(362880)) < 1e-12);
});

test("Fisher's exact upper tail matches the tea-tasting table and a direct sum", () => {
  // Fisher's lady tasting tea: 8 cups, 4 with milk first, 3 of her 4 picks right: P(X >= 3) = 17/70.
  assert.ok(Math.abs(fisherUpperTail(3, 4, 4, 8) - 17 / 70) < 1e-12);
  // 3 errors of 100 canary requests vs 0 of 100 stable: P(X >= 3) = C(100,3) / C(200,3).
  assert.ok(Math.abs(fisherUpperTail(3, 100, 3, 200) - (100 * 99 * 98) / (200 * 199 * 198)) < 1e-12);
  const r = compareVersions(
    { requests: 600, errors: 4, histogram: [600] },
    { requests: 600, errors: 0, histogram: [600] },
    { ...OPTS, latency: null },
  );
  assert.equal(r.errorRate?.test, 'fisher', 'expected counts below 5 use the exact test');
});

test('Mann-Whitney U on binned data equals the pairwise count with ties as 1/2', () => {
  const canary = [0, 3, 2, 1];
  const stable = [2, 2, 1, 0];
  let u = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) u += canary[i]! * stable[j]! * (i > j ? 1 : i === j ? 0.5 : 0);
  const r = latencyTest({ requests: 6, errors: 0, histogram: canary }, { requests: 5, errors: 0, histogram: stable }, 0.05, 0.5, 0);
  assert.equal(r.probabilitySlower, u / 30);
  // Lehmann's tie-corrected variance, by hand: ties (2, 5, 3, 1) -> sum t^3 - t = 6 + 120 + 24 + 0.
  const variance = (30 / 12) * (12 - 150 / 110);
  assert.ok(Math.abs(r.z - (u - 15) / Math.sqrt(variance)) < 1e-12);
  const flat = latencyTest({ requests: 5, errors: 0, histogram: [0, 5] }, { requests: 5, errors: 0, histogram: [0, 5] }, 0.05, 0.5, 0);
  assert.equal(flat.pValue, 1, 'every request in one bucket: nothing to tell apart');
});
