/**
 * The fields a client sent, as routing reads them and as the upstream receives them, at the socket
 * level (raw bytes in, the upstream's exact bytes out), so that it holds for any request engine:
 * HTTP/1.1's reads them from the parsed head without a header object (src/http1/request-fields.ts),
 * and must give what Node's header object gave. Two requests pipelined in one write, each with its
 * own fields: the second head is parsed over the same offsets as the first.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Http1Request, RequestFields } from '../../src/http1/index.js';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec } from './helpers.js';
import { raw, startRecordingUpstream, type RecordingUpstream } from '../security/helpers.js';

let stable: RecordingUpstream;
let beta: RecordingUpstream;
let gw: Gateway;
before(async () => {
  stable = await startRecordingUpstream('stable');
  beta = await startRecordingUpstream('beta');
  gw = await gatewayFor(
    spec({
      services: { svc: service({ stable: [stable.url], beta: [beta.url] }) },
      routes: [route({ rules: [{ lane: 'beta', header: { name: 'X-Beta', equals: '1' } }, { lane: 'beta', cookie: { name: 'b', equals: '2' } }] })],
    }),
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await Promise.all([stable.close(), beta.close()]);
});

/** The upstream's header lines the client's fields became (the gateway's own left out). */
function clientLines(lines: string[]): string[] {
  const own = ['x-forwarded-proto', 'x-forwarded-host', 'x-gray-lane', 'baggage', 'connection', 'content-length'];
  return lines.filter((l) => !own.includes(l.slice(0, l.indexOf(':'))));
}

const line = (lines: string[], name: string) => lines.filter((l) => l.startsWith(`${name}: `));

test('pipelined requests are each routed by their own fields; repeats joined as Node joins them, hop-by-hop and lane fields dropped', async () => {
  const first =
    'GET /one HTTP/1.1\r\nHost: a\r\nX-Beta: 1\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nConnection: keep-alive, X-Secret\r\n' +
    'X-Secret: s\r\nX_Gray_Lane: alpha\r\nCOOKIE: a=1\r\ncookie: c=3\r\nBaggage: k=v\r\nUser-Agent: first\r\nuser-agent: ignored\r\n\r\n';
  const second = 'GET /two HTTP/1.1\r\nHost: b\r\nX-Other: o\r\nCookie: b=2\r\nX-Gray-Lane: alpha\r\n\r\n';
  const third = 'GET /three HTTP/1.1\r\nHost: c\r\nX-Beta: 0\r\n\r\n';
  const r = await raw(gw, first + second + third, { responses: 3 });
  assert.deepEqual(r.responses.map((x) => [x.status, x.body]), [[200, 'beta'], [200, 'beta'], [200, 'stable']]);

  const [one, two] = beta.received.map((x) => x.headerLines);
  assert.equal(beta.received[0]!.line, 'GET /one HTTP/1.1');
  assert.deepEqual(clientLines(one!), ['host: a', 'x-beta: 1', 'cookie: a=1; c=3', 'user-agent: first', 'x-forwarded-for: 1.1.1.1, 2.2.2.2, 127.0.0.1']);
  assert.deepEqual(line(one!, 'x-gray-lane'), ['x-gray-lane: beta']);
  assert.deepEqual(line(one!, 'baggage'), ['baggage: k=v,graylane-lane=beta']);
  assert.deepEqual(line(one!, 'x-forwarded-host'), ['x-forwarded-host: a']);

  assert.equal(beta.received[1]!.line, 'GET /two HTTP/1.1');
  assert.deepEqual(clientLines(two!), ['host: b', 'x-other: o', 'cookie: b=2', 'x-forwarded-for: 127.0.0.1']);
  assert.deepEqual(line(two!, 'x-gray-lane'), ['x-gray-lane: beta'], 'the lane the rule decided, not the one the client sent');

  assert.equal(stable.received[0]!.line, 'GET /three HTTP/1.1');
  assert.deepEqual(clientLines(stable.received[0]!.headerLines), ['host: c', 'x-beta: 0', 'x-forwarded-for: 127.0.0.1']);
});

/**
 * Counts what builds Node's header object for HTTP/1.1 requests: the request's `headers` getter
 * (what the gateway read before the look-ups) and RequestFields.object().
 */
function countHeaderObjects(): { readonly count: number; restore(): void } {
  const getter = Object.getOwnPropertyDescriptor(Http1Request.prototype, 'headers')!;
  const object = RequestFields.prototype.object;
  const counter = { count: 0, restore: () => {} };
  Object.defineProperty(Http1Request.prototype, 'headers', {
    ...getter,
    get(this: Http1Request) {
      counter.count++;
      return getter.get!.call(this);
    },
  });
  RequestFields.prototype.object = function (this: RequestFields) {
    counter.count++;
    return object.call(this);
  };
  counter.restore = () => {
    Object.defineProperty(Http1Request.prototype, 'headers', getter);
    RequestFields.prototype.object = object;
  };
  return counter;
}

test('the common request builds no header object: rules on a header, a cookie and a percent, a mirror, the access log and an observer', async () => {
  const shadow = await startRecordingUpstream('shadow');
  const logged: string[] = [];
  const observed: number[] = [];
  const g = await gatewayFor(
    spec({
      services: { svc: service({ stable: [stable.url], beta: [beta.url], shadow: [shadow.url] }) },
      routes: [
        route({
          identity: [{ kind: 'cookie', name: 'uid' }],
          rules: [
            { lane: 'beta', header: { name: 'X-Beta', equals: '1' } },
            { lane: 'beta', cookie: { name: 'b', equals: '2' } },
            { lane: 'beta', percent: 50 },
          ],
          mirror: { lane: 'shadow', percent: 100 },
        }),
      ],
    }),
    {
      accessLog: true,
      accessLogDestination: { write: (line: string) => void logged.push(line) },
      observer: { recordResponse: (_s, _v, status) => void observed.push(status) },
    },
  );
  const counter = countHeaderObjects();
  try {
    const browser =
      'GET /products/42?x=1 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\nAccept-Encoding: gzip, br\r\n' +
      'Accept-Language: en\r\nCookie: uid=1001; theme=dark\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n';
    const r = await raw(g, browser + browser.replace('uid=1001', 'uid=7; b=2'), { responses: 2 });
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200]);
    assert.equal(counter.count, 0, 'no header object was built');
    // And one that repeats a name does build it (the upstream rewrite joins the repeats), once.
    const repeated = await raw(g, 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n', { responses: 1 });
    assert.equal(repeated.responses[0]!.status, 200);
    assert.equal(counter.count, 2, 'asked for by the rewrite of the main request and of its mirror copy');
    for (let i = 0; i < 100 && shadow.received.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(shadow.received.length, 3, 'every request was mirrored');
  } finally {
    counter.restore();
    await g.close({ drainMs: 100 });
    await shadow.close();
  }
  assert.equal(logged.length, 3);
  assert.match(logged[0]!, /"traceId":"0af7651916cd43dd8448eb211c80319c"/);
  assert.deepEqual(observed, [200, 200, 200]);
});
