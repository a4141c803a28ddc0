/**
 * The outcome listener: a UDP syslog socket (decide.report.syslog) where the edge proxy sends one
 * JSON line per finished request (report.ts says what is accepted). Each accepted outcome is fed
 * to the same observer the gateway reports its own responses to (the TrafficRecorder: /metrics,
 * the dashboard, builtin analysis), so a rollout's analysis sees the proxy's 5xx as it would the
 * gateway's.
 *
 * Bounded: datagrams over MAX_REPORT_BYTES are refused unread, at most `maxPerSecond` outcomes are
 * counted per second (the rest are refused as over-rate), and refusals are counted by reason and
 * logged at most once per `logEveryMs` with the latest reason. Outcomes carry no authentication:
 * bind it to loopback (the default) or an interface only the proxy reaches, since whoever can send
 * to it can fail a canary's analysis.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { Snapshot } from '../routing/types.js';
import { countOutcome, OutcomeTally, type OutcomeObserver, type OutcomeTotals } from './outcomes.js';
import { MAX_REPORT_BYTES, parseOutcome, syslogMessage } from './report.js';

export interface OutcomeListenerOptions {
  host: string;
  port: number;
  snapshot: () => Snapshot;
  observer: OutcomeObserver;
  logger?: Logger;
  /** Default 50,000. */
  maxPerSecond?: number;
  /** Default 10 s. */
  logEveryMs?: number;
}

export interface OutcomeListener {
  readonly address: { host: string; port: number };
  /** Outcomes counted and refused by reason since the start. */
  counts(): OutcomeTotals;
  close(): Promise<void>;
}

export async function startOutcomeListener(opts: OutcomeListenerOptions): Promise<OutcomeListener> {
  const tally = new OutcomeTally({ via: 'syslog', logger: opts.logger, maxPerSecond: opts.maxPerSecond, logEveryMs: opts.logEveryMs });
  // In a worker (graylane serve --workers) node:cluster binds this once in the primary and shares
  // the socket: each datagram is read by exactly one worker, and each worker's counts reach the
  // primary in its counters batches (src/workers/traffic.ts), so nothing is counted twice or lost.
  const socket = dgram.createSocket({ type: opts.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 });
  socket.on('message', (msg) => {
    if (!tally.admit()) return;
    if (msg.length > MAX_REPORT_BYTES) return tally.refused('too-large', `a datagram of ${msg.length} bytes (limit ${MAX_REPORT_BYTES})`);
    const line = syslogMessage(msg.toString('utf8'));
    if ('rejected' in line) return tally.refused(line.rejected, line.detail);
    const outcome = parseOutcome(line.message, opts.snapshot());
    if ('rejected' in outcome) return tally.refused(outcome.rejected, outcome.detail);
    tally.counted();
    countOutcome(opts.observer, outcome);
  });
  const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off('error', reject);
      const a = socket.address();
      resolve({ host: a.address, port: a.port });
    });
  });
  // A receive error on UDP is not fatal to the listener.
  socket.on('error', (err) => opts.logger?.error({ err }, 'outcome listener error'));
  let closing: Promise<void> | undefined;
  return {
    address,
    counts: () => tally.snapshot(),
    close() {
      closing ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closing;
    },
  };
}
