/**
 * Text of `graylane top`: per service, each version's rate, error rate, p99, share and endpoints;
 * then the rollouts with their step and traffic, the gateways (this one marked `*`; in clustered
 * mode every gateway, with the totals per version across them), and a rejected config reload if
 * there is one. Pure (clock and colours passed in), so it is tested without a server.
 */
import { localTime } from './rollout-render.js';
import type { GatewayOverview, GatewaysOverview, Overview, RolloutOverview, VersionOverview } from '../metrics/overview.js';

export interface TopOptions {
  /** Where the overview came from, for the title line. */
  source: string;
  /** Epoch ms -> clock time; default local HH:MM:SS. */
  time?: (t: number) => string;
  /** ANSI bold titles and red errors (a terminal). */
  color?: boolean;
}

const COLUMNS = ['VERSION', 'REQ/S', 'ERRORS', 'P99', 'SHARE', 'TOTAL', 'ENDPOINTS'] as const;
const GATEWAY_COLUMNS = ['GATEWAY', 'ADDRESS', 'ROLE', 'STORE', 'PUBLISHED', 'STATE', 'REQUESTS'] as const;
const TOTAL_COLUMNS = ['SERVICE', 'VERSION', 'REQUESTS', 'ERRORS'] as const;

export function renderTop(o: Overview, opts: TopOptions): string {
  const time = opts.time ?? localTime;
  const bold = (s: string) => (opts.color ? `\x1b[1m${s}\x1b[0m` : s);
  const red = (s: string) => (opts.color ? `\x1b[31m${s}\x1b[0m` : s);
  const lines = [bold(`graylane top  ${opts.source}  ${time(o.at)}  snapshot ${o.config.snapshotId}`)];
  for (const svc of o.services) {
    lines.push('', bold(`${svc.name}`) + `  (fallback ${svc.fallback})`);
    const rows = svc.versions.map(versionRow);
    const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) =>
      '  ' + cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    lines.push(line(COLUMNS));
    svc.versions.forEach((v, k) => {
      const text = line(rows[k]!);
      lines.push(v.errorRate !== null && v.errorRate > 0 ? red(text) : text);
    });
  }
  if (o.rollouts.length > 0 || o.rolloutsError !== null) {
    lines.push('', bold('rollouts'));
    if (o.rolloutsError !== null) lines.push(red(`  cannot read rollouts: ${o.rolloutsError}`));
    for (const r of o.rollouts) lines.push(`  ${rolloutLine(r)}`);
  }
  // Absent from an older server's overview.
  if (o.gateways !== undefined) lines.push('', ...gatewayLines(o.gateways, bold, red));
  const e = o.config.lastReloadError;
  if (e !== null) {
    lines.push('', red(`config reload rejected at ${time(e.at)}; still serving the config loaded at ${time(o.config.loadedAt)}:`));
    for (const l of e.message.split('\n')) lines.push(red(`  ${l}`));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * ```
 * gateways  (cluster: 3, * this one; stale after 3s without a publish, gone when its lease ends)
 *   GATEWAY  ADDRESS          ROLE      STORE  PUBLISHED  STATE  REQUESTS
 * * gw-1     127.0.0.1:8080   leader    up     0.3s ago   live        120
 * ```
 * then, with more than one gateway, the totals per version across them.
 */
function gatewayLines(g: GatewaysOverview, bold: (s: string) => string, red: (s: string) => string): string[] {
  const title =
    g.mode === 'single'
      ? 'gateways  (one process)'
      : `gateways  (cluster: ${g.gateways.length}, * this one; stale after ${seconds(g.staleAfterMs ?? 0)} without a publish, gone when its lease ends)`;
  const rows = g.gateways.map(gatewayRow);
  const out = [bold(title), ...table(GATEWAY_COLUMNS, rows, [6], (k) => g.gateways[k]!.local).map((text, k) => (k > 0 && g.gateways[k - 1]!.state === 'stale' ? red(text) : text))];
  if (g.gateways.length > 1) {
    const totals = Object.entries(g.totals).flatMap(([service, byVersion]) => Object.entries(byVersion).map(([version, t]) => [service, version, String(t.requests), String(t.errors)]));
    out.push('', bold('totals across gateways'), ...table(TOTAL_COLUMNS, totals, [2, 3]));
  }
  return out;
}

function gatewayRow(g: GatewayOverview): string[] {
  let requests = 0;
  for (const byVersion of Object.values(g.versions)) for (const t of Object.values(byVersion)) requests += t.requests;
  return [
    g.name,
    g.address || '-',
    g.role,
    g.store.up ? 'up' : 'DOWN',
    g.silentMs === null ? '-' : `${seconds(g.silentMs)} ago`,
    g.state,
    String(requests),
  ];
}

/** Header and rows in aligned columns (`right`: right-aligned columns), two spaces in; a marked row starts with `*`. */
function table(header: readonly string[], rows: string[][], right: number[], marked: (k: number) => boolean = () => false): string[] {
  const widths = header.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[], mark: boolean) => (mark ? '* ' : '  ') + cells.map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header, false), ...rows.map((r, k) => line(r, marked(k)))];
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function versionRow(v: VersionOverview): string[] {
  const up = v.endpoints.filter((e) => e.up).length;
  return [
    v.name,
    v.rps >= 100 ? v.rps.toFixed(0) : v.rps.toFixed(1),
    v.errorRate === null ? '-' : `${(v.errorRate * 100).toFixed(2)}%`,
    v.p99Ms === null ? '-' : v.p99Ms >= 1000 ? `${(v.p99Ms / 1000).toFixed(2)}s` : `${v.p99Ms.toFixed(1)}ms`,
    v.share === null ? '-' : `${v.share.toFixed(0)}%`,
    String(v.requests),
    // An aborted rollout's canary gets no traffic until retry, whatever its endpoints say.
    `${up}/${v.endpoints.length} up${v.withdrawn ? ', withdrawn' : ''}`,
  ];
}

/** `checkout-beta  checkout  Paused (AwaitingPromotion)  step 6/7  stable 40% beta 60%` */
function rolloutLine(r: RolloutOverview): string {
  const step = r.currentStep === null ? (r.phase === 'Healthy' ? r.steps.length : 0) : r.currentStep + 1;
  const traffic = Object.entries(r.traffic)
    .map(([v, pct]) => `${v} ${pct}%`)
    .join(' ');
  return `${r.name}  ${r.service}  ${r.phase}${r.reason !== r.phase ? ` (${r.reason})` : ''}  step ${step}/${r.steps.length}  ${traffic}`;
}
