/**
 * Smooth weighted round robin, nginx's algorithm (ngx_http_upstream_get_peer): on every pick each
 * item's current weight grows by its weight, the item with the largest current weight is taken (the
 * first one on a tie), and the total weight is subtracted from it. Weights 3:1 give a,a,b,a: exact
 * over every 4 picks and interleaved rather than bursty. Deterministic, O(items) per pick, no
 * allocation.
 */
export class SmoothWrr<T> {
  private readonly items: T[] = [];
  private readonly weights: number[] = [];
  private readonly current: number[] = [];
  private readonly total: number;

  /** Items with weight 0 (or less, or not a number) are left out: they are never picked. */
  constructor(entries: Iterable<readonly [T, number]>) {
    let total = 0;
    for (const [item, weight] of entries) {
      if (!(weight > 0)) continue;
      this.items.push(item);
      this.weights.push(weight);
      this.current.push(0);
      total += weight;
    }
    this.total = total;
  }

  /** Number of items that can be picked. */
  get size(): number {
    return this.items.length;
  }

  /** The next item, or null when every weight is zero. */
  next(): T | null {
    const n = this.items.length;
    if (n === 0) return null;
    if (n === 1) return this.items[0]!;
    const current = this.current;
    const weights = this.weights;
    let best = 0;
    let bestWeight = -Infinity;
    for (let i = 0; i < n; i++) {
      const c = current[i]! + weights[i]!;
      current[i] = c;
      if (c > bestWeight) {
        bestWeight = c;
        best = i;
      }
    }
    current[best] = bestWeight - this.total;
    return this.items[best]!;
  }
}
