/**
 * The traffic split chart: each version's share of a service's requests over the last minutes, as
 * stacked areas (stable at the bottom), so a canary's share is seen growing step by step. Shares
 * are taken over a few seconds (SMOOTH_POINTS) so low traffic does not flicker; seconds without any
 * request in that span are left blank rather than drawn as a guess.
 */
import type { HistoryPoint } from './api.js';
import { versionColor } from './colors.js';
import { s } from './dom.js';

const W = 640;
const H = 150;
const PAD = { left: 38, right: 8, top: 8, bottom: 20 };
/** Points (seconds) a share is computed over. */
const SMOOTH_POINTS = 5;

export interface ChartOptions {
  /** Span shown, ending at `end`. */
  windowMs: number;
  /** Epoch ms of the right edge. */
  end: number;
  stepMs: number;
}

/**
 * The chart of `service` from `points` (oldest first), versions stacked in `versions` order.
 */
export function splitChart(service: string, points: readonly HistoryPoint[], versions: readonly string[], opts: ChartOptions): SVGElement {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const start = opts.end - opts.windowMs;
  const x = (t: number) => PAD.left + Math.max(0, Math.min(1, (t - start) / opts.windowMs)) * plotW;
  const y = (share: number) => PAD.top + (1 - share) * plotH;

  // Stacked bounds per point: [lower, upper] per version, or null when no request in the span.
  const stacks: ({ at: number; bounds: [number, number][] } | null)[] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (p.at < start - opts.stepMs * SMOOTH_POINTS) continue;
    const counts = versions.map(() => 0);
    for (let k = Math.max(0, i - SMOOTH_POINTS + 1); k <= i; k++) {
      const byVersion = points[k]!.requests[service];
      if (byVersion === undefined) continue;
      versions.forEach((v, j) => (counts[j]! += byVersion[v] ?? 0));
    }
    const total = counts.reduce((a, b) => a + b, 0);
    if (total === 0) {
      stacks.push(null);
      continue;
    }
    let acc = 0;
    const bounds = counts.map((c): [number, number] => {
      const lower = acc;
      acc += c / total;
      return [lower, acc];
    });
    stacks.push({ at: p.at, bounds });
  }

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'split-chart', role: 'img', 'aria-label': `traffic split of ${service} over time` });
  // Grid and axis labels.
  for (const share of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(share), y2: y(share), class: 'grid' }));
    svg.append(s('text', { x: PAD.left - 6, y: y(share) + 4, class: 'axis', 'text-anchor': 'end' }, `${share * 100}%`));
  }
  // A tick every minute, or every 15 s on a one-minute chart.
  const tickMs = opts.windowMs <= 60_000 ? 15_000 : 60_000;
  const ticks = Math.round(opts.windowMs / tickMs);
  for (let k = ticks; k >= 0; k--) {
    const ago = k * tickMs;
    const label = k === 0 ? 'now' : ago % 60_000 === 0 ? `−${ago / 60_000}m` : `−${ago / 1000}s`;
    svg.append(s('text', { x: x(opts.end - ago), y: H - 5, class: 'axis', 'text-anchor': k === 0 ? 'end' : k === ticks ? 'start' : 'middle' }, label));
  }

  // One polygon per version and run of consecutive drawable points.
  const runs: { at: number; bounds: [number, number][] }[][] = [];
  let run: { at: number; bounds: [number, number][] }[] = [];
  for (const st of stacks) {
    if (st === null) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push(st);
  }
  if (run.length) runs.push(run);
  const halfStep = (opts.stepMs / opts.windowMs) * plotW * 0.5;
  versions.forEach((v, j) => {
    for (const r of runs) {
      const upper = r.map((p) => [x(p.at), y(p.bounds[j]![1])] as const);
      const lower = r.map((p) => [x(p.at), y(p.bounds[j]![0])] as const).reverse();
      if (r.length === 1) {
        // A lone second: a thin bar instead of an invisible line.
        upper.unshift([upper[0]![0] - halfStep, upper[0]![1]]);
        lower.unshift([lower[0]![0] + halfStep, lower[0]![1]]);
      }
      const d = [...upper, ...lower].map(([px, py], k) => `${k === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join('') + 'Z';
      svg.append(s('path', { d, fill: versionColor(v), class: 'area', 'data-version': v }));
    }
  });
  if (runs.length === 0) {
    svg.append(s('text', { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, class: 'empty', 'text-anchor': 'middle' }, 'no traffic yet'));
  }
  return svg;
}
