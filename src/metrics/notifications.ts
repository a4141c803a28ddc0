/** The notifier's metrics, read at scrape time (docs/observability.md). */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface NotificationCounts {
  counts(): { target: string; outcome: string; n: number }[];
  queueDepth(): number;
}

export function registerNotificationMetrics(registry: Registry, src: NotificationCounts): void {
  new Counter({
    name: 'graylane_notifications_sent_total',
    help: 'Notification delivery tries by target and outcome: sent (delivered), failed (to be retried), dropped (given up: tries or age exhausted, or the target removed).',
    labelNames: ['target', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of src.counts()) this.inc({ target: c.target, outcome: c.outcome }, c.n);
    },
  });
  new Gauge({
    name: 'graylane_notifications_queued',
    help: 'Notification deliveries waiting to be sent (the queue in the state store, and any held in memory while the store refuses).',
    registers: [registry],
    collect() {
      this.set(src.queueDepth());
    },
  });
}
