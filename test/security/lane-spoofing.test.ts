/**
 * Lane spoofing: a client outside the gateway must not be able to put itself into a gray lane. On a
 * route that does not trust incoming lanes, the lane header, every alias and the `graylane-lane`
 * baggage member are dropped, however they are written, and the upstream sees exactly one lane:
 * the one the gateway decided. A forged visitor cookie is only an identity: it moves that client
 * to the bucket of the id it chose, which it could have got by retrying; it reaches no lane a
 * percent rule does not give, and changes nobody else's bucket.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../src/routing/index.js';
import type { Snapshot } from '../../src/routing/types.js';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec, startUpstream, type Echo, type Upstream } from '../gateway/helpers.js';
import { headerLinesOf, raw, startRecordingUpstream } from './helpers.js';
import { ObjectHeaders } from '../../src/routing/request-values.js';

const ups: Record<string, Upstream> = {};
let gw: Gateway;
let snapshot: Snapshot;
/** A user id the rules put into `stable`. */
let stableUser = '';

before(async () => {
  for (const v of ['stable', 'beta', 'alpha']) ups[v] = await startUpstream(v);
  const s = spec({
    laneAliases: ['x-mse-tag'],
    services: { svc: service({ stable: [ups.stable!.url], beta: [ups.beta!.url], alpha: [ups.alpha!.url] }) },
    routes: [
      route({
        trustLane: false,
        visitorCookie: { name: 'gl_vid', maxAgeMs: 86_400_000 },
        rules: [
          { lane: 'alpha', users: ['staff-1'] },
          { lane: 'beta', percent: 50 },
        ],
      }),
    ],
  });
  snapshot = compile(s);
  gw = await gatewayFor(s);
  for (let i = 0; stableUser === ''; i++) if (laneOf({ 'x-user-id': `u${i}` }) === 'stable') stableUser = `u${i}`;
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await Promise.all(Object.values(ups).map((u) => u.close()));
});

/** The lane the compiled rules give these request headers (the same code the gateway runs). */
function laneOf(headers: Record<string, string>): string {
  const r = snapshot.matchRoute('a', '/')!;
  return r.mark({ host: 'a', path: '/', query: '', headers: new ObjectHeaders(headers) }, { random: () => 0.5, newVisitorId: () => 'minted' }).lane;
}

/** One raw request; returns the echo of the upstream that served it and the response. */
async function send(head: string, body = ''): Promise<{ echo: Echo; status: number; setCookie: string | undefined }> {
  const r = await raw(gw, `GET / HTTP/1.1\r\nHost: a\r\n${head}\r\n${body}`, { responses: 1 });
  const res = r.responses[0]!;
  assert.equal(res.status, 200, r.text);
  return { echo: JSON.parse(res.body) as Echo, status: res.status, setCookie: res.headers['set-cookie'] };
}

/**
 * The members a receiver could take for the lane: keys percent-decoded as OpenTelemetry's W3C
 * propagator does (trim, then decodeURIComponent), compared ignoring case, the raw members returned.
 */
function laneMembers(baggage: string | string[] | undefined): string[] {
  return String(baggage ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => {
      const eq = m.split(';')[0]!.indexOf('=');
      if (eq <= 0) return false;
      let key = m.slice(0, eq).trim();
      try {
        key = decodeURIComponent(key).trim();
      } catch {
        // a malformed escape: the key as written
      }
      return key.toLowerCase() === 'graylane-lane';
    });
}

/** The lane OpenTelemetry's propagator reads from baggage: keys decoded, the last duplicate wins. */
function otelLane(baggage: string | string[] | undefined): string | undefined {
  let lane: string | undefined;
  for (const m of String(baggage ?? '').split(',')) {
    const pair = m.split(';')[0]!;
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    if (decodeURIComponent(pair.slice(0, eq).trim()) === 'graylane-lane') lane = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return lane;
}

const SPOOFS: [string, string][] = [
  ['the lane header', 'x-gray-lane: alpha\r\n'],
  ['the lane header in capitals', 'X-GRAY-LANE: alpha\r\n'],
  ['the lane header twice', 'x-gray-lane: alpha\r\nx-gray-lane: beta\r\n'],
  ['an alias header', 'x-mse-tag: alpha\r\n'],
  ['the baggage member', 'baggage: graylane-lane=alpha\r\n'],
  ['the baggage member with spaces and a property', 'baggage: other=1,  graylane-lane = alpha ;ttl=3\r\n'],
  ['the baggage member percent-encoded', 'baggage: graylane-lane=%61lpha\r\n'],
  ['the baggage member in a second baggage header', 'baggage: other=1\r\nbaggage: graylane-lane=alpha\r\n'],
  ['the baggage member twice', 'baggage: graylane-lane=alpha,graylane-lane=beta\r\n'],
  ['the lane header named in Connection', 'connection: x-gray-lane\r\nx-gray-lane: alpha\r\n'],
  ['a decoy member and the key percent-encoded after it', 'baggage: graylane-lane=x, graylane%2Dlane=alpha\r\n'],
  ['the key percent-encoded, lower-case hex', 'baggage: graylane%2dlane=alpha\r\n'],
  ['the key fully percent-encoded', 'baggage: %67%72%61%79%6C%61%6E%65%2D%6C%61%6E%65=alpha\r\n'],
  ['the key in capitals', 'baggage: GRAYLANE-LANE=alpha\r\n'],
  ['the key with encoded whitespace around it and a property', 'baggage: other=1, %20graylane-lane%20 = alpha ;ttl=3\r\n'],
  ['the encoded key in a second baggage header', 'baggage: graylane-lane=x\r\nbaggage: graylane%2Dlane=alpha\r\n'],
  ['the encoded key between empty members', 'baggage: ,, graylane%2Dlane=alpha ,,\r\n'],
  ['the lane as a query-looking header and a cookie', 'cookie: x-gray-lane=alpha; graylane-lane=alpha\r\n'],
];

for (const [name, head] of SPOOFS) {
  test(`lane spoofing with ${name}: the upstream sees only the lane the gateway decided`, async () => {
    const { echo } = await send(`x-user-id: ${stableUser}\r\n${head}`);
    assert.equal(echo.version, 'stable');
    assert.equal(echo.headers['x-gray-lane'], 'stable');
    assert.equal(echo.headers['x-mse-tag'], 'stable');
    assert.deepEqual(laneMembers(echo.headers.baggage), ['graylane-lane=stable']);
    assert.equal(otelLane(echo.headers.baggage), 'stable');
  });
}

test('lane spoofing with an encoded baggage key: the raw upstream receives one baggage line with one lane member', async () => {
  const upstream = await startRecordingUpstream('stable');
  const g = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url], alpha: [ups.alpha!.url] }) }, routes: [route()] }));
  try {
    const r = await raw(
      g,
      'GET / HTTP/1.1\r\nHost: a\r\nbaggage: graylane-lane=x, graylane%2Dlane=alpha, userId=alice;p=1\r\nbaggage: GrayLane%2dLane=alpha\r\n\r\n',
      { responses: 1 },
    );
    assert.equal(r.responses[0]!.status, 200, r.text);
    assert.equal(upstream.received.length, 1);
    const [request] = upstream.received;
    assert.equal(request!.line, 'GET / HTTP/1.1');
    assert.deepEqual(headerLinesOf(request!, 'baggage'), ['graylane-lane=stable, userId=alice;p=1']);
  } finally {
    await g.close({ drainMs: 100 });
    await upstream.close();
  }
});

test('lane spoofing with underscores for dashes (x_gray_lane, which CGI-style servers read as X-Gray-Lane): never forwarded', async () => {
  const r = await raw(gw, `GET / HTTP/1.1\r\nHost: a\r\nx-user-id: ${stableUser}\r\nx_gray_lane: alpha\r\nX_MSE_TAG: alpha\r\nx_gray-lane: alpha\r\n\r\n`, {
    responses: 1,
  });
  const echo = JSON.parse(r.responses[0]!.body) as Echo;
  assert.equal(echo.version, 'stable');
  assert.deepEqual(
    Object.keys(echo.headers).filter((h) => /^x[-_]gray[-_]lane$|^x[-_]mse[-_]tag$/.test(h)),
    ['x-gray-lane', 'x-mse-tag'],
  );
  assert.equal(echo.headers['x-gray-lane'], 'stable');
});

test('lane spoofing: other baggage members pass through untouched', async () => {
  const { echo } = await send(`x-user-id: ${stableUser}\r\nbaggage: userId=alice,graylane-lane=alpha;p=1,trace=%E2%9C%93\r\n`);
  const members = String(echo.headers.baggage)
    .split(',')
    .map((m) => m.trim());
  assert.ok(members.includes('userId=alice'));
  assert.ok(members.includes('trace=%E2%9C%93'));
  assert.deepEqual(laneMembers(echo.headers.baggage), ['graylane-lane=stable']);
});

test('lane spoofing: a lane header sent as a chunked-body trailer never reaches the upstream as a header', async () => {
  const r = await raw(
    gw,
    `POST / HTTP/1.1\r\nHost: a\r\nx-user-id: ${stableUser}\r\nTransfer-Encoding: chunked\r\nTrailer: x-gray-lane\r\n\r\n2\r\nhi\r\n0\r\nx-gray-lane: alpha\r\n\r\n`,
    { responses: 1 },
  );
  const echo = JSON.parse(r.responses[0]!.body) as Echo;
  assert.equal(echo.version, 'stable');
  assert.equal(echo.headers['x-gray-lane'], 'stable');
});

test('a forged visitor cookie moves only that client, and only between lanes the percent rule gives', async () => {
  // Anonymous visitors with ids v0..v199: their lanes before anything else happens.
  const ids = Array.from({ length: 200 }, (_, i) => `v${i}`);
  const lanesOf = async () => {
    const out: string[] = [];
    for (const id of ids) out.push((await send(`cookie: gl_vid=${id}\r\n`)).echo.version);
    return out;
  };
  const before = await lanesOf();
  assert.deepEqual([...new Set(before)].sort(), ['beta', 'stable'], 'the 50% rule splits the visitors');
  for (let i = 0; i < ids.length; i++) assert.equal(before[i], laneOf({ cookie: `gl_vid=${ids[i]}` }));

  // Someone forges ids at will: each lands in its own id's bucket, never in alpha (a users rule).
  const forged: string[] = [];
  for (let i = 0; i < 200; i++) {
    const { echo, setCookie } = await send(`cookie: gl_vid=forged-${i}-${'x'.repeat(i % 7)}\r\n`);
    forged.push(echo.version);
    assert.equal(setCookie, undefined, 'a presented visitor id is used as is, not replaced or echoed');
  }
  assert.ok(!forged.includes('alpha'));
  assert.deepEqual(await lanesOf(), before, 'nobody else moved');
});

// A trusted lane arrives from outside (on the mesh listener every route trusts it). Its baggage
// form is percent-decoded, so `%0D%0A` (or `%C4%8D%C4%8A`: U+010D U+010A, whose low bytes are CR LF
// once written as latin1) would put a line break into the lane the gateway writes, upstream and
// (with exposeLane) back to the client: such a lane must be ignored, never written.
for (const [what, member] of [
  ['a percent-encoded CR LF', 'graylane-lane=alpha%0D%0AX-Injected:%20yes'],
  ['UTF-8 for U+010D U+010A (CR LF as latin1)', 'graylane-lane=alpha%C4%8D%C4%8AX-Injected:%20yes'],
  ['a percent-encoded NUL', 'graylane-lane=alpha%00'],
] as const) {
  test(`a trusted lane in baggage with ${what} is ignored: nothing injected upstream or to the client`, async () => {
    const upstream = await startRecordingUpstream('stable');
    const g = await gatewayFor(spec({ services: { svc: service({ stable: [upstream.url], alpha: [ups.alpha!.url] }) }, routes: [route({ trustLane: true })] }));
    try {
      const r = await raw(g, `GET / HTTP/1.1\r\nHost: a\r\nbaggage: ${member}\r\n\r\n`, { responses: 1 });
      const res = r.responses[0]!;
      assert.equal(res.status, 200, r.text);
      assert.equal(res.headers['x-injected'], undefined, r.text);
      assert.equal(res.headers['x-gray-lane'], 'stable', r.text);
      assert.equal(upstream.received.length, 1);
      const [request] = upstream.received;
      assert.deepEqual(headerLinesOf(request!, 'x-injected'), []);
      assert.deepEqual(headerLinesOf(request!, 'x-gray-lane'), ['stable']);
      for (const line of request!.headerLines) assert.doesNotMatch(line, /[\0\r\n]/, JSON.stringify(line));
    } finally {
      await g.close({ drainMs: 100 });
      await upstream.close();
    }
  });
}
