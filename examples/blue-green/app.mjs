// One instance of the example's `shop` service: answers every request with its version (the lane
// it registered for) and release, and registers itself with graylane's admin API, heartbeating
// (and registering again after a graylane restart) until SIGTERM, when it deregisters and exits.
//
//   VERSION=blue RELEASE=v2 GRAYLANE_ADMIN=http://127.0.0.1:19190 GRAYLANE_ADMIN_TOKEN=... node app.mjs
//
// Prints `ready <url>` on stdout once registered.
import http from 'node:http';
import { register } from '@graylane/lanes';

const version = process.env.VERSION ?? 'stable';
const release = process.env.RELEASE ?? 'v1';
const service = process.env.SERVICE ?? 'shop';

const server = http.createServer((req, res) => {
  req.resume();
  const body = JSON.stringify({ service, version, release, pid: process.pid });
  res.writeHead(200, { 'content-type': 'application/json', 'x-version': version, 'x-release': release, 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  const registration = register({
    admin: process.env.GRAYLANE_ADMIN ?? 'http://127.0.0.1:19190',
    token: process.env.GRAYLANE_ADMIN_TOKEN ?? '',
    service,
    version,
    url,
    // Short, so that after a graylane restart (registrations are in memory) it is back within a second.
    ttlMs: 3000,
    deregisterOnSignals: true,
  });
  await registration.ready;
  console.log(`ready ${url}`);
});
