// One HTTP service instance of the full-link example, using the lanes SDK. It answers
// {name, lane, baggage, next}: who it is, the lane it handled the request in, the baggage it
// received, and the answer of the next service, which it calls through the gateway's mesh listener.
//
// A gRPC answer is marked `via: 'gRPC'`.
//
// Environment: NAME (a-gray...), SERVICE (a), VERSION (stable | gray), NEXT (the next hop, none for
// the last service), GRAYLANE_ADMIN, GRAYLANE_TOKEN, and optionally TTL_MS and HEARTBEAT_MS.
// Prints `ready <name> <id> <url>` once registered (register.mjs). NEXT says how to call the next
// service:
//   http://127.0.0.1:18481/b/hop   an HTTP service, with fetch (HTTP/1.1: an h2c mesh serves it too)
//   grpc://127.0.0.1:18481/c       a gRPC service (grpc-service.mjs), named in the call's :authority
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { currentLane, installLanePropagation, withLanes } from '@graylane/lanes';
import { laneClientInterceptor } from '@graylane/lanes/grpc';
import { registerInstance } from './register.mjs';

const env = process.env;
installLanePropagation(); // HTTP calls made while handling a request carry its lane
const callNext = env.NEXT ? nextHop(new URL(env.NEXT)) : async () => null;

const server = http.createServer(withLanes(async (req, res) => {
  const next = await callNext(); // through the mesh: same lane, the next service's version
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ name: env.NAME, lane: currentLane() ?? null, baggage: req.headers.baggage ?? null, next }));
}));

/** The function that calls the next service and returns its answer (a failure as {status, error}). */
function nextHop(url) {
  if (url.protocol === 'grpc:') return grpcHop(url.host, url.pathname.slice(1));
  return async () => {
    const answer = await fetch(url);
    return answer.ok ? answer.json() : { status: answer.status, error: await answer.text(), next: null };
  };
}

/** Calls service `service` (hop.proto) over gRPC through the mesh at `mesh` (host:port). */
function grpcHop(mesh, service) {
  const { fulllink } = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('hop.proto', import.meta.url))));
  const client = new fulllink.v1.Hop(mesh, grpc.credentials.createInsecure(), {
    'grpc.default_authority': service, // the mesh dispatches a call to the service its :authority names
    interceptors: [laneClientInterceptor()], // the call carries the lane of the request being handled
  });
  return () =>
    new Promise((resolve) => {
      client.hop({}, { deadline: Date.now() + 5_000 }, (err, reply) => {
        if (err) resolve({ grpcStatus: err.code, error: err.details, next: null, via: 'gRPC' });
        else resolve({ name: reply.name, lane: reply.lane || null, baggage: reply.baggage || null, next: null, via: 'gRPC' });
      });
    });
}

server.listen(0, '127.0.0.1', () => registerInstance(`http://127.0.0.1:${server.address().port}`));
