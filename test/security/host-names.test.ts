/**
 * Host names that name the same host in another spelling must reach the same route, and the rules
 * on it. Case and port were already ignored; a trailing dot (`prod.example.com.`, the root-anchored
 * DNS name, which resolvers, browsers and nginx treat as the same host) used to skip the host's
 * routes and fall to a catch-all. A host name with an empty label (`a..b`, `.a`) names no host and
 * is refused, as nginx refuses it, and so is an empty host (`:80`, `:`, `[]`). The Host line itself is
 * forwarded as the client sent it.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { isHostAndPort } from '../../src/gateway/request-guard.js';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec } from '../gateway/helpers.js';
import { headerLinesOf, raw, startRecordingUpstream, type RecordingUpstream } from './helpers.js';

const ups: Record<string, RecordingUpstream> = {};
let gw: Gateway;
before(async () => {
  for (const name of ['prod-stable', 'prod-beta', 'wild', 'other']) ups[name] = await startRecordingUpstream(name);
  gw = await gatewayFor(
    spec({
      services: {
        prod: service({ stable: [ups['prod-stable']!.url], beta: [ups['prod-beta']!.url] }),
        wild: service({ stable: [ups.wild!.url] }),
        other: service({ stable: [ups.other!.url] }),
      },
      routes: [
        // Everything on the prod host goes to beta by a rule: a request that skips the rule lands on stable.
        route({ name: 'prod', match: { host: 'prod.example.com' }, service: 'prod', rules: [{ lane: 'beta', path: { prefix: '/' } }] }),
        route({ name: 'wild', match: { host: '*.example.org' }, service: 'wild' }),
        route({ name: 'other', match: {}, service: 'other' }),
      ],
    }),
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await Promise.all(Object.values(ups).map((u) => u.close()));
});

function counts(): Record<string, number> {
  return Object.fromEntries(Object.entries(ups).map(([k, u]) => [k, u.received.length]));
}

/** Which upstreams received requests since `before`, with the Host line each received. */
function receivedSince(before: Record<string, number>): string[] {
  return Object.entries(ups).flatMap(([k, u]) => u.received.slice(before[k]).map((x) => `${k} Host: ${headerLinesOf(x, 'host').join(' | ')}`));
}

const SAME_HOST: [string, string][] = [
  // Host sent, the upstream that must serve it
  ['prod.example.com', 'prod-beta'],
  ['prod.example.com.', 'prod-beta'],
  ['prod.example.com.:8080', 'prod-beta'],
  ['PROD.Example.COM.', 'prod-beta'],
  ['PROD.example.com.:443', 'prod-beta'],
  ['a.example.org.', 'wild'],
  ['A.EXAMPLE.ORG.:80', 'wild'],
  ['other.example.com.', 'other'],
  // An empty port is the default port (RFC 3986 §3.2.3, RFC 9110 §4.2.3): the same host.
  ['prod.example.com:', 'prod-beta'],
  // An IP literal with a port names a host; no route names it, so the catch-all serves it.
  ['[::1]:80', 'other'],
];

for (const [host, upstream] of SAME_HOST) {
  test(`host name ${host}: routed to ${upstream} (the route of its host and the rules on it), Host forwarded as sent`, async () => {
    const before = counts();
    const r = await raw(gw, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { responses: 1 });
    assert.equal(r.responses[0]!.status, 200, r.text);
    assert.equal(r.responses[0]!.body, upstream);
    assert.deepEqual(receivedSince(before), [`${upstream} Host: ${host}`]);
  });
}

for (const host of ['prod.example.com..', 'prod..example.com', '.prod.example.com', '.', 'prod.example.com..:8080']) {
  test(`host name ${host}: an empty label is 400 and reaches no upstream`, async () => {
    const before = counts();
    const r = await raw(gw, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { responses: 1 });
    assert.equal(r.responses[0]!.status, 400, r.text);
    const body = JSON.parse(r.responses[0]!.body) as { error: string; reason: string };
    assert.equal(body.error, 'bad_request');
    assert.match(body.reason, /Host has an empty label/);
    assert.deepEqual(receivedSince(before), []);
  });
}

// An http URI with an empty host is invalid and must be rejected (RFC 9110 §4.2.1), as nginx does.
// Routing would read an empty name (no route's host; the catch-all), an upstream whatever it makes of it.
for (const host of [':80', ':', '', '[]', '[]:80']) {
  test(`host name ${JSON.stringify(host)}: no host, 400, reaches no upstream; the connection serves the next request`, async () => {
    const before = counts();
    const r = await raw(gw, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /y HTTP/1.1\r\nHost: prod.example.com\r\n\r\n`, { responses: 2 });
    assert.equal(r.responses[0]!.status, 400, r.text);
    const body = JSON.parse(r.responses[0]!.body) as { error: string; reason: string };
    assert.equal(body.error, 'bad_request');
    assert.match(body.reason, /the Host names no host/);
    assert.equal(r.responses[1]!.status, 200, r.text);
    assert.deepEqual(receivedSince(before), ['prod-beta Host: prod.example.com']);
  });
}

// Routing reads the name before the first colon; a URL parser upstream would read another host
// (`prod.example.com:@evil.example` is evil.example to `new URL`). Found from outside after #19.
for (const host of ['prod.example.com:@evil.example', 'prod.example.com:80@evil.example', 'prod.example.com:abc', 'prod.example.com:8080:1', 'prod.example.com:[::1]', 'prod.example.com:x/../evil', 'prod.example.com:1 evil', 'a@evil.example', 'evil.example/x', '[::1', '[::1]x']) {
  test(`host name ${host}: not host[:port], 400, reaches no upstream`, async () => {
    const before = counts();
    const r = await raw(gw, `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { responses: 1 });
    assert.equal(r.responses[0]!.status, 400, r.text);
    assert.match((JSON.parse(r.responses[0]!.body) as { reason: string }).reason, /Host is not host\[:port\]/);
    assert.deepEqual(receivedSince(before), []);
  });
}

test('host name: IP literals and an empty port are host[:port]', () => {
  for (const host of ['[::1]', '[::1]:8080', '127.0.0.1:80', 'prod.example.com:', 'xn--bcher-kva.example', 'a_b.example']) assert.ok(isHostAndPort(host), host);
});

test('host name: a trailing dot on the second request of a keep-alive connection reaches the same route', async () => {
  const before = counts();
  const r = await raw(gw, 'GET /1 HTTP/1.1\r\nHost: prod.example.com\r\n\r\nGET /2 HTTP/1.1\r\nHost: prod.example.com.\r\n\r\n', { responses: 2 });
  assert.deepEqual(
    r.responses.map((x) => x.body),
    ['prod-beta', 'prod-beta'],
  );
  assert.deepEqual(receivedSince(before), ['prod-beta Host: prod.example.com', 'prod-beta Host: prod.example.com.']);
});
