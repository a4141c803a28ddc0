/**
 * Instance registration: an application instance announces itself to the graylane admin API as an
 * endpoint of `service`'s version `version` (its lane), keeps the registration alive with heartbeats,
 * and removes it on shutdown, the way Eureka, Consul or Nacos agents do.
 *
 *   POST   {admin}/api/v1/instances                {service, version, url, ttlMs?} -> 201 {id, ttlMs}
 *   PUT    {admin}/api/v1/instances/{id}/heartbeat                                 -> 200 | 404
 *   DELETE {admin}/api/v1/instances/{id}                                          -> 204 | 404
 *   errors: {"error": "<code>", "message": "<reason>"}  (src/admin/instances.ts)
 *
 * All with `Authorization: Bearer <token>`. One loop does the work: register (retrying with capped,
 * jittered exponential backoff while the admin API is away or refuses), then heartbeat every
 * `heartbeatMs`; a 404 on a heartbeat means the registration expired (the admin API restarted, or
 * heartbeats were lost for a TTL), so it registers again. Its timers are unref'ed: registration never
 * keeps a process alive. Its requests are made outside any lane, so they never carry a request's lane.
 */
import { laneStorage } from './context.js';

/** Options of {@link register}. */
export interface RegisterOptions {
  /** Base URL of the admin API, e.g. `http://graylane:9901`. */
  admin: string;
  /** The admin API token. */
  token: string;
  service: string;
  /** The version (and lane) this instance serves, e.g. `stable`, `canary`, `feature-x`. */
  version: string;
  /** Where the gateway reaches this instance, e.g. `http://10.0.0.7:8080`. */
  url: string;
  /** Requested TTL; the admin API may clamp it (its answer is used). Default: the admin API's. */
  ttlMs?: number;
  /** Heartbeat period; default a third of the TTL, so two heartbeats may be lost before expiry. */
  heartbeatMs?: number;
  /** First retry delay after a failure; default 250 ms, doubling up to `retryMaxMs`. */
  retryMinMs?: number;
  /** Longest retry delay; default 10 s. */
  retryMaxMs?: number;
  /** Timeout of one admin API call; default 5 s. */
  requestTimeoutMs?: number;
  /**
   * Deregister on SIGTERM and SIGINT, then let the signal do what it would have done: when no other
   * listener handles it, the process is ended by the same signal. Default false.
   */
  deregisterOnSignals?: boolean;
  /**
   * Every failed admin API call (the loop retries by itself). Default: a process warning for the
   * first failure of a run of failures.
   */
  onError?: (err: RegistrationError) => void;
}

/** The handle {@link register} returns. */
export interface Registration {
  /** The current instance id; undefined until registered (and between expiry and re-registration). */
  readonly id: string | undefined;
  /** Settles with the id once first registered; rejects if deregistered before that. */
  readonly ready: Promise<string>;
  /** Stops heartbeats and deletes the registration. Idempotent; resolves when done (errors are reported, not thrown). */
  deregister(): Promise<void>;
}

export type RegistrationErrorCode = 'unreachable' | 'rejected' | 'bad_response' | 'deregistered';

/** A failed admin API call, or `ready` of a registration stopped before it registered. */
export class RegistrationError extends Error {
  override readonly name = 'RegistrationError';
  /**
   * @param code `unreachable` (network error or timeout), `rejected` (an HTTP error status),
   *   `bad_response` (a 2xx without `id`), `deregistered`
   * @param status the HTTP status for `rejected`
   */
  constructor(
    readonly code: RegistrationErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Registers this instance and keeps it registered until `deregister()` (or a signal, when opted in).
 * Returns at once; `ready` tells when the first registration succeeded.
 * @example
 * const reg = register({ admin: 'http://gw:9901', token, service: 'orders', version: 'beta', url: 'http://10.0.0.7:8080' });
 * process.on('SIGTERM', () => reg.deregister().then(() => process.exit(0)));
 */
export function register(opts: RegisterOptions): Registration {
  return new Registrar(opts);
}

class Registrar implements Registration {
  id: string | undefined;
  readonly ready: Promise<string>;
  private resolveReady!: (id: string) => void;
  private rejectReady!: (err: Error) => void;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** Wakes the loop from a sleep when stopping. */
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private failures = 0;
  private readonly onSignal = (signal: NodeJS.Signals) => void this.stopOnSignal(signal);

  constructor(private readonly opts: RegisterOptions) {
    this.base = `${opts.admin.replace(/\/+$/, '')}/api/v1/instances`;
    this.headers = { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' };
    this.ready = new Promise<string>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // `ready` is optional to await: an unobserved rejection must not crash the process.
    this.ready.catch(() => {});
    if (opts.deregisterOnSignals) for (const s of SIGNALS) process.on(s, this.onSignal);
    // The loop's requests and timers must not inherit the lane of a request that called register().
    this.loop = laneStorage.run(undefined, () => this.run());
  }

  deregister(): Promise<void> {
    this.stopping ??= laneStorage.run(undefined, () => this.stop());
    return this.stopping;
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    for (const s of SIGNALS) process.off(s, this.onSignal);
    this.wake?.();
    await this.loop;
    this.rejectReady(new RegistrationError('deregistered', 'deregistered before the first registration'));
    const id = this.id;
    if (id === undefined) return;
    this.id = undefined;
    try {
      const res = await this.call('DELETE', `${this.base}/${encodeURIComponent(id)}`);
      await res.body?.cancel();
      if (res.status !== 204 && res.status !== 200 && res.status !== 404) {
        this.report(new RegistrationError('rejected', `deregister ${id}: HTTP ${res.status}`, res.status));
      }
    } catch (err) {
      this.report(asRegistrationError(err));
    }
  }

  private async stopOnSignal(signal: NodeJS.Signals): Promise<void> {
    await this.deregister();
    // Ours was the only listener: do what the signal does without one (end the process by it).
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  }

  private async run(): Promise<void> {
    let ttlMs = this.opts.ttlMs;
    // After a failed heartbeat the backoff has been slept already: try again without the period.
    let retrying = false;
    while (!this.stopped) {
      if (this.id === undefined) {
        const got = await this.attempt(() => this.registerOnce());
        if (got !== undefined) {
          this.id = got.id;
          ttlMs = got.ttlMs ?? ttlMs;
          this.resolveReady(got.id);
        }
        continue;
      }
      if (!retrying) await this.sleep(this.opts.heartbeatMs ?? Math.max(1, Math.floor((ttlMs ?? 30_000) / 3)));
      if (this.stopped) break;
      const alive = await this.attempt(() => this.heartbeatOnce(this.id!));
      retrying = alive === undefined;
      if (alive === false) this.id = undefined;
    }
  }

  /** Runs one admin call; on failure reports it and sleeps the backoff, returning undefined. */
  private async attempt<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      const out = await call();
      this.failures = 0;
      return out;
    } catch (err) {
      this.report(asRegistrationError(err));
      const min = this.opts.retryMinMs ?? 250;
      const max = this.opts.retryMaxMs ?? 10_000;
      const delay = Math.min(max, min * 2 ** Math.min(this.failures, 30));
      this.failures++;
      // Half fixed, half random: instances that lost the admin API together do not retry in step.
      await this.sleep(delay / 2 + Math.random() * (delay / 2));
      return undefined;
    }
  }

  private async registerOnce(): Promise<{ id: string; ttlMs?: number }> {
    const { service, version, url, ttlMs } = this.opts;
    const body = JSON.stringify(ttlMs === undefined ? { service, version, url } : { service, version, url, ttlMs });
    const res = await this.call('POST', this.base, body);
    const text = await res.text();
    if (res.status !== 201 && res.status !== 200) {
      throw new RegistrationError('rejected', `register: HTTP ${res.status}: ${reason(text)}`, res.status);
    }
    let parsed: { id?: unknown; ttlMs?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch (err) {
      throw new RegistrationError('bad_response', 'register: the answer is not JSON', res.status, { cause: err });
    }
    if (typeof parsed.id !== 'string' || parsed.id === '') {
      throw new RegistrationError('bad_response', 'register: the answer has no id', res.status);
    }
    return typeof parsed.ttlMs === 'number' ? { id: parsed.id, ttlMs: parsed.ttlMs } : { id: parsed.id };
  }

  /** True: alive. False: unknown to the admin API (expired), register again. Throws otherwise. */
  private async heartbeatOnce(id: string): Promise<boolean> {
    const res = await this.call('PUT', `${this.base}/${encodeURIComponent(id)}/heartbeat`);
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.status < 200 || res.status > 299) {
      throw new RegistrationError('rejected', `heartbeat ${id}: HTTP ${res.status}`, res.status);
    }
    return true;
  }

  private async call(method: string, url: string, body?: string): Promise<Response> {
    try {
      return await fetch(url, {
        method,
        headers: this.headers,
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 5_000),
        ...(body === undefined ? {} : { body }),
      });
    } catch (err) {
      throw new RegistrationError('unreachable', `${method} ${url}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  private report(err: RegistrationError): void {
    if (this.opts.onError !== undefined) this.opts.onError(err);
    else if (this.failures === 0) process.emitWarning(err);
  }

  /** A timer that does not keep the process alive; cut short by deregister(). */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}

/** A body that broke off mid-read is a network failure like any other. */
function asRegistrationError(err: unknown): RegistrationError {
  if (err instanceof RegistrationError) return err;
  return new RegistrationError('unreachable', (err as Error)?.message ?? String(err), undefined, { cause: err });
}

/**
 * The admin API's reason from an error body: `code: message` from graylane's `{"error": code,
 * "message"}` (or the nested `{"error": {code, message}}` some proxies and older servers send), else
 * the text itself.
 */
function reason(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } | string; message?: unknown };
    const err = j.error;
    const code = typeof err === 'string' ? err : typeof err?.code === 'string' ? err.code : undefined;
    const message = typeof err === 'object' && typeof err.message === 'string' ? err.message : typeof j.message === 'string' ? j.message : undefined;
    if (code !== undefined && message !== undefined) return `${code}: ${message}`;
    if (message !== undefined || code !== undefined) return (message ?? code)!;
  } catch {
    // not JSON: use the text
  }
  return text.slice(0, 200);
}
