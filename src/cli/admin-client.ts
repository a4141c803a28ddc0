/**
 * The CLI's side of the admin API: JSON requests with the bearer token, and the API's own reason as
 * the error message when it refuses (so `graylane rollout promote` prints what the server said).
 */
import { request } from 'undici';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9090';

/** A refusal of the admin API (4xx/5xx) or a failure to reach it. */
export class AdminApiError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the API could not be reached. */
    readonly status: number,
    /** The API's error code (`rollout_completed`, `unauthorized`...), or `unreachable`. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

export class AdminClient {
  readonly base: string;

  constructor(
    base: string,
    private readonly token: string | undefined,
  ) {
    this.base = adminBase(base);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: Record<string, unknown> = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await request(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
    } catch (err) {
      const reason = (err as { code?: string }).code ?? (err as Error).message;
      throw new AdminApiError(
        `cannot reach the admin API at ${this.base} (${reason}): is \`graylane serve\` running? Set --admin or GRAYLANE_ADMIN`,
        0,
        'unreachable',
      );
    }
    const text = await res.body.text();
    let data: unknown;
    try {
      data = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new AdminApiError(`the admin API at ${this.base} answered HTTP ${res.statusCode} with something that is not JSON`, res.statusCode, 'bad_answer');
    }
    if (res.statusCode >= 400) {
      const e = data as { error?: string; message?: string };
      if (e.error === 'unauthorized') throw new AdminApiError(this.unauthorized(), res.statusCode, e.error);
      // The admin API always says why; an answer without a message is from something else.
      if (e.message === undefined) throw new AdminApiError(this.notTheAdminApi(method, path, res.statusCode, e.error), res.statusCode, e.error ?? 'error');
      throw new AdminApiError(e.message, res.statusCode, e.error ?? 'error');
    }
    return data as T;
  }

  /** An error answer that is not the admin API's: most often the gateway's own listen given as --admin. */
  private notTheAdminApi(method: string, path: string, status: number, error: string | undefined): string {
    return (
      `${this.base} answered ${method} ${path} with HTTP ${status}${error !== undefined ? ` (${error})` : ''}: is it graylane's admin API ` +
      `(admin.listen or --admin-listen, default 127.0.0.1:9090), not the gateway's listen? Set --admin or GRAYLANE_ADMIN`
    );
  }

  /** The API's refusal in the CLI's terms: which flag or variable carries the token. */
  private unauthorized(): string {
    return this.token === undefined
      ? 'missing or wrong bearer token: no admin token was given; pass --token TOKEN or set GRAYLANE_ADMIN_TOKEN to the token graylane serve was started with'
      : 'missing or wrong bearer token: the token given (--token or GRAYLANE_ADMIN_TOKEN) is not the one graylane serve was started with';
  }
}

/**
 * The admin API's base URL from --admin or GRAYLANE_ADMIN. `HOST:PORT`, as --admin-listen and
 * admin.listen write it, means http://HOST:PORT; anything that is then no http(s) URL is refused
 * here, not reported later as a server that cannot be reached.
 *
 * @throws AdminApiError (code `bad_address`) naming the value and the form to write
 * @example adminBase('127.0.0.1:9090') // 'http://127.0.0.1:9090'
 */
export function adminBase(value: string): string {
  const withScheme = value.includes('://') ? value : `http://${value}`;
  let url: URL | undefined;
  try {
    url = new URL(withScheme);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new AdminApiError(`admin API address "${value}" (--admin or GRAYLANE_ADMIN) is not http://HOST:PORT, e.g. ${DEFAULT_ADMIN_URL}`, 0, 'bad_address');
  }
  return withScheme.replace(/\/+$/, '');
}
