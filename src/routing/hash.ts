/**
 * Sticky percent buckets: a user identity hashed with a per-route salt into one of 10,000 buckets.
 *
 * The hash is FNV-1a (32-bit) over the UTF-16 code units of `salt + '\u0000' + id`, followed by
 * murmur3's fmix32 finalizer (FNV alone mixes its last characters poorly, so `user-1`..`user-9`
 * would land in neighbouring buckets), then `% 10000`. It is a pure function of its inputs: every
 * gateway, every restart and every language that implements these three steps agrees on it.
 *
 * Membership of a percent is `bucket < threshold(percent)`, so widening 10% -> 20% keeps everyone who
 * was in, and two salts pick independent populations. The modulo bias (2^32 is not a multiple of
 * 10,000) is below 2e-6 per bucket.
 */

/** Number of buckets; a percent with two decimals is a whole number of buckets. */
export const BUCKETS = 10_000;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * The hash state after `salt + '\u0000'`, so that the per-request part only hashes the id.
 * Compile computes it once per route.
 */
export function saltSeed(salt: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < salt.length; i++) {
    h = Math.imul(h ^ salt.charCodeAt(i), FNV_PRIME);
  }
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  return Math.imul(h ^ 0, FNV_PRIME);
}

/** The bucket of `id` given a seed from {@link saltSeed}; equals `bucketOf(salt, id)`. */
export function bucketFromSeed(seed: number, id: string): number {
  let h = seed;
  for (let i = 0; i < id.length; i++) {
    h = Math.imul(h ^ id.charCodeAt(i), FNV_PRIME);
  }
  // murmur3 fmix32
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % BUCKETS;
}

/**
 * The sticky bucket of a user for one salt, in [0, 10000).
 *
 * @example
 * bucketOf('checkout-2026-11', '1001') < threshold(10) // is user 1001 in the 10%?
 */
export function bucketOf(salt: string, id: string): number {
  return bucketFromSeed(saltSeed(salt), id);
}

/**
 * How many buckets a percent (0..100, two decimals) covers: membership is `bucket < threshold`.
 * Rounded because `10.01 * 100` is `1000.9999999999999` in floating point.
 */
export function threshold(percent: number): number {
  const t = Math.round(percent * 100);
  return t < 0 ? 0 : t > BUCKETS ? BUCKETS : t;
}
