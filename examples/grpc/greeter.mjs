// One version of the greeter service (VERSION=stable | gray), a @grpc/grpc-js server on 127.0.0.1
// on PORT (default: one from the OS). It answers with its version and the lane the call arrived in (read from
// the metadata by the lanes SDK's withGrpcLanes). Prints `ready <version> <port>` once listening.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { currentLane } from '@graylane/lanes';
import { withGrpcLanes } from '@graylane/lanes/grpc';
import { fileURLToPath } from 'node:url';

const version = process.env.VERSION ?? 'stable';
const definition = protoLoader.loadSync(fileURLToPath(new URL('greeter.proto', import.meta.url)));
const { greeter } = grpc.loadPackageDefinition(definition);

const reply = (name) => ({ message: `hello ${name}`, version, lane: currentLane() ?? '' });
const server = new grpc.Server();
server.addService(
  greeter.v1.Greeter.service,
  withGrpcLanes({
    sayHello(call, callback) {
      callback(null, reply(call.request.name));
    },
    sayHellos(call) {
      for (let i = 0; i < 3; i++) call.write(reply(`${call.request.name} #${i + 1}`));
      call.end();
    },
  }),
);
server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`ready ${version} ${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => server.tryShutdown(() => process.exit(0)));
