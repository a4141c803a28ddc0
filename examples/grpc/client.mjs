// The greeter client of the gRPC example: calls through graylane as a gray user (1001) and a stable
// user (2002), unary and server streaming, and prints which version answered each call. Exits 1 when
// a call fails or reaches the wrong version. Usage: node client.mjs <graylane address> [<CA file>]
// With a CA file the call goes over TLS (HTTP/2 by ALPN), checking graylane's certificate for
// localhost against that CA; without one, over h2c.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const address = process.argv[2] ?? '127.0.0.1:18281';
const caFile = process.argv[3];
const definition = protoLoader.loadSync(fileURLToPath(new URL('greeter.proto', import.meta.url)));
const { greeter } = grpc.loadPackageDefinition(definition);
const client =
  caFile === undefined
    ? new greeter.v1.Greeter(address, grpc.credentials.createInsecure())
    : new greeter.v1.Greeter(address, grpc.credentials.createSsl(readFileSync(caFile)), {
        // The address is an IP; the certificate is for localhost (the name checked and sent as SNI).
        'grpc.ssl_target_name_override': 'localhost',
        'grpc.default_authority': 'localhost',
      });

const metadataFor = (user) => {
  const md = new grpc.Metadata();
  md.set('x-user-id', user);
  return md;
};
const sayHello = (user) =>
  new Promise((resolve, reject) =>
    client.sayHello({ name: `user ${user}` }, metadataFor(user), { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );
const sayHellos = (user) =>
  new Promise((resolve, reject) => {
    const replies = [];
    const call = client.sayHellos({ name: `user ${user}` }, metadataFor(user), { deadline: Date.now() + 5000 });
    call.on('data', (r) => replies.push(r));
    call.on('end', () => resolve(replies));
    call.on('error', reject);
  });

let wrong = 0;
for (const [user, expected] of [['1001', 'gray'], ['2002', 'stable']]) {
  const reply = await sayHello(user);
  console.log(`user ${user}  SayHello   -> ${reply.message}  (answered by ${reply.version}, lane ${reply.lane})`);
  if (reply.version !== expected) wrong++;
  for (const r of await sayHellos(user)) {
    console.log(`user ${user}  SayHellos  -> ${r.message}  (answered by ${r.version}, lane ${r.lane})`);
    if (r.version !== expected) wrong++;
  }
}
client.close();
if (wrong > 0) {
  console.error(`${wrong} calls reached the wrong version`);
  process.exit(1);
}
