/**
 * Which events become messages, and for which targets. Pure.
 */
import { randomUUID } from 'node:crypto';
import type { RolloutEvent, RolloutStatus } from '../status/rollout-status.js';
import type { NotifyMessage } from './message.js';
import { NOTIFY_EVENTS, type NotificationsSpec, type NotifyEventName } from '../spec/notifications.js';

/** The rollout event log's reasons that people are told about, by the name subscriptions use. */
const ROLLOUT_EVENT_NAMES: Readonly<Record<string, NotifyEventName>> = {
  RolloutStarted: 'RolloutStarted',
  StepStarted: 'StepStarted',
  AwaitingPromotion: 'AwaitingPromotion',
  AnalysisFailed: 'AnalysisFailed',
  AnalysisError: 'AnalysisFailed',
  Aborted: 'Aborted',
  HookFailed: 'Aborted',
  SpecChanged: 'Aborted',
  Promoted: 'Promoted',
  Completed: 'Completed',
};

export interface RolloutContext {
  rollout: string;
  service: string;
  status: RolloutStatus;
}

/** Messages for the events of one commit (events people are not told about are left out). */
export function rolloutMessages(ctx: RolloutContext, events: readonly RolloutEvent[], approvalLinks: boolean): NotifyMessage[] {
  const out: NotifyMessage[] = [];
  for (const e of events) {
    const event = ROLLOUT_EVENT_NAMES[e.reason];
    if (event === undefined) continue;
    const m: NotifyMessage = {
      id: randomUUID(),
      event,
      time: e.time,
      severity: e.type === 'Warning' ? 'warning' : 'info',
      title: `rollout ${ctx.rollout} (${ctx.service}): ${event}`,
      text: e.message,
      rollout: ctx.rollout,
      service: ctx.service,
      attempt: ctx.status.attempt,
      step: ctx.status.currentStepIndex,
    };
    if (event === 'AwaitingPromotion' && approvalLinks) m.approval = true;
    out.push(m);
  }
  return out;
}

/** A message that is not about a rollout (reload rejected, store unavailable). */
export function systemMessage(event: NotifyEventName, title: string, text: string, now: number): NotifyMessage {
  return { id: randomUUID(), event, time: now, severity: 'warning', title, text };
}

/** The targets a message goes to: every target of every matching subscription, once each. */
export function targetsFor(spec: NotificationsSpec, m: NotifyMessage): string[] {
  const targets = new Set<string>();
  for (const s of spec.subscriptions) {
    if (!s.events.includes(m.event)) continue;
    if (s.rollouts && (m.rollout === undefined || !s.rollouts.includes(m.rollout))) continue;
    if (s.services && (m.service === undefined || !s.services.includes(m.service))) continue;
    for (const t of s.targets) if (spec.targets[t]) targets.add(t);
  }
  return [...targets];
}

export { NOTIFY_EVENTS };
