/**
 * Text of `graylane top`: per service, each version's rate, error rate, p99, share and endpoints;
 * then the rollouts with their step and traffic, and a rejected config reload if there is one. Pure
 * (clock and colours passed in), so it is tested without a server.
 */
import type { Overview, RolloutOverview, VersionOverview } from '../metrics/overview.js';

export interface TopOptions {
  /** Where the overview came from, for the title line. */
  source: string;
  /** Epoch ms -> clock time; default local HH:MM:SS. */
  time?: (t: number) => string;
  /** ANSI bold titles and red errors (a terminal). */
  color?: boolean;
}

const COLUMNS = ['VERSION', 'REQ/S', 'ERRORS', 'P99', 'SHARE', 'TOTAL', 'ENDPOINTS'] as const;

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
  const e = o.config.lastReloadError;
  if (e !== null) {
    lines.push('', red(`config reload rejected at ${time(e.at)}; still serving the config loaded at ${time(o.config.loadedAt)}:`));
    for (const l of e.message.split('\n')) lines.push(red(`  ${l}`));
  }
  return `${lines.join('\n')}\n`;
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

function localTime(t: number): string {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}
