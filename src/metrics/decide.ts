/** The decision listener's outcome metrics, read at scrape time (docs/observability.md). */
import { Counter, type Registry } from 'prom-client';
import { REPORT_REJECTIONS } from '../decide/report.js';
import type { OutcomeTotals } from '../decide/outcomes.js';

/**
 * `graylane_decide_outcomes_total{via, result, reason}`: outcomes the edge proxy reported, counted
 * (`result="counted"`, `reason=""`) or refused (`result="refused"`, the reason), by listener
 * (`via="syslog"` or `"http"`). A counted outcome is one line or batch element whatever its
 * weight; the requests it stands for are in graylane_requests_total.
 */
export function registerDecideMetrics(registry: Registry, outcomes: () => OutcomeTotals[]): void {
  new Counter({
    name: 'graylane_decide_outcomes_total',
    help: 'Outcomes reported by the edge proxy (decide.report), by listener (via), counted or refused, and why refused.',
    labelNames: ['via', 'result', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of outcomes()) {
        this.inc({ via: t.via, result: 'counted', reason: '' }, t.counted);
        for (const reason of REPORT_REJECTIONS) {
          const n = t.refused[reason];
          if (n > 0) this.inc({ via: t.via, result: 'refused', reason }, n);
        }
      }
    },
  });
}
