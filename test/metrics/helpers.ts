/**
 * Support for the observability tests: scrape /metrics and parse it with a real Prometheus text
 * parser, find samples by labels, and send requests with paths and headers of our choosing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetric, type PromMetrics } from 'prom2javascript';
import { Agent, request } from 'undici';

export interface Scrape {
  contentType: string;
  text: string;
  /** Metric families by name, as prom2javascript parses the text format. */
  metrics: PromMetrics;
}

export async function scrape(adminUrl: string): Promise<Scrape> {
  const res = await request(`${adminUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${text}`);
  return { contentType: String(res.headers['content-type']), text, metrics: await getMetricsFromIterator(text.split('\n')[Symbol.iterator]()) };
}

export function family(s: Scrape, name: string): PromMetric {
  const f = s.metrics[name];
  if (f === undefined) throw new Error(`no metric family ${name} in the scrape`);
  return f;
}

/** The samples of counter or gauge `name` whose labels include `labels`. */
export function samples(s: Scrape, name: string, labels: Record<string, string> = {}): PromData[] {
  return (family(s, name).data as PromData[]).filter((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v));
}

/** The histograms of `name` by label set. */
export function histograms(s: Scrape, name: string): PromHistogramData[] {
  const f = family(s, name);
  if (f.type !== 'histogram') throw new Error(`${name} is a ${f.type}, not a histogram`);
  return f.data as PromHistogramData[];
}

/** The value of the one sample of `name` whose labels include `labels`; 0 when there is none. */
export function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = samples(s, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found.length === 0 ? 0 : found[0]!.value;
}

/** The sum of every sample of `name` matching `labels`. */
export function total(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return samples(s, name, labels).reduce((sum, m) => sum + m.value, 0);
}

/** Every label value of every sample in the scrape. */
export function allLabelValues(s: Scrape): string[] {
  return Object.values(s.metrics).flatMap((f) => (f.data as { labels: Record<string, string> }[]).flatMap((d) => Object.values(d.labels)));
}

const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });

/** Sends `n` GET requests to `path` one after the other; returns the statuses. */
export async function hit(gatewayUrl: string, n: number, path = '/', headers: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(`${gatewayUrl}${path}`, { headers, dispatcher: agent });
    await res.body.dump();
    statuses.push(res.statusCode);
  }
  return statuses;
}

/** An upstream that accepts requests and never answers (for timeouts); close() cuts them. */
export async function startSilentUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An address where nothing listens: a port that was free a moment ago. */
export async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
