/**
 * A histogram metric whose bucket counts are read at scrape time from counters kept elsewhere.
 *
 * prom-client's Histogram can only be fed through observe(), which hashes and validates a label
 * object per call: too much for the gateway's per-request path, where TrafficRecorder keeps plain
 * bucket counts instead. This collector hands those counts to a prom-client Registry in the shape
 * its text formatter reads from every metric (`get()` resolving to name, help, type and values with
 * `metricName` and `labels`, exactly what prom-client's own Histogram returns), so exposition,
 * escaping and the content type stay prom-client's.
 */
import type { Metric, Registry } from 'prom-client';

/** One label set's histogram: non-cumulative bucket counts (the last one is +Inf) and the sum. */
export interface HistogramSample {
  labels: Record<string, string>;
  buckets: ArrayLike<number>;
  sum: number;
}

/** A sample of the Registry's metric shape (prom-client's MetricValueWithName). */
interface Value {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class CollectedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending, without +Inf. */
    readonly bounds: readonly number[],
    readonly samples: () => Iterable<HistogramSample>,
  ) {}

  /** Adds this histogram to `registry` (once). */
  registerIn(registry: Registry): this {
    // prom-client types registerMetric() with its own four classes; at run time a Registry asks a
    // metric only for name, get() and reset().
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.samples()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.buckets[i] ?? 0;
        values.push({ metricName: bucket, labels: { ...s.labels, le: this.bounds[i]! }, value: cumulative });
      }
      cumulative += s.buckets[this.bounds.length] ?? 0;
      values.push({ metricName: bucket, labels: { ...s.labels, le: '+Inf' }, value: cumulative });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The counts belong to their owner; there is nothing to reset here. */
  reset(): void {}
}
