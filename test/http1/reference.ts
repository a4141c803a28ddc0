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

/**
 * undici's own llhttp (the WebAssembly build its HTTP/1.1 client runs; a different build and
 * version from Node's), driven as undici's client-h1.js drives it: a reader of responses only.
 * As undici does, a response to HEAD and a 1xx have no body (headers-complete returns 1); unlike
 * undici, an interim response is recorded as a message, as the other two readers record it.
 */
interface LlhttpWasm {
  memory: { buffer: ArrayBuffer };
  malloc(n: number): number;
  free(p: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_http_minor(p: number): number;
}
const undiciRequire = createRequire(createRequire(import.meta.url).resolve('undici'));
const undiciConstants = undiciRequire('./lib/llhttp/constants.js') as { TYPE: { RESPONSE: number }; ERROR: Record<string, number> };

/** The reader's state while one execute() runs (the wasm callbacks have no closure of their own). */
const wasmState = {
  bytes: Buffer.alloc(0),
  base: 0,
  method: 'GET',
  minor: 1,
  messages: [] as Message[],
  current: null as Message | null,
  field: '',
  value: '',
  /** Last span seen: a field name or value may come in several calls. */
  last: '' as '' | 'field' | 'value',
  body: [] as Buffer[],
  parser: 0,
};
const span = (at: number, len: number): string => wasmState.bytes.toString('latin1', at - wasmState.base, at - wasmState.base + len);
function flushField(): void {
  // The value span runs to the CR, trailing whitespace included; that whitespace is OWS, not part
  // of the value (RFC 9110 §5.5), and Node's binding and graylane both leave it out.
  if (wasmState.last === 'value' && wasmState.current !== null) wasmState.current.headers.push([wasmState.field, wasmState.value.replace(/[ \t]+$/, '')]);
  wasmState.field = '';
  wasmState.value = '';
}
/** The WebAssembly global (the project's TypeScript lib has no DOM types, which declare it). */
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Buffer) => object; Instance: new (mod: object, imports: object) => { exports: unknown } };
};
const undiciWasm: LlhttpWasm = (() => {
  const mod = new WebAssembly.Module(undiciRequire('./lib/llhttp/llhttp-wasm.js') as Buffer);
  const instance = new WebAssembly.Instance(mod, {
    env: {
      wasm_on_url: () => 0,
      wasm_on_message_begin: () => {
        wasmState.current = { start: '', target: '', minor: 1, headers: [], body: '' };
        wasmState.body = [];
        wasmState.last = '';
        return 0;
      },
      wasm_on_status: (_p: number, at: number, len: number) => {
        wasmState.current!.target += span(at, len);
        return 0;
      },
      wasm_on_header_field: (_p: number, at: number, len: number) => {
        // Trailer fields (after a chunked body) come through the same callbacks: not headers.
        if (wasmState.current === null || wasmState.current.start !== '') return 0;
        if (wasmState.last === 'value') flushField();
        wasmState.field += span(at, len);
        wasmState.last = 'field';
        return 0;
      },
      wasm_on_header_value: (_p: number, at: number, len: number) => {
        if (wasmState.current === null || wasmState.current.start !== '') return 0;
        wasmState.value += span(at, len);
        wasmState.last = 'value';
        return 0;
      },
      wasm_on_headers_complete: (p: number, status: number) => {
        if (wasmState.last === 'value') flushField();
        // An empty value arrives without a value span: the field alone was seen.
        if (wasmState.last === 'field') wasmState.current!.headers.push([wasmState.field, '']);
        wasmState.last = '';
        wasmState.current!.start = String(status);
        wasmState.current!.minor = undiciWasm.llhttp_get_http_minor(p);
        return wasmState.method === 'HEAD' || status < 200 ? 1 : 0;
      },
      wasm_on_body: (_p: number, at: number, len: number) => {
        wasmState.body.push(wasmState.bytes.subarray(at - wasmState.base, at - wasmState.base + len));
        return 0;
      },
      wasm_on_message_complete: () => {
        const m = wasmState.current;
        if (m !== null) {
          m.body = Buffer.concat(wasmState.body).toString('latin1');
          wasmState.messages.push(m);
        }
        wasmState.current = null;
        return 0;
      },
    },
  });
  return instance.exports as unknown as LlhttpWasm;
})();

/** What undici's llhttp makes of `bytes`, responses to `method` requests. */
export function undiciLlhttp(bytes: Buffer, method = 'GET'): Outcome {
  const w = undiciWasm;
  const parser = w.llhttp_alloc(undiciConstants.TYPE.RESPONSE);
  const ptr = w.malloc(Math.max(1, bytes.length));
  new Uint8Array(w.memory.buffer, ptr, bytes.length).set(bytes);
  Object.assign(wasmState, { bytes, base: ptr, method, messages: [], current: null, field: '', value: '', last: '', body: [], parser });
  let error: string | null = null;
  try {
    const ret = w.llhttp_execute(parser, ptr, bytes.length);
    if (ret !== undiciConstants.ERROR.OK) {
      const reason = w.llhttp_get_error_reason(parser);
      const mem = new Uint8Array(w.memory.buffer);
      error = reason === 0 ? `llhttp error ${ret}` : Buffer.from(mem.subarray(reason, mem.indexOf(0, reason))).toString('latin1');
    }
  } finally {
    w.free(ptr);
    w.llhttp_free(parser);
  }
  return { messages: wasmState.messages, error };
}

/** As {@link divergence}, for responses, against undici's llhttp: the parser of graylane's upstream side today. */
export function undiciDivergence(bytes: Buffer, method = 'GET'): string | null {
  const ours = graylane('response', bytes, method);
  const theirs = undiciLlhttp(bytes, method);
  for (let i = 0; i < ours.messages.length; i++) {
    const a = ours.messages[i]!;
    const b = theirs.messages[i];
    if (b === undefined) return `graylane accepted message ${i + 1}, undici's llhttp did not (${theirs.error ?? 'incomplete'})`;
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    if (sa !== sb) return `message ${i + 1} differs:\n  graylane        ${sa}\n  undici llhttp   ${sb}`;
  }
  return null;
}
