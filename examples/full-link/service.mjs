// One service instance of the full-link example, using the lanes SDK. It answers
// {name, lane, baggage, next}: who it is, the lane it handled the request in, the baggage it
// received, and the answer of the next service, which it calls through the gateway's mesh listener.
//
// Environment: NAME (a-gray...), SERVICE (a), VERSION (stable | gray), NEXT (the next hop's URL,
// e.g. http://127.0.0.1:18081/b/hop; none for the last service), GRAYLANE_ADMIN, GRAYLANE_TOKEN,
// and optionally TTL_MS and HEARTBEAT_MS. Prints `ready <name> <id> <url>` once registered.
import http from 'node:http';
import { currentLane, installLanePropagation, register, withLanes } from '@graylane/lanes';

const env = process.env;
installLanePropagation(); // calls made while handling a request carry its lane
const server = http.createServer(withLanes(async (req, res) => {
  let next = null;
  if (env.NEXT) {
    const answer = await fetch(env.NEXT); // through the mesh: same lane, the next service's version
    next = answer.ok ? await answer.json() : { status: answer.status, error: await answer.text() };
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ name: env.NAME, lane: currentLane() ?? null, baggage: req.headers.baggage ?? null, next }));
}));

server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  const registration = register({
    admin: env.GRAYLANE_ADMIN,
    token: env.GRAYLANE_TOKEN,
    service: env.SERVICE,
    version: env.VERSION ?? 'stable', // the version is the lane this instance serves
    url,
    ...(env.TTL_MS ? { ttlMs: Number(env.TTL_MS) } : {}),
    ...(env.HEARTBEAT_MS ? { heartbeatMs: Number(env.HEARTBEAT_MS) } : {}),
    deregisterOnSignals: true, // SIGTERM / SIGINT: deregister, then exit
  });
  registration.ready.then((id) => console.log(`ready ${env.NAME} ${id} ${url}`));
});
