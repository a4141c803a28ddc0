/**
 * Two readers of the same bytes, for the differential tests: Node's own llhttp (the parser behind
 * `http.Server` and, for responses, what undici's llhttp implements), and graylane's src/http1.
 * Both turn a byte stream into the messages they accept, in one shape, so a test can ask "did
 * graylane accept anything llhttp refused, or frame it differently?".
 */
import { METHODS } from 'node:http';
import { createRequire } from 'node:module';
import { ChunkedDecoder, findHeadEnd, parseRequestHead, parseResponseHead, RequestHead, ResponseHead, skipEmptyLines, type Fields } from '../../src/http1/index.js';

export interface Message {
  /** Request: the method; response: the status. */
  start: string;
  /** Request: the target; response: the reason phrase. */
  target: string;
  minor: number;
  headers: [string, string][];
  body: string;
}

export interface Outcome {
  messages: Message[];
  /** Why reading stopped with an error (null: all bytes read, or waiting for more). */
  error: string | null;
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [key: number]: unknown;
}
interface LlhttpModule {
  HTTPParser: {
    new (): LlhttpParser;
    REQUEST: number;
    RESPONSE: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
  };
}
// `_http_common` is Node's own module for its HTTP parser binding (llhttp, strict unless
// --insecure-http-parser); loading it is the same parser `http.Server` runs, without a socket.
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as LlhttpModule;

/**
 * llhttp's method numbers to names. `_http_common`'s `methods` array is not indexed by them (QUERY
 * is 46 in llhttp, 34 there), so the table is read off llhttp itself, one request per method.
 */
const methods: string[] = (() => {
  const table: string[] = [];
  for (const name of METHODS) {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
    parser[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, _h: unknown, index: number) => {
      table[index] = name;
      return 0;
    };
    parser.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: a\r\n\r\n`));
    parser.close();
  }
  return table;
})();

/** What llhttp makes of `bytes` (requests, or responses to `method` requests). */
export function llhttp(kind: 'request' | 'response', bytes: Buffer, method = 'GET'): Outcome {
  const parser = new HTTPParser();
  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 64 * 1024, 0);
  const messages: Message[] = [];
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  let current: Message | null = null;
  let body: Buffer[] = [];
  // Long heads arrive in pieces: fields (and the URL) flushed before the head is complete.
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string | undefined) => {
    pendingHeaders.push(...headers);
    pendingUrl += url ?? '';
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    minor: number,
    headers: string[] | undefined,
    methodIndex: number,
    url: string | undefined,
    status: number,
    reason: string | undefined,
  ) => {
    const all = [...pendingHeaders, ...(headers ?? [])];
    pendingHeaders = [];
    const flushedUrl = pendingUrl;
    pendingUrl = '';
    const pairs: [string, string][] = [];
    for (let i = 0; i < all.length; i += 2) pairs.push([all[i]!, all[i + 1]!]);
    current = {
      start: kind === 'request' ? methods[methodIndex]! : String(status),
      target: kind === 'request' ? flushedUrl + (url ?? '') : (reason ?? ''),
      minor,
      headers: pairs,
      body: '',
    };
    body = [];
    // A response to HEAD has no body, whatever its headers say (1 = skip the body).
    return kind === 'response' && method === 'HEAD' ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    body.push(Buffer.from(chunk));
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (current !== null) {
      current.body = Buffer.concat(body).toString('latin1');
      messages.push(current);
    }
    current = null;
    pendingHeaders = [];
    pendingUrl = '';
  };
  let error: string | null = null;
  const r = parser.execute(bytes);
  if (r instanceof Error) error = (r as Error & { code?: string }).code ?? r.message;
  parser.close();
  return { messages, error };
}

const LIMITS = { maxHeaderBytes: 64 * 1024, maxHeaders: 200, maxUrlBytes: 16 * 1024 };

function headersOf(buf: Buffer, fields: Fields): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < fields.count; i++) {
    out.push([buf.toString('latin1', fields.nameStart(i), fields.nameEnd(i)), buf.toString('latin1', fields.valueStart(i), fields.valueEnd(i))]);
  }
  return out;
}

/** What graylane's parser makes of `bytes`, as a client connection would feed it. */
export function graylane(kind: 'request' | 'response', bytes: Buffer, method = 'GET'): Outcome {
  const messages: Message[] = [];
  const req = new RequestHead(LIMITS);
  const res = new ResponseHead(LIMITS.maxHeaders);
  const chunked = new ChunkedDecoder(LIMITS.maxHeaderBytes, LIMITS.maxHeaders);
  let pos = 0;
  while (pos < bytes.length) {
    if (kind === 'request') pos = skipEmptyLines(bytes, pos, bytes.length);
    const end = findHeadEnd(bytes, pos, pos, bytes.length);
    if (typeof end === 'object') return { messages, error: end.reason };
    if (end === -1) break;
    let message: Message;
    let framing: 'none' | 'length' | 'chunked' | 'close';
    let length = 0;
    if (kind === 'request') {
      const bad = parseRequestHead(bytes, pos, end, req);
      if (bad !== null) return { messages, error: bad.reason };
      message = { start: req.method, target: req.target, minor: req.minor, headers: headersOf(bytes, req.fields), body: '' };
      framing = req.chunked ? 'chunked' : 'length';
      length = req.contentLength;
    } else {
      const bad = parseResponseHead(bytes, pos, end, res, method);
      if (bad !== null) return { messages, error: bad.reason };
      message = { start: String(res.status), target: bytes.toString('latin1', res.reasonStart, res.reasonEnd), minor: res.minor, headers: headersOf(bytes, res.fields), body: '' };
      framing = res.framing;
      length = res.contentLength;
    }
    if (framing === 'chunked') {
      chunked.reset();
      const parts: Buffer[] = [];
      const next = chunked.decode(bytes, end, bytes.length, (b, s, e) => parts.push(Buffer.from(b.subarray(s, e))));
      if (typeof next === 'object') return { messages, error: next.reason };
      if (next === -1) break;
      message.body = Buffer.concat(parts).toString('latin1');
      pos = next;
    } else if (framing === 'close') {
      // Until the connection closes: everything that follows is this body, and nothing completes
      // before the close; a reader of a fixed buffer sees no complete message.
      break;
    } else {
      if (bytes.length - end < length) break;
      message.body = bytes.toString('latin1', end, end + length);
      pos = end + length;
    }
    messages.push(message);
    // Bytes after an upgrade or a CONNECT are not HTTP.
    if (kind === 'request' ? req.upgrade || req.method === 'CONNECT' : res.status === 101) break;
    // The connection closes after this message: whatever follows is never read.
    if (kind === 'request' ? !req.keepAlive : !res.keepAlive && res.status >= 200) break;
  }
  return { messages, error: null };
}

/**
 * Null when graylane accepted nothing llhttp refused and framed every message it accepted as
 * llhttp did; otherwise what differs. graylane may refuse more (it is stricter on purpose).
 */
export function divergence(kind: 'request' | 'response', bytes: Buffer, method = 'GET'): string | null {
  const ours = graylane(kind, bytes, method);
  const theirs = llhttp(kind, bytes, method);
  for (let i = 0; i < ours.messages.length; i++) {
    const a = ours.messages[i]!;
    const b = theirs.messages[i];
    if (b === undefined) return `graylane accepted message ${i + 1}, llhttp did not (${theirs.error ?? 'incomplete'})`;
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    if (sa !== sb) return `message ${i + 1} differs:\n  graylane ${sa}\n  llhttp   ${sb}`;
  }
  return null;
}
