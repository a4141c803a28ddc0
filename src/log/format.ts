/**
 * Logs for people: `--log-format pretty` (the default on a terminal) turns each JSON log line into
 * one readable line; `json` (the default on a pipe or file) leaves pino's lines as they are, for
 * log collectors. pino-pretty is not a dependency: the lines have a small known shape, and this
 * formatter is a few lines.
 *
 * @example
 * formatLogLine('{"level":30,"time":1764921600000,"name":"graylane","msg":"gateway listening","listen":"127.0.0.1:8080"}')
 * // '08:00:00.000 INFO  gateway listening  listen=127.0.0.1:8080'
 */
import { writeSync } from 'node:fs';
import pino, { type DestinationStream } from 'pino';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/** `auto` is pretty on a terminal and JSON otherwise; decided per stream (stderr, stdout). */
export function chooseLogFormat(flag: (typeof LOG_FORMATS)[number], isTTY: boolean): LogFormat {
  return flag === 'auto' ? (isTTY ? 'pretty' : 'json') : flag;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, or that are shown in their own place. */
const SHOWN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname', 'err']);
/** An access-log line (src/gateway/access-log.ts) leads with the request and its answer. */
const ACCESS = ['method', 'path', 'status', 'ms'] as const;

/**
 * One pino JSON line -> `HH:MM:SS.mmm LEVEL message  key=value ...` (local time); an access-log line
 * -> `HH:MM:SS.mmm GET /path 200 3ms  route=... lane=...` (`GET /path HTTP/2 200` for another protocol); an error's stack on the lines after. A
 * line that is not JSON is returned as it is.
 */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null) return line;
  const time = typeof rec.time === 'number' ? clock(rec.time) : '';
  const isAccess = rec.msg === undefined && ACCESS.every((k) => k in rec);
  // The protocol reads as in a request line, and only where it is not the usual HTTP/1.1.
  const protocol = isAccess && typeof rec.protocol === 'string' && rec.protocol !== 'HTTP/1.1' ? ` ${printable(rec.protocol)}` : '';
  const head = isAccess
    ? `${time} ${printable(String(rec.method))} ${printable(String(rec.path))}${protocol} ${String(rec.status)} ${String(rec.ms)}ms`
    : `${time} ${(LEVELS[rec.level as number] ?? String(rec.level)).padEnd(5)} ${typeof rec.msg === 'string' ? printable(rec.msg) : ''}`;
  const skip = isAccess ? new Set<string>([...SHOWN, ...ACCESS, 'protocol']) : SHOWN;
  const fields = Object.entries(rec)
    .filter(([k, v]) => !skip.has(k) && v !== '' && v !== undefined)
    .map(([k, v]) => `${k}=${value(v)}`);
  const err = rec.err as { message?: unknown; stack?: unknown } | undefined;
  if (err !== undefined && typeof err === 'object') fields.push(`err=${value(err.message)}`);
  const text = fields.length > 0 ? `${head}  ${fields.join(' ')}` : head;
  const stack = typeof err?.stack === 'string' ? `\n${err.stack.split('\n').slice(1).map(printable).join('\n')}` : '';
  return text.trimEnd() + stack;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A plain word as it is; anything with spaces, quotes or structure as JSON, so a line stays one line. */
function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? printable(v) : printable(JSON.stringify(v));
  return printable(JSON.stringify(v) ?? String(v));
}

/**
 * Control characters escaped (C0, DEL, C1): a logged value (a request path, a header) must not
 * move the cursor or recolour the terminal that shows it.
 */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Where pino (or the access log) writes for format `format` on file descriptor `fd`: pino's own
 * destination for JSON, else a stream that formats each line. Writes are synchronous, as the
 * operational log's are, so nothing is lost when the process exits right after logging.
 */
export function logDestination(fd: 1 | 2, format: LogFormat): DestinationStream {
  if (format === 'json') return pino.destination({ fd, sync: true });
  return {
    write(chunk: string): void {
      // The access log may hand over several lines at once.
      const out = chunk
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => `${formatLogLine(l)}\n`)
        .join('');
      try {
        writeSync(fd, out);
      } catch {
        // A closed terminal or pipe must not take the process down; the lines have nowhere to go.
      }
    },
  };
}
