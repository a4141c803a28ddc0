/**
 * The access log: one JSON line per request on stdout, through pino's asynchronous destination
 * (sonic-boom), so logging never blocks the event loop on a slow pipe.
 *
 * Two costs are cut because this runs once per request:
 * - Lines are written in batches of at least 4 KiB, and at the latest every second: one write
 *   system call per line cost more than the rest of the logging (4.5% of the gateway's CPU under
 *   load). A crash may lose the last second of lines, as with nginx's `access_log buffer= flush=`.
 * - The line has a fixed shape, so it is formatted by one template instead of pino's generic
 *   serializer (measured 1.0 vs 2.8 microseconds per line). The format is pino's own (`level`,
 *   `time` in epoch ms, then the fields), so pino tooling (pino-pretty...) reads it unchanged.
 */
import pino, { type DestinationStream } from 'pino';

/** One access-log line. `endpoint` and `version` are '' when the gateway answered itself. */
export interface AccessRecord {
  method: string;
  /** `HTTP/1.1` or `HTTP/2` (an HTTP/1.0 request shows as HTTP/1.1: the engine answers in 1.1). */
  protocol: string;
  /** The request target as sent: path and query. */
  path: string;
  route: string;
  lane: string;
  /** The rule (or `split`, `pinned`, `trusted`...) that put the request into its lane. */
  by: string;
  version: string;
  endpoint: string;
  status: number;
  /** Milliseconds from the request to the end of the response (or the failure). */
  ms: number;
  /** The W3C trace id (the gateway's span's with tracing on, else a valid incoming traceparent's), or null: no field. */
  traceId: string | null;
}

/** An open access log. */
export interface AccessLog {
  write(record: AccessRecord): void;
  /** Writes out buffered lines and stops the flush timer. */
  close(): Promise<void>;
}

/**
 * Lines are written in batches of whole lines, each write at most PIPE_BUF (4096 bytes on Linux):
 * a write that size to a pipe is atomic, so workers sharing one stdout never cut into each
 * other's lines.
 */
const BATCH_BYTES = 3072;
const MAX_WRITE = 4096;
const FLUSH_EVERY_MS = 1000;
/** pino's number for `info`. */
const INFO = 30;

/** Printable ASCII without `"` and `\`: such a string is its own JSON body. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function str(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * The quoted form of a value that repeats from line to line (method, route, lane, rule, version,
 * endpoint: a few per config), from a small table rather than tested and built again per line.
 * Bounded: lanes can come from outside (trusted lanes), so a full table starts over.
 */
const quoted = new Map<string, string>();
const MAX_QUOTED = 512;
function repeated(s: string): string {
  let q = quoted.get(s);
  if (q === undefined) {
    if (quoted.size >= MAX_QUOTED) quoted.clear();
    q = str(s);
    quoted.set(s, q);
  }
  return q;
}

/** The JSON line of a record (with its trailing newline), as pino would write it at level info. */
export function accessLine(r: AccessRecord, time: number): string {
  return (
    `{"level":${INFO},"time":${time},"method":${repeated(r.method)},"protocol":${repeated(r.protocol)},"path":${str(r.path)},"route":${repeated(r.route)},` +
    `"lane":${repeated(r.lane)},"by":${repeated(r.by)},"version":${repeated(r.version)},"endpoint":${repeated(r.endpoint)},` +
    `"status":${r.status},"ms":${r.ms}${r.traceId === null ? '' : `,"traceId":${str(r.traceId)}`}}\n`
  );
}

/** Opens the access log on `destination` (anything with `write(line)`), default stdout. */
export function openAccessLog(destination?: DestinationStream): AccessLog {
  if (destination !== undefined) {
    return {
      write: (record) => void destination.write(accessLine(record, Date.now())),
      close: () => Promise.resolve(),
    };
  }
  const stdout = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, maxWrite: MAX_WRITE });
  // A closed stdout (EPIPE) must not take the gateway down; the lines are lost, requests are not.
  stdout.on('error', () => {});
  const timer = setInterval(() => flushQuietly(stdout), FLUSH_EVERY_MS);
  timer.unref();
  return {
    write: (record) => void stdout.write(accessLine(record, Date.now())),
    close() {
      clearInterval(timer);
      return new Promise<void>((resolve) => {
        try {
          stdout.flush(() => resolve());
        } catch {
          resolve(); // stdout is gone: nothing left to flush to
        }
      });
    },
  };
}

function flushQuietly(stream: { flush(): void }): void {
  try {
    stream.flush();
  } catch {
    // stdout closed: the lines have nowhere to go, and logging must never take the gateway down.
  }
}
