/**
 * The mirror mark (`x-graylane-mirror: 1`) at the socket level: upstreams tell a mirrored copy from
 * real traffic by it (to skip a copy's side effects: a charge, an e-mail), so only the gateway's
 * copies may carry it. A client's own is dropped, in any spelling, unless the route trusts incoming
 * lanes: the client is then a gateway in front, whose copies must stay copies.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec } from './helpers.js';
import { headerLinesOf, raw, startRecordingUpstream, type RecordingUpstream } from '../security/helpers.js';

let stable: RecordingUpstream;
let beta: RecordingUpstream;
let gw: Gateway;
before(async () => {
  stable = await startRecordingUpstream('stable');
  beta = await startRecordingUpstream('beta');
  gw = await gatewayFor(
    spec({
      services: { svc: service({ stable: [stable.url], beta: [beta.url] }) },
      routes: [
        route({ name: 'shop', match: { host: 'shop.test' }, mirror: { lane: 'beta', percent: 100 } }),
        route({ name: 'behind', match: { host: 'behind.test' }, trustLane: true }),
      ],
    }),
  );
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await Promise.all([stable.close(), beta.close()]);
});

/** Waits (bounded) until `up` has received `n` requests. */
async function received(up: RecordingUpstream, n: number): Promise<void> {
  for (let i = 0; i < 200 && up.received.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(up.received.length, n);
}

test('a client cannot mark a real request as a mirrored copy; the gateway\'s copy carries one mark', async () => {
  const marks = 'X-Graylane-Mirror: 1\r\nx_graylane_mirror: 1\r\nX-GRAYLANE_MIRROR: 1\r\n';
  const r = await raw(
    gw,
    // Each name once (rendered lines), then a repeated field (the header object).
    `GET /a HTTP/1.1\r\nHost: shop.test\r\n${marks}\r\nGET /b HTTP/1.1\r\nHost: shop.test\r\nAccept: x\r\n${marks}Accept: y\r\n\r\n`,
    { responses: 2 },
  );
  assert.deepEqual(
    r.responses.map((res) => res.status),
    [200, 200],
    r.text,
  );
  await received(stable, 2);
  await received(beta, 2);
  for (const request of stable.received) {
    assert.deepEqual(
      request.headerLines.filter((l) => /^x[-_]graylane[-_]mirror:/i.test(l)),
      [],
      `${request.line}: the real request reached the upstream marked as a copy`,
    );
  }
  for (const request of beta.received) {
    assert.deepEqual(
      request.headerLines.filter((l) => /^x[-_]graylane[-_]mirror:/i.test(l)),
      ['x-graylane-mirror: 1'],
      request.line,
    );
  }
});

test('on a route that trusts incoming lanes, the mark of the gateway in front is passed on', async () => {
  const before = stable.received.length;
  const r = await raw(gw, 'GET /c HTTP/1.1\r\nHost: behind.test\r\nX-Graylane-Mirror: 1\r\nx_graylane_mirror: 1\r\n\r\n', { responses: 1 });
  assert.equal(r.responses[0]!.status, 200, r.text);
  await received(stable, before + 1);
  const request = stable.received[before]!;
  assert.equal(request.line, 'GET /c HTTP/1.1');
  assert.deepEqual(headerLinesOf(request, 'x-graylane-mirror'), ['1']);
  assert.deepEqual(headerLinesOf(request, 'x_graylane_mirror'), [], 'a gateway writes the mark with dashes');
});
