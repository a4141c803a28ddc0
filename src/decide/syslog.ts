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
import type { ResponseObserver } from '../gateway/observer.js';
import type { Snapshot } from '../routing/types.js';
import { MAX_REPORT_BYTES, parseOutcome, REPORT_REJECTIONS, syslogMessage, type ReportRejection } from './report.js';

export interface ReportCounts {
  accepted: number;
  rejected: Record<ReportRejection, number>;
}

export interface OutcomeListenerOptions {
  host: string;
  port: number;
  snapshot: () => Snapshot;
  observer: ResponseObserver;
  logger?: Logger;
  /** Default 50,000. */
  maxPerSecond?: number;
  /** Default 10 s. */
  logEveryMs?: number;
}

export interface OutcomeListener {
  readonly address: { host: string; port: number };
  counts(): ReportCounts;
  close(): Promise<void>;
}

export async function startOutcomeListener(opts: OutcomeListenerOptions): Promise<OutcomeListener> {
  const maxPerSecond = opts.maxPerSecond ?? 50_000;
  const logEveryMs = opts.logEveryMs ?? 10_000;
  const counts: ReportCounts = { accepted: 0, rejected: Object.fromEntries(REPORT_REJECTIONS.map((r) => [r, 0])) as Record<ReportRejection, number> };
  let second = 0;
  let inSecond = 0;
  let lastLog = 0;
  let unlogged = 0;

  const refused = (reason: ReportRejection, detail: string): void => {
    counts.rejected[reason]++;
    unlogged++;
    const now = Date.now();
    if (now - lastLog < logEveryMs) return;
    opts.logger?.warn({ reason, detail, refusedSinceLastLog: unlogged, rejected: counts.rejected }, 'edge proxy outcome refused');
    lastLog = now;
    unlogged = 0;
  };

  const socket = dgram.createSocket({ type: opts.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 });
  socket.on('message', (msg) => {
    const now = Date.now();
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      inSecond = 0;
    }
    if (++inSecond > maxPerSecond) return refused('over-rate', `more than ${maxPerSecond} outcomes in one second`);
    if (msg.length > MAX_REPORT_BYTES) return refused('too-large', `a datagram of ${msg.length} bytes (limit ${MAX_REPORT_BYTES})`);
    const line = syslogMessage(msg.toString('utf8'));
    if ('rejected' in line) return refused(line.rejected, line.detail);
    const outcome = parseOutcome(line.message, opts.snapshot());
    if ('rejected' in outcome) return refused(outcome.rejected, outcome.detail);
    counts.accepted++;
    opts.observer.recordResponse(outcome.service, outcome.version, outcome.status, outcome.durationMs, {
      route: { name: outcome.route },
      lane: outcome.lane,
      // The edge proxy does not say how the lane was drawn: kept out of builtin compare's sample.
      assignment: 'targeted',
      upstreamFailure: null,
    });
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
    counts: () => ({ accepted: counts.accepted, rejected: { ...counts.rejected } }),
    close() {
      closing ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closing;
    },
  };
}
