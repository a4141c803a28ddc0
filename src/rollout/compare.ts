/**
 * Is the canary worse than stable? Pure statistics over two samples of the same window, no I/O.
 *
 * Two one-sided tests, each asking "is the canary worse", never "is it different" (a canary that
 * is better passes):
 *
 * - error ratio: the pooled two-proportion z-test (Agresti, "Categorical Data Analysis", 3rd ed.,
 *   §3.1.3; NIST/SEMATECH e-Handbook §7.3.3), or Fisher's exact test (Agresti §3.5.1) when an
 *   expected cell count is below 5, where the normal approximation is poor (Cochran's rule, 1954);
 * - latency: the Mann-Whitney U test (Mann & Whitney 1947) on the binned latency histograms, with
 *   mid-ranks for ties and the tie-corrected variance (Lehmann, "Nonparametrics", 1975, §1.4, eq.
 *   1.61). Every request of one histogram bucket is one tie: the buckets are 15% wide (latency.ts),
 *   so a shift smaller than that is seen only through requests that move bucket. U needs no model
 *   of the latency distribution (which is skewed and multi-modal), and uses every request, not
 *   one percentile. With tens of thousands of requests any shift is "significant", so a latency
 *   `tolerance` also asks the canary's chosen quantile to be more than that many ms above stable's.
 *
 * The verdict's false-alarm rate is `alpha` for the whole comparison: each of the k checks is run at
 * alpha / k (Bonferroni; Dunn 1961), so two identical versions fail at most alpha of the time.
 * Below `minSamples` requests in either version there is no verdict at all: Inconclusive.
 *
 * The normal upper tail uses erfc by the Chebyshev fit of Numerical Recipes (Press et al., 2nd ed.,
 * §6.2, `erfcc`): fractional error below 1.2e-7 everywhere, far finer than any alpha.
 */
import { percentile } from '../traffic/latency.js';

/** One version's requests over the window: counts and the fine latency histogram (latency.ts). */
export interface VersionSample {
  requests: number;
  errors: number;
  /** Requests per fine latency bucket; sums to `requests`. */
  histogram: ArrayLike<number>;
}

export interface CompareOptions {
  /** False-alarm rate of the whole verdict (0 < alpha < 1). */
  alpha: number;
  /** Fewer requests than this in either version: Inconclusive. */
  minSamples: number;
  /** Check the error ratio (null: not checked). */
  errorRate: Record<string, never> | null;
  /** Check latency; `quantile` is the one reported and held to `toleranceMs` (null: not checked). */
  latency: { quantile: number; toleranceMs: number } | null;
}

export interface ErrorRateResult {
  test: 'z' | 'fisher';
  /** One-sided: the chance of an error ratio this much above stable's if both were the same. */
  pValue: number;
  /** z statistic (z-test only, else null). */
  z: number | null;
  canaryRate: number;
  stableRate: number;
  /** canaryRate - stableRate. */
  effect: number;
  worse: boolean;
}

export interface LatencyResult {
  test: 'mann-whitney';
  /** One-sided: the chance of latencies this much above stable's if both were the same. */
  pValue: number;
  z: number;
  /** P(canary slower than stable) + half of ties, from U: 0.5 means no shift. */
  probabilitySlower: number;
  quantile: number;
  canaryMs: number;
  stableMs: number;
  /** canaryMs - stableMs at `quantile`. */
  effectMs: number;
  worse: boolean;
}

export interface Comparison {
  verdict: 'Successful' | 'Failed' | 'Inconclusive';
  canary: { requests: number; errors: number };
  stable: { requests: number; errors: number };
  /** The level each check was run at: alpha / number of checks. */
  alphaPerCheck: number;
  errorRate: ErrorRateResult | null;
  latency: LatencyResult | null;
  /** One line with the numbers, for events and `rollout get`. */
  message: string;
}

/** Compares the canary's sample with stable's; see the module comment. */
export function compareVersions(canary: VersionSample, stable: VersionSample, opts: CompareOptions): Comparison {
  const checks = (opts.errorRate ? 1 : 0) + (opts.latency ? 1 : 0);
  const base = {
    canary: { requests: canary.requests, errors: canary.errors },
    stable: { requests: stable.requests, errors: stable.errors },
    alphaPerCheck: opts.alpha / Math.max(1, checks),
    errorRate: null,
    latency: null,
  };
  if (canary.requests < opts.minSamples || stable.requests < opts.minSamples) {
    return {
      ...base,
      verdict: 'Inconclusive',
      message: `canary ${canary.requests}, stable ${stable.requests} requests by split or percent in the window, need ${opts.minSamples} each`,
    };
  }
  const a = base.alphaPerCheck;
  const errorRate = opts.errorRate ? errorRateTest(canary, stable, a) : null;
  const latency = opts.latency ? latencyTest(canary, stable, a, opts.latency.quantile, opts.latency.toleranceMs) : null;
  const failed = (errorRate?.worse ?? false) || (latency?.worse ?? false);
  const parts = [`canary n=${canary.requests}, stable n=${stable.requests}`];
  if (errorRate) {
    parts.push(
      `errors ${pct(errorRate.canaryRate)} vs ${pct(errorRate.stableRate)} (${errorRate.test}, p=${fmtP(errorRate.pValue)}${errorRate.worse ? ' WORSE' : ''})`,
    );
  }
  if (latency) {
    const q = `p${Math.round(latency.quantile * 100)}`;
    parts.push(
      `${q} ${fmtMs(latency.canaryMs)} vs ${fmtMs(latency.stableMs)} (U, p=${fmtP(latency.pValue)}${latency.worse ? ' WORSE' : ''})`,
    );
  }
  parts.push(`alpha ${fmtP(a)} per check`);
  return { ...base, verdict: failed ? 'Failed' : 'Successful', errorRate, latency, message: parts.join('; ') };
}

/** One-sided test of "the canary's error ratio is higher than stable's". */
export function errorRateTest(canary: VersionSample, stable: VersionSample, alpha: number): ErrorRateResult {
  const n1 = canary.requests;
  const n2 = stable.requests;
  const x1 = canary.errors;
  const x2 = stable.errors;
  const canaryRate = x1 / n1;
  const stableRate = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  // Cochran's rule: every expected cell count at least 5, else the exact test.
  const minExpected = Math.min(n1, n2) * Math.min(pooled, 1 - pooled);
  let pValue: number;
  let z: number | null = null;
  let test: ErrorRateResult['test'];
  if (minExpected < 5) {
    test = 'fisher';
    pValue = fisherUpperTail(x1, n1, x1 + x2, n1 + n2);
  } else {
    test = 'z';
    // Agresti §3.1.3: z = (p1 - p2) / sqrt(p(1-p)(1/n1 + 1/n2)), p pooled under H0.
    z = (canaryRate - stableRate) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
    pValue = normalUpperTail(z);
  }
  return { test, pValue, z, canaryRate, stableRate, effect: canaryRate - stableRate, worse: pValue < alpha };
}

/**
 * P(X >= x) for X hypergeometric: `total` requests of which `errorsTotal` errors, `n` of them drawn
 * (the canary's). Fisher's one-sided exact p-value (Agresti §3.5.1), summed in log space.
 */
export function fisherUpperTail(x: number, n: number, errorsTotal: number, total: number): number {
  const hi = Math.min(n, errorsTotal);
  const logDenominator = logChoose(total, n);
  let p = 0;
  for (let k = x; k <= hi; k++) {
    p += Math.exp(logChoose(errorsTotal, k) + logChoose(total - errorsTotal, n - k) - logDenominator);
  }
  return Math.min(1, p);
}

/**
 * One-sided Mann-Whitney U of "canary latencies are stochastically larger", from histograms with
 * identical bucket bounds. U counts (canary, stable) pairs where the canary is slower, ties as 1/2;
 * under H0 its mean is n1 n2 / 2 and, with ties t_j per bucket, its variance is
 * n1 n2 / 12 * ((N + 1) - sum(t_j^3 - t_j) / (N (N - 1)))   (Lehmann 1975, eq. 1.61).
 */
export function latencyTest(
  canary: VersionSample,
  stable: VersionSample,
  alpha: number,
  quantile: number,
  toleranceMs: number,
): LatencyResult {
  const n1 = canary.requests;
  const n2 = stable.requests;
  const total = n1 + n2;
  const buckets = Math.max(canary.histogram.length, stable.histogram.length);
  let stableBelow = 0;
  let u = 0;
  let ties = 0;
  for (let b = 0; b < buckets; b++) {
    const c = canary.histogram[b] ?? 0;
    const s = stable.histogram[b] ?? 0;
    // Each canary request in bucket b is slower than every stable request below b and ties those in b.
    u += c * (stableBelow + s / 2);
    stableBelow += s;
    const t = c + s;
    ties += t * t * t - t;
  }
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (total + 1 - ties / (total * (total - 1)));
  // No spread at all (every request in one bucket): nothing to tell apart.
  const z = variance > 0 ? (u - mean) / Math.sqrt(variance) : 0;
  const pValue = variance > 0 ? normalUpperTail(z) : 1;
  const canaryMs = percentile(canary.histogram, n1, quantile);
  const stableMs = percentile(stable.histogram, n2, quantile);
  const effectMs = canaryMs - stableMs;
  const worse = pValue < alpha && effectMs > toleranceMs;
  return { test: 'mann-whitney', pValue, z, probabilitySlower: u / (n1 * n2), quantile, canaryMs, stableMs, effectMs, worse };
}

/** P(Z > z) for a standard normal Z: erfc(z / sqrt 2) / 2. */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Complementary error function, Numerical Recipes §6.2 `erfcc`: fractional error < 1.2e-7. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** ln C(n, k) through ln Γ. */
function logChoose(n: number, k: number): number {
  if (k < 0 || k > n) return Number.NEGATIVE_INFINITY;
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** ln Γ(x) for x > 0, Lanczos approximation with Godfrey's coefficients (g = 7, n = 9): about 1e-15 relative. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const g = 7;
  const c = LANCZOS;
  x -= 1;
  let a = c[0]!;
  const t = x + g + 0.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function fmtP(p: number): string {
  return p < 0.0001 ? p.toExponential(1) : p.toFixed(4);
}

function fmtMs(ms: number): string {
  return Number.isNaN(ms) ? '-' : `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)}ms`;
}
