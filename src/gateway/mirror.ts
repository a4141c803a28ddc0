/**
 * Mirroring: a copy of some requests goes to another lane's version, fire and forget.
 *
 * The copy never delays, alters or fails the main request: it is dispatched after the main request
 * through the same keep-alive pools, its response is read and discarded, and its failures only
 * count. Copies in flight are bounded (spec.mirror.maxConcurrent); over the bound a copy is dropped.
 *
 * Bodies: requests without a body (GET, HEAD, or no Content-Length / Transfer-Encoding) are always
 * copied. A request with a body is copied only when its Content-Length is at most
 * spec.mirror.maxBodyBytes: the main request then reads the body through a PassThrough fed by the
 * client request (so the main stream keeps its own backpressure and never waits for the copy), while
 * the same chunks are kept, by reference, until the body ends and the copy is sent. Chunked bodies of
 * unknown length are not copied (dropped).
 *
 * A copy is also dropped when the mirror lane would be served by the same version as the main
 * request, or only by the fallback: copying production traffic onto production would duplicate its
 * side effects. Copies do not feed passive health. They carry `x-graylane-mirror: 1`.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { dispatch, headerValue, needsHttp2 } from '../routing/index.js';
import type { CompiledRoute, HealthView, Snapshot } from '../routing/types.js';
import { MIRROR_HEADER, forwardHeaders, type ClientFields, type ForwardContext } from './headers.js';
import type { PoolSet } from './pools.js';

export { MIRROR_HEADER };

/** What a copy is made of: the client request as routed (src/http1's Http1Request is one). */
export interface MirrorSource {
  readonly method: string;
  /** The normalised request target (before a mesh prefix is cut). */
  readonly target: string;
  readonly fields: ClientFields;
}

/** Outcome counters of mirroring since the gateway started. */
export interface MirrorCounters {
  /** Copies whose response was received (any status). */
  sent: number;
  /** Copies not made: over maxConcurrent, body too large or of unknown length, no distinct target, client aborted. */
  dropped: number;
  /** Copies made that failed (connect error, timeout, reset). */
  failed: number;
}

/** The mirroring engine of one gateway. */
export class Mirror {
  readonly counters: MirrorCounters = { sent: 0, dropped: 0, failed: 0 };
  /** Copies reserved or in flight. */
  inFlight = 0;

  constructor(
    readonly pools: PoolSet,
    readonly health: HealthView,
  ) {}

  /**
   * Copies the request to `lane` when the limits allow. Called just before the main request is
   * dispatched; returns the body stream the main request must send: `body` itself, or a
   * PassThrough fed from it while the copy's body is collected.
   */
  copy(
    snapshot: Snapshot,
    route: CompiledRoute,
    lane: string,
    mainVersion: string,
    req: MirrorSource,
    ctx: ForwardContext,
    body: Readable | Buffer | null,
  ): Readable | Buffer | null {
    const limits = snapshot.spec.mirror;
    if (this.inFlight >= limits.maxConcurrent) return this.#drop(body);
    // A gRPC call's copy, like the call, goes only to an HTTP/2 endpoint.
    const target = dispatch(route.service, lane, this.health, needsHttp2(headerValue(req.fields, 'content-type')));
    if (target.endpoint === null || target.fellBack || target.version === mainVersion) return this.#drop(body);
    let bodyBytes = 0;
    if (body !== null) {
      const length = headerValue(req.fields, 'content-length');
      bodyBytes = length === undefined ? NaN : Number(length);
      if (!(bodyBytes <= limits.maxBodyBytes)) return this.#drop(body);
    }
    const headers = forwardHeaders(req.fields, { ...ctx, lane });
    headers.push(MIRROR_HEADER, '1');
    const timeouts = snapshot.spec.timeouts;
    const opts: Dispatcher.DispatchOptions = {
      path: target.endpoint.basePath + req.target,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: null,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.idleMs,
    };
    const pool = this.pools.get(target.endpoint.origin);
    this.inFlight++;
    if (body === null || Buffer.isBuffer(body)) {
      // A body already received whole (Http1Request.takeBody) is the copy's too. After the main
      // request: the caller dispatches it as soon as this returns.
      opts.body = body;
      process.nextTick(send, this, pool, opts);
      return body;
    }
    return this.#tee(body, bodyBytes, pool, opts);
  }

  #drop<B extends Readable | Buffer | null>(body: B): B {
    this.counters.dropped++;
    return body;
  }

  /** Feeds the main request through a PassThrough and sends the copy when the body has ended. */
  #tee(body: Readable, expected: number, pool: Dispatcher, opts: Dispatcher.DispatchOptions): Readable {
    const main = new PassThrough();
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const abandon = (err?: Error) => {
      if (!settled) {
        settled = true;
        this.inFlight--;
        this.counters.dropped++;
      }
      if (err !== undefined) main.destroy(err);
    };
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Content-Length bounds this; the check guards against a body longer than it announced.
      if (size <= expected) chunks.push(chunk);
    });
    body.once('end', () => {
      if (settled) return;
      settled = true;
      opts.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      send(this, pool, opts);
    });
    body.once('error', (err) => abandon(err));
    body.once('close', () => {
      if (!body.readableEnded) abandon(new Error('client request aborted'));
    });
    body.pipe(main);
    return main;
  }

  /** A copy ended; `ok` when its response was received. */
  settle(ok: boolean): void {
    this.inFlight--;
    if (ok) this.counters.sent++;
    else this.counters.failed++;
  }
}

function send(mirror: Mirror, pool: Dispatcher, opts: Dispatcher.DispatchOptions): void {
  pool.dispatch(opts, new CopyHandler(mirror));
}

/** Reads and discards the copy's response. */
class CopyHandler implements Dispatcher.DispatchHandler {
  #settled = false;
  constructor(readonly mirror: Mirror) {}
  onConnect(): void {}
  onHeaders(): boolean {
    return true;
  }
  /** graylane's pool: the copy's response fields are not even turned into strings. */
  onResponseFields(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.#settle(true);
  }
  onError(): void {
    this.#settle(false);
  }
  #settle(ok: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.mirror.settle(ok);
  }
}
