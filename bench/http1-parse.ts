/**
 * Micro-benchmark of request-head parsing: graylane's src/http1 against Node's llhttp (the
 * HTTPParser behind http.Server, called directly, so neither side pays for sockets or objects
 * beyond the parse). A browser-like head (14 fields, 480 bytes) and a small API head (4 fields).
 *
 *   node dist/bench/http1-parse.js [heads=200000] [runs=5]
 *
 * llhttp's side includes building its header string array (what Node's server gets); graylane's
 * builds offsets and, as the engine will, the method and target strings. Medians of `runs`.
 */
import { createRequire } from 'node:module';
import { findHeadEnd, parseRequestHead, RequestHead } from '../src/http1/index.js';

const BROWSER = Buffer.from(
  'GET /checkout/cart?item=1234&ref=home HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n' +
    'Cookie: session=abc123; uid=u-42; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\nX-User-Id: u-42\r\nX-App-Version: 2.4.1\r\nCache-Control: max-age=0\r\n\r\n',
);
const API = Buffer.from('POST /api/orders HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-User-Id: u-1\r\n\r\n');

interface Parser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as {
  HTTPParser: { new (): Parser; REQUEST: number; kOnHeadersComplete: number; kOnMessageComplete: number; kOnBody: number };
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time(n: number, runs: number, once: () => void): number {
  for (let i = 0; i < Math.min(n, 20_000); i++) once(); // warm-up
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) once();
    out.push(Number(process.hrtime.bigint() - t) / n);
  }
  return median(out);
}

export function runParseBench(n = 200_000, runs = 5): string {
  const rows: string[] = ['| head | graylane ns | llhttp ns | ratio |', '|---|---:|---:|---:|'];
  for (const [name, buf] of [
    ['browser (14 fields)', BROWSER],
    ['API POST (4 fields)', API],
  ] as const) {
    const head = new RequestHead({ maxHeaderBytes: 16_384, maxHeaders: 100, maxUrlBytes: 8192 });
    let sink = 0;
    const ours = time(n, runs, () => {
      const end = findHeadEnd(buf, 0, 0, buf.length) as number;
      if (parseRequestHead(buf, 0, end, head) !== null) throw new Error('refused');
      sink += head.target.length + head.method.length;
    });
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {});
    parser[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, headers: string[], _m: number, url: string) => {
      sink += headers.length + url.length;
      return 0;
    };
    parser[HTTPParser.kOnBody] = () => {};
    parser[HTTPParser.kOnMessageComplete] = () => {};
    const theirs = time(n, runs, () => {
      // Fresh parser state per head, as Node's server reuses a parser across requests.
      parser.initialize(HTTPParser.REQUEST, {});
      if (parser.execute(buf) instanceof Error) throw new Error('llhttp refused');
    });
    if (sink === 0) throw new Error('nothing parsed');
    rows.push(`| ${name} | ${ours.toFixed(0)} | ${theirs.toFixed(0)} | ${(theirs / ours).toFixed(2)}x |`);
  }
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(runParseBench(Number(process.argv[2] ?? 200_000), Number(process.argv[3] ?? 5)));
}
