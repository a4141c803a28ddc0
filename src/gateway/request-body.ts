/**
 * A client request body as the Readable undici sends upstream, fed by the HTTP/1.1 engine.
 *
 * Backpressure runs through it both ways without buffering: the engine calls data() as bytes
 * arrive, and stops reading the client socket when push() says the stream is full; undici's next
 * read() resumes it. The body is first asked for when undici starts writing the request upstream,
 * which is when the engine sends `100 Continue` to a client that waits for it (RFC 9110 §10.1.1):
 * a request answered without its body (404, an upstream that refused the connection) never gets one.
 *
 * Allocated only for requests with a body.
 */
import { Readable } from 'node:stream';
import type { BodySink, Http1Request } from '../http1/index.js';

export class RequestBody extends Readable implements BodySink {
  #started = false;

  constructor(private readonly req: Http1Request) {
    super();
  }

  override _read(): void {
    if (this.#started) {
      this.req.connection.resumeBody();
      return;
    }
    this.#started = true;
    this.req.readBody(this);
  }

  data(chunk: Buffer): boolean {
    return this.push(chunk);
  }

  end(): void {
    this.push(null);
  }

  error(err: Error): void {
    this.destroy(err);
  }
}
