/**
 * A greeter-style gRPC service for the end-to-end tests, on a real @grpc/grpc-js server (h2c on
 * 127.0.0.1), with identity serializers: messages are raw bytes (JSON where the test reads them),
 * so no .proto is needed and large streams cost no encoding. The four kinds of method:
 *
 * - `Hello` (unary): answers `{ version, lane, name }`, `lane` being the lane metadata it received;
 *   ends with custom trailing metadata, or with the status the request asks for (`fail`).
 * - `Hellos` (server streaming): `count` messages of `size` bytes, written with backpressure
 *   (waits for 'drain'), so `written` says how far a slow client let it go.
 * - `Collect` (client streaming): answers `{ version, lane, count, bytes }` once the client ends.
 * - `Chat` (bidi): echoes each message as it comes.
 *
 * Every call sends initial metadata `x-version` (the version that answered) and trailing metadata
 * `x-served-by` and `x-check-bin` (binary, base64 on the wire).
 */
import * as grpc from '@grpc/grpc-js';

export const SERVICE = '/greet.v1.Greeter';
export const LANE_HEADER = 'x-gray-lane';

const identity = (b: Buffer): Buffer => b;

function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path: `${SERVICE}/${name}`, requestStream, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
}

export const definition = {
  Hello: method('Hello', false, false),
  Hellos: method('Hellos', false, true),
  Collect: method('Collect', true, false),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

export interface HelloRequest {
  name?: string;
  /** End the call with this status (not OK) and `message` in grpc-message. */
  fail?: { code: number; message: string };
  /** Hellos: how many messages, of how many bytes. */
  count?: number;
  size?: number;
}

export interface Greeter {
  version: string;
  port: number;
  /** Messages `Hellos` has written so far (all calls). */
  written: number;
  /** The metadata of every call received, in order. */
  received: grpc.Metadata[];
  close(): Promise<void>;
}

/** The trailing metadata every call ends with. */
export function trailersOf(version: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-served-by', version);
  md.set('x-check-bin', Buffer.from([0, 1, 2, 0xfe, 0xff]));
  return md;
}

function initialOf(version: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-version', version);
  return md;
}

const laneOf = (md: grpc.Metadata): string => String(md.get(LANE_HEADER)[0] ?? '');

/** Starts the greeter as `version` on 127.0.0.1 (h2c). */
export async function startGreeter(version: string): Promise<Greeter> {
  const server = new grpc.Server();
  const g: Greeter = { version, port: 0, written: 0, received: [], close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
  const reply = (o: object): Buffer => Buffer.from(JSON.stringify({ version, ...o }));
  server.addService(definition, {
    Hello(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      g.received.push(call.metadata);
      call.sendMetadata(initialOf(version));
      const req = JSON.parse(call.request.toString()) as HelloRequest;
      if (req.fail) {
        callback({ code: req.fail.code, details: req.fail.message, metadata: trailersOf(version) });
        return;
      }
      callback(null, reply({ lane: laneOf(call.metadata), name: req.name }), trailersOf(version));
    },
    async Hellos(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      g.received.push(call.metadata);
      call.sendMetadata(initialOf(version));
      const req = JSON.parse(call.request.toString()) as HelloRequest;
      const body = Buffer.alloc(req.size ?? 16, 'h');
      let cancelled = false;
      call.once('cancelled', () => (cancelled = true));
      for (let i = 0; i < (req.count ?? 3) && !cancelled; i++) {
        g.written++;
        if (!call.write(body)) await new Promise((resolve) => { call.once('drain', resolve); call.once('cancelled', resolve); });
      }
      call.end(trailersOf(version));
    },
    Collect(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      g.received.push(call.metadata);
      call.sendMetadata(initialOf(version));
      let count = 0;
      let bytes = 0;
      call.on('data', (m: Buffer) => {
        count++;
        bytes += m.length;
      });
      call.on('end', () => callback(null, reply({ lane: laneOf(call.metadata), count, bytes }), trailersOf(version)));
    },
    Chat(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      g.received.push(call.metadata);
      call.sendMetadata(initialOf(version));
      // Echo with backpressure: stop reading while the response side is full.
      call.on('data', (m: Buffer) => {
        if (!call.write(m)) {
          call.pause();
          call.once('drain', () => call.resume());
        }
      });
      call.on('end', () => call.end(trailersOf(version)));
    },
  } as unknown as grpc.UntypedServiceImplementation);
  g.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  return g;
}

/** A generic grpc-js client of the greeter at `target` (`host:port`). */
export function greeterClient(target: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}): grpc.Client {
  return new grpc.Client(target, credentials, options);
}

export function metadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}
