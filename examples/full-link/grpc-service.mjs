// One instance of service c of the full-link example, a @grpc/grpc-js server using the lanes SDK's
// gRPC side. It answers the Hop call of hop.proto with {name, lane, baggage}: who it is, the lane it
// handled the call in, and the baggage it received. It is the last hop: it calls nothing.
//
// Environment: NAME (c-gray...), SERVICE (c), VERSION (stable | gray), GRAYLANE_ADMIN,
// GRAYLANE_TOKEN, and optionally TTL_MS and HEARTBEAT_MS. Prints `ready <name> <id> <url>` once
// registered (register.mjs).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { currentLane } from '@graylane/lanes';
import { withGrpcLanes } from '@graylane/lanes/grpc';
import { fileURLToPath } from 'node:url';
import { registerInstance } from './register.mjs';

const env = process.env;
const { fulllink } = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('hop.proto', import.meta.url))));

const server = new grpc.Server();
server.addService(
  fulllink.v1.Hop.service,
  // withGrpcLanes: each call is handled in the lane its metadata carries (x-gray-lane, baggage).
  withGrpcLanes({
    hop(call, callback) {
      const baggage = call.metadata.get('baggage')[0] ?? '';
      callback(null, { name: env.NAME, lane: currentLane() ?? '', baggage });
    },
  }),
);

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  // h2c://: this endpoint speaks HTTP/2 without TLS. graylane sends gRPC calls only to versions
  // with such an endpoint (h2c:// or h2://), never to http:// ones.
  const url = `h2c://127.0.0.1:${port}`;
  registerInstance(url);
});
