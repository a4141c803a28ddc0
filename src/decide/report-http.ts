/**
 * `POST /report` (decide.report.http): outcomes from proxies that can call an HTTP endpoint but
 * cannot send syslog (an Envoy, APISIX or Traefik plugin), in batches, so a plugin sends one
 * request per N finished requests. Each outcome is the object nginx's syslog line carries
 * (report.ts, checkOutcome: status, time and w may be JSON numbers here) and is counted exactly as
 * a syslog outcome is (outcomes.ts).
 *
 * Body: NDJSON (one object per line) or one JSON array of objects, at most MAX_REPORT_BODY bytes
 * and MAX_REPORT_ITEMS outcomes. Answer: 200 `{"counted":N,"refused":M,"errors":[...]}` (the first
 * MAX_LISTED_ERRORS refusals with their index), 400 when the body is not JSON, 413 over the limits,
 * 401/403 when not allowed, 404/405 for anything but POST /report. A bad outcome refuses that
 * outcome, never the batch.
 *
 * Who may report: whoever can post outcomes can fail a rollout's analysis (a stream of 5xx aborts
 * it) or hide a failing canary (a flood of 2xx). With GRAYLANE_REPORT_TOKEN set, every report needs
 * `Authorization: Bearer <token>` (compared in constant time); without it only loopback peers are
 * answered, whatever address the listener is bound to.
 */
import { timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Snapshot } from '../routing/types.js';
import { countOutcome, OutcomeTally, type OutcomeObserver, type OutcomeTotals } from './outcomes.js';
import { checkOutcome, type ReportRejection } from './report.js';

/** Largest body read (about 5,000 outcomes of 200 bytes). */
export const MAX_REPORT_BODY = 1 << 20;
/** Most outcomes in one report. */
export const MAX_REPORT_ITEMS = 10_000;
/** Connections open at once (more are closed at accept): bounds the memory bodies can hold to 256 MiB. */
export const MAX_REPORT_CONNECTIONS = 256;
/** Refusals listed in an answer (the rest are only counted). */
export const MAX_LISTED_ERRORS = 20;
/** The environment variable holding the reporters' bearer token. */
export const REPORT_TOKEN_ENV = 'GRAYLANE_REPORT_TOKEN';

export interface ReportServerOptions {
  host: string;
  port: number;
  snapshot: () => Snapshot;
  observer: OutcomeObserver;
  /** Bearer token every report must carry; undefined = loopback peers only. */
  token?: string | undefined;
  logger?: Logger | undefined;
  /** Default 50,000 outcomes a second. */
  maxPerSecond?: number;
}

export interface ReportServer {
  readonly address: { host: string; port: number };
  counts(): OutcomeTotals;
  close(): Promise<void>;
}

/** One refused outcome in an answer. */
export interface ListedRefusal {
  /** Its place in the batch, from 0. */
  index: number;
  reason: ReportRejection;
  detail: string;
}

export async function startReportServer(opts: ReportServerOptions): Promise<ReportServer> {
  const tally = new OutcomeTally({ via: 'http', logger: opts.logger, maxPerSecond: opts.maxPerSecond });
  const token = opts.token === undefined || opts.token === '' ? null : Buffer.from(opts.token);
  const server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    const denied = refusal(req, token);
    if (denied !== null) {
      // A request elsewhere is no report; one not allowed to report is counted, so a probe shows.
      if (denied.status === 401 || denied.status === 403) tally.refused('unauthorized', denied.text);
      return answer(res, denied.status, { error: denied.text }, true);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_REPORT_BODY) {
      tally.refused('too-large', `a body of ${declared} bytes (limit ${MAX_REPORT_BODY})`);
      return answer(res, 413, { error: `body over ${MAX_REPORT_BODY} bytes` }, true);
    }
    readBody(req, MAX_REPORT_BODY).then(
      (body) => {
        if (body === null) {
          tally.refused('too-large', `a body over ${MAX_REPORT_BODY} bytes`);
          return answer(res, 413, { error: `body over ${MAX_REPORT_BODY} bytes` }, true);
        }
        const items = outcomesOf(body);
        if ('problem' in items) {
          tally.refused(items.rejected, items.problem);
          return answer(res, items.rejected === 'too-large' ? 413 : 400, { error: items.problem }, false);
        }
        answer(res, 200, countBatch(items.list, opts, tally), false);
      },
      () => res.destroy(),
    );
  });
  server.keepAliveTimeout = 75_000;
  // Reporters are a few proxy processes on keep-alive connections; each connection may hold a 1 MiB body.
  server.maxConnections = MAX_REPORT_CONNECTIONS;
  const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
  let closing: Promise<void> | undefined;
  return {
    address,
    counts: () => tally.snapshot(),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Why `req` is not answered (method, path, authentication), or null. */
function refusal(req: IncomingMessage, token: Buffer | null): { status: number; text: string } | null {
  const path = (req.url ?? '').split('?', 1)[0];
  if (path !== '/report') return { status: 404, text: 'only POST /report is served here' };
  if (req.method !== 'POST') return { status: 405, text: 'POST outcomes to /report' };
  if (token === null) {
    return isLoopback(req.socket.remoteAddress) ? null : { status: 403, text: `only loopback peers may report without ${REPORT_TOKEN_ENV}` };
  }
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (given === undefined) return { status: 401, text: 'Authorization: Bearer <token> required' };
  const b = Buffer.from(given);
  return b.length === token.length && timingSafeEqual(b, token) ? null : { status: 401, text: 'wrong token' };
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped form. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/** The body, or null once it passes `limit` bytes (reading stops there). */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * The outcomes of a body: a JSON array, or NDJSON (one JSON value per non-empty line). An element
 * that is not an object is refused alone, by checkOutcome; a body that does not parse is refused
 * whole (nothing in it is counted: a half-read batch would skew the analysis silently).
 */
export function outcomesOf(body: string): { list: unknown[] } | { problem: string; rejected: ReportRejection } {
  const text = body.trim();
  // An array of flat objects nests two deep. Deeper is no report, and JSON.parse of a megabyte of
  // brackets holds the event loop (the gateway's too) for about a second: refused unparsed.
  if (nestedDeeperThan(text, 2)) return { problem: 'nested deeper than an array of outcome objects', rejected: 'not-json' };
  let list: unknown[];
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { problem: `the body is not a JSON array: ${(err as Error).message}`, rejected: 'not-json' };
    }
    if (!Array.isArray(parsed)) return { problem: 'the body is not a JSON array', rejected: 'not-json' };
    list = parsed;
  } else {
    list = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      try {
        list.push(JSON.parse(line));
      } catch {
        return { problem: `line ${i + 1} is not JSON (NDJSON: one outcome object per line)`, rejected: 'not-json' };
      }
    }
  }
  if (list.length > MAX_REPORT_ITEMS) return { problem: `${list.length} outcomes in one report (limit ${MAX_REPORT_ITEMS})`, rejected: 'too-large' };
  return { list };
}

/** Whether `[` / `{` outside JSON strings nest deeper than `limit` anywhere in `text` (one linear scan). */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Checks and counts each outcome of a batch on the current snapshot. */
function countBatch(list: unknown[], opts: ReportServerOptions, tally: OutcomeTally): { counted: number; refused: number; errors: ListedRefusal[] } {
  const snapshot = opts.snapshot();
  const errors: ListedRefusal[] = [];
  let counted = 0;
  for (let i = 0; i < list.length; i++) {
    if (!tally.admit()) {
      if (errors.length < MAX_LISTED_ERRORS) errors.push({ index: i, reason: 'over-rate', detail: 'over the outcomes-per-second limit' });
      continue;
    }
    const outcome = checkOutcome(list[i], snapshot, true);
    if ('rejected' in outcome) {
      tally.refused(outcome.rejected, outcome.detail);
      if (errors.length < MAX_LISTED_ERRORS) errors.push({ index: i, reason: outcome.rejected, detail: outcome.detail });
      continue;
    }
    tally.counted();
    countOutcome(opts.observer, outcome);
    counted++;
  }
  return { counted, refused: list.length - counted, errors };
}

function answer(res: ServerResponse, status: number, body: object, close: boolean): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' };
  // An unread body (refused before reading it) must not be parsed as the next request.
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}
