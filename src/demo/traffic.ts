/**
 * Demo traffic: a fixed mix of request kinds (one per kind of marking rule) sent at a steady rate,
 * with the version that answered counted per kind. Used by `graylane demo`.
 */
import { Pool } from 'undici';

export interface TrafficKind {
  label: string;
  host: string;
  path: string;
  headers(n: number): Record<string, string>;
}

/** The request kinds of examples/quickstart.yaml, each meant to exercise one rule. */
export const QUICKSTART_KINDS: TrafficKind[] = [
  { label: 'user 1001 (internal users list)', host: 'prod.example.com', path: '/', headers: () => ({ 'x-user-id': '1001' }) },
  { label: 'app version 2.4.0', host: 'prod.example.com', path: '/', headers: (n) => ({ 'x-user-id': `app-${n % 500}`, 'x-app-version': '2.4.0' }) },
  { label: 'path /new-checkout', host: 'prod.example.com', path: '/new-checkout', headers: (n) => ({ 'x-user-id': `kw-${n % 500}` }) },
  { label: 'x-canary: always', host: 'prod.example.com', path: '/', headers: () => ({ 'x-canary': 'always' }) },
  { label: 'users u1..u1000 (10% + 3:1 split)', host: 'prod.example.com', path: '/', headers: (n) => ({ 'x-user-id': `u${(n % 1000) + 1}` }) },
  { label: 'host alpha.example.com (pinned)', host: 'alpha.example.com', path: '/', headers: () => ({}) },
];

export interface KindCounts {
  label: string;
  sent: number;
  failed: number;
  byVersion: Map<string, number>;
}

export interface TrafficRun {
  counts: KindCounts[];
  stop(): Promise<void>;
}

/** Send `rate` requests per second round-robin over the kinds until stopped. */
export function sendTraffic(gatewayUrl: string, kinds: TrafficKind[], rate: number): TrafficRun {
  const pool = new Pool(gatewayUrl, { connections: 8 });
  const counts: KindCounts[] = kinds.map((k) => ({ label: k.label, sent: 0, failed: 0, byVersion: new Map() }));
  let n = 0;
  let inFlight = 0;
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const one = async (i: number) => {
    const kind = kinds[i % kinds.length]!;
    const c = counts[i % kinds.length]!;
    c.sent++;
    inFlight++;
    try {
      const res = await pool.request({ method: 'GET', path: kind.path, headers: { host: kind.host, ...kind.headers(i) } });
      const body = (await res.body.json()) as { version?: string };
      const version = res.statusCode === 200 && body.version ? body.version : `HTTP ${res.statusCode}`;
      c.byVersion.set(version, (c.byVersion.get(version) ?? 0) + 1);
    } catch {
      c.failed++;
    } finally {
      inFlight--;
    }
  };
  const timer = setInterval(() => {
    if (inFlight > 256) return; // the gateway is slower than the rate: do not pile up
    for (let k = 0; k < perTick; k++) void one(n++);
  }, tickMs);
  return {
    counts,
    async stop() {
      clearInterval(timer);
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
      await pool.close();
    },
  };
}

/** Render the counts as a fixed-width table, versions as columns. */
export function renderTable(counts: KindCounts[], versions: string[]): string {
  const seen = new Set(versions);
  for (const c of counts) for (const v of c.byVersion.keys()) seen.add(v);
  const cols = [...seen];
  const labelW = Math.max(...counts.map((c) => c.label.length), 12);
  const head = `${'request kind'.padEnd(labelW)}  ${'sent'.padStart(6)}  ${cols.map((v) => v.padStart(14)).join('')}  failed`;
  const lines = counts.map((c) => {
    const cells = cols.map((v) => {
      const got = c.byVersion.get(v) ?? 0;
      const pct = c.sent ? ((100 * got) / c.sent).toFixed(1) : '0.0';
      return `${got} (${pct}%)`.padStart(14);
    });
    return `${c.label.padEnd(labelW)}  ${String(c.sent).padStart(6)}  ${cells.join('')}  ${String(c.failed).padStart(6)}`;
  });
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}
