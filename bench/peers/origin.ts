/**
 * Origin for `npm run bench` when nginx is not installed, and for its POST runs (BENCH_POST_BYTES):
 * answers `v1\n` / `v2\n` on two ports once it has read the request body.
 *   PORT_V1=... PORT_V2=... node dist/bench/peers/origin.js
 */
import http from 'node:http';

for (const [name, port] of [['v1', process.env.PORT_V1 ?? '19101'], ['v2', process.env.PORT_V2 ?? '19102']] as const) {
  const body = Buffer.from(`${name}\n`);
  http
    .createServer((req, res) => {
      // The answer follows the whole request body, as an application's would: an origin that
      // answered first would have every proxy close the connection (the body's framing is then
      // unknown), which measures reconnects, not proxying.
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
      });
    })
    .listen(Number(port), '127.0.0.1', function (this: http.Server) {
      this.keepAliveTimeout = 75e3;
    });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
