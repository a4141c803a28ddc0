/**
 * The baseline: the leanest correct Node proxy we know (node:http + undici Pool.stream, hop-by-hop
 * headers dropped, one hard-coded 10% sticky rule). graylane with all its rules is measured against it.
 * Same shape as ../shared/bench/peers/undici-peer.js (UNDICI_API=stream).
 *   PORT=... UPSTREAM_V1=... UPSTREAM_V2=... node dist/bench/peers/undici-bare.js
 */
import http from 'node:http';
import { Pool } from 'undici';

const PORT = Number(process.env.PORT ?? 18185);
const POOL_OPTS = { connections: 64, pipelining: 1, keepAliveTimeout: 75e3, keepAliveMaxTimeout: 600e3 };
const V1 = new Pool(process.env.UPSTREAM_V1 ?? 'http://127.0.0.1:19101', POOL_OPTS);
const V2 = new Pool(process.env.UPSTREAM_V2 ?? 'http://127.0.0.1:19102', POOL_OPTS);
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'];
const HOP_SET = new Set(HOP);

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function requestHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_SET.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

http
  .createServer((req, res) => {
    const uid = req.headers['x-user-id'];
    const pool = typeof uid === 'string' && fnv1a(uid) % 100 < 10 ? V2 : V1;
    pool.stream(
      {
        method: req.method as 'GET',
        path: req.url!,
        headers: requestHeaders(req.rawHeaders),
        body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
      },
      ({ statusCode, headers }) => {
        for (const k of HOP) delete headers[k];
        res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
        return res;
      },
      (err) => {
        if (!err) return;
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    );
  })
  .listen(PORT, '127.0.0.1', function (this: http.Server) {
    this.keepAliveTimeout = 75e3;
    console.log(`undici-bare on 127.0.0.1:${PORT}`);
  });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
