/**
 * The admin listener: a small JSON-over-HTTP router. Every change needs `Authorization: Bearer <token>`
 * (compared in constant time); reads are open (the listener binds to loopback by default). Bodies are
 * size-limited JSON objects; handlers return data or throw an ApiError, which becomes a 4xx/5xx with
 * `{ error: code, message }`. No CORS headers are ever sent, so browsers on other origins cannot call it;
 * on a loopback listener, requests whose Host is not a loopback name are refused (DNS rebinding).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import { GraylaneError } from '../errors.js';

/** Says how to pass one: a newcomer's first change is often refused here. */
const UNAUTHORIZED = 'missing or wrong bearer token: send the admin token graylane serve was started with as "Authorization: Bearer TOKEN"';

export class ApiError extends GraylaneError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  raw: http.IncomingMessage;
}

export interface ApiReply {
  status?: number;
  body?: unknown;
  /** Raw response: the handler writes it itself (server-sent events, assets, /metrics). */
  handled?: true;
}

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** `/api/v1/rollouts/:name/promote`; `:x` matches one path segment. */
  path: string;
  /** `write` needs the bearer token. */
  access: 'read' | 'write';
  /** Answered while the process drains (the health probes); every other route is refused then. */
  whileDraining?: true;
  handle(req: ApiRequest, res: http.ServerResponse): Promise<ApiReply> | ApiReply;
}

export interface AdminServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

interface CompiledRoute extends ApiRoute {
  regex: RegExp;
  names: string[];
}

function compileRoute(r: ApiRoute): CompiledRoute {
  const names: string[] = [];
  const src = r.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([a-zA-Z]+)/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { ...r, regex: new RegExp(`^${src}$`), names };
}

/** `localhost`, an IPv4 loopback address or `[::1]`, with an optional port (a Host header or a listen host). */
const LOOPBACK_HOST = /^(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]{1,5})?$/i;

/** A path parameter, percent-decoded; a malformed escape is the client's mistake (400), not ours. */
function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, 'bad_path', `malformed percent-encoding in the path segment "${raw}"`);
  }
}

/** Constant-time token check: hash both sides so lengths never leak through timing either. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = createHash('sha256').update(header.slice(7)).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = status === 204 ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new ApiError(413, 'body_too_large', `request body over ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ApiError(413, 'body_too_large', `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) {
    throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'bad_json', `body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ApiError(400, 'bad_json', 'body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

export async function startAdmin(opts: {
  host: string;
  port: number;
  token: string | undefined;
  routes: ApiRoute[];
  /** True once shutdown began: the listener stays up for the probes, the rest answers 503. */
  draining?: () => boolean;
}): Promise<AdminServer> {
  const routes = opts.routes.map(compileRoute);
  const loopbackOnly = LOOPBACK_HOST.test(opts.host) || opts.host === '::1';
  const server = http.createServer(async (req, res) => {
    try {
      // DNS rebinding: a page on evil.example whose name is re-pointed at 127.0.0.1 is same-origin
      // with this listener, so the browser would let it read the open endpoints. Its requests still
      // say `Host: evil.example`; a loopback-only listener answers loopback names only.
      if (loopbackOnly && !LOOPBACK_HOST.test(req.headers.host ?? '')) {
        throw new ApiError(403, 'forbidden_host', 'this admin API listens on loopback and answers only Host: localhost, 127.x.x.x or [::1]');
      }
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      if (url.searchParams.has('token') || url.searchParams.has('access_token')) {
        // Tokens in URLs end up in logs and browser history: refuse them outright.
        throw new ApiError(400, 'token_in_query', 'send the token in the Authorization header, never in the URL');
      }
      let pathMatched = false;
      for (const r of routes) {
        const m = r.regex.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
        if (r.whileDraining !== true && opts.draining?.() === true) throw new ApiError(503, 'draining', 'graylane is shutting down: only /healthz and /readyz answer');
        if (r.access === 'write') {
          if (opts.token === undefined) throw new ApiError(403, 'no_admin_token', 'changes are disabled: the gateway was started without an admin token (GRAYLANE_ADMIN_TOKEN)');
          if (!tokenMatches(req.headers.authorization, opts.token)) throw new ApiError(401, 'unauthorized', UNAUTHORIZED);
        }
        const params: Record<string, string> = {};
        r.names.forEach((name, i) => (params[name] = decodePathParam(m[i + 1]!)));
        const body = req.method === 'GET' || req.method === 'HEAD' ? {} : await readJson(req);
        const reply = await r.handle({ params, query: url.searchParams, body, raw: req }, res);
        if (!reply.handled) send(res, reply.status ?? 200, reply.body ?? {});
        return;
      }
      throw pathMatched
        ? new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
        : new ApiError(404, 'not_found', `no admin endpoint ${url.pathname}`);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) send(res, err.status, { error: err.code, message: err.message });
      else if (isStoreError(err)) send(res, err.status, { error: err.code.toLowerCase(), message: err.message });
      else send(res, 500, { error: 'internal', message: (err as Error).message });
    }
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    address: { host: addr.address, port: addr.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The store's own errors carry their answer: etcd unreachable is 503 `store_unavailable` (nothing
 * was written), a lost compare-and-swap 409 `store_conflict`, a write from a demoted leader 409.
 */
function isStoreError(err: unknown): err is Error & { code: string; status: number } {
  const e = err as { code?: unknown; status?: unknown } | null;
  return (
    e instanceof Error &&
    typeof e.status === 'number' &&
    (e.code === 'STORE_UNAVAILABLE' || e.code === 'STORE_CONFLICT' || e.code === 'STORE_FENCED')
  );
}

/** Reject keys a body must not have: a typo in a field should fail loudly, not be ignored. */
export function onlyKeys(body: Record<string, unknown>, allowed: string[]): void {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  if (extra.length) throw new ApiError(400, 'unknown_field', `unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')}; allowed: ${allowed.join(', ') || 'none'}`);
}
