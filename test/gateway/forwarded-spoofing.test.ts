/**
 * X-Forwarded-* spoofing with `_` for `-`, at the socket level. CGI-style servers (WSGI, Rack, PHP)
 * turn both `X-Forwarded-Proto` and `x_forwarded_proto` into HTTP_X_FORWARDED_PROTO, joining the two
 * (Python's wsgiref) or keeping one: a client's underscore spelling passed on beside the gateway's
 * field would reach the application as the proxy's word (`https,http`: Django reads the first). The
 * gateway drops that spelling as it drops `x_gray_lane`; other names with `_` pass on.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/gateway/server.js';
import { gatewayFor, route, service, spec } from './helpers.js';
import { raw, startRecordingUpstream, type RecordedRequest, type RecordingUpstream } from '../security/helpers.js';

let up: RecordingUpstream;
let gw: Gateway;
before(async () => {
  up = await startRecordingUpstream('up');
  gw = await gatewayFor(spec({ services: { svc: service({ stable: [up.url] }) }, routes: [route()] }));
});
after(async () => {
  await gw.close({ drainMs: 100 });
  await up.close();
});

/** The CGI meta-variables of a recorded head as Python's wsgiref builds them: `-` read as `_`, repeats joined with `,`. */
function cgiVariables(request: RecordedRequest): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of request.headerLines) {
    const colon = line.indexOf(':');
    const key = `HTTP_${line.slice(0, colon).toUpperCase().replaceAll('-', '_')}`;
    const value = line.slice(colon + 1).trim();
    vars.set(key, vars.has(key) ? `${vars.get(key)},${value}` : value);
  }
  return vars;
}

/** The spoofs, each spelled with `_` somewhere: every one must be dropped. */
const SPOOFS = 'X_Forwarded_For: 6.6.6.6\r\nx_forwarded_proto: https\r\nX_FORWARDED_HOST: evil.test\r\nx-forwarded_for: 7.7.7.7\r\nx_forwarded-proto: https\r\n';

test('X-Forwarded-* spelled with _ for - never reaches the upstream, whichever way the gateway writes the head', async () => {
  const requests = [
    // Each name once: the gateway renders the lines from the client's bytes (renderFields).
    `GET /a HTTP/1.1\r\nHost: shop.test\r\n${SPOOFS}x_custom_id: 1\r\n\r\n`,
    // A repeated name: the head is rewritten from the joined header object (upstreamRequestHeaders).
    `GET /b HTTP/1.1\r\nHost: shop.test\r\nAccept: a\r\n${SPOOFS}Accept: b\r\nx_custom_id: 1\r\n\r\n`,
    // The client's own X-Forwarded-For, which is appended to.
    `GET /c HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 203.0.113.9\r\n${SPOOFS}x_custom_id: 1\r\n\r\n`,
  ];
  const r = await raw(gw, requests.join(''), { responses: 3 });
  assert.deepEqual(
    r.responses.map((res) => res.status),
    [200, 200, 200],
    r.text,
  );
  assert.deepEqual(
    up.received.map((req) => req.line),
    ['GET /a HTTP/1.1', 'GET /b HTTP/1.1', 'GET /c HTTP/1.1'],
  );
  const forwardedFor = ['127.0.0.1', '127.0.0.1', '203.0.113.9, 127.0.0.1'];
  up.received.forEach((request, i) => {
    const forwarded = request.headerLines.filter((l) => /^x[-_]forwarded[-_]/i.test(l));
    assert.deepEqual(forwarded, [`x-forwarded-for: ${forwardedFor[i]}`, 'x-forwarded-proto: http', 'x-forwarded-host: shop.test'], `request ${i}`);
    const vars = cgiVariables(request);
    assert.equal(vars.get('HTTP_X_FORWARDED_FOR'), forwardedFor[i]);
    assert.equal(vars.get('HTTP_X_FORWARDED_PROTO'), 'http');
    assert.equal(vars.get('HTTP_X_FORWARDED_HOST'), 'shop.test');
    // Only the gateway's own names are dropped in that spelling.
    assert.equal(vars.get('HTTP_X_CUSTOM_ID'), '1', `request ${i}`);
  });
});
