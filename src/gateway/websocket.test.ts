import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { requestHeadWithoutUpgrade, switchesToAsked, tunnelProtocols } from './websocket.js';

test('tunnelProtocols: every listed protocol but HTTP/2; none left is empty; a malformed list is null', () => {
  assert.equal(tunnelProtocols('websocket'), 'websocket');
  assert.equal(tunnelProtocols('WebSocket'), 'WebSocket');
  assert.equal(tunnelProtocols('h2c'), '');
  assert.equal(tunnelProtocols('H2C'), '');
  assert.equal(tunnelProtocols('h2c, websocket'), 'websocket');
  assert.equal(tunnelProtocols('h2, h2c/1, foo/2 ,websocket'), 'foo/2, websocket');
  assert.equal(tunnelProtocols(' , '), '');
  assert.equal(tunnelProtocols(undefined), '');
  assert.equal(tunnelProtocols('web socket'), null);
  assert.equal(tunnelProtocols('websocket;q=1'), null);
  assert.equal(tunnelProtocols('a/b/c'), null);
});

test('switchesToAsked: only protocols the client listed, compared without case; an empty Upgrade switches to nothing', () => {
  assert.equal(switchesToAsked('websocket', 'websocket'), true);
  assert.equal(switchesToAsked('WebSocket', 'websocket'), true);
  assert.equal(switchesToAsked('foo/2', 'foo/2, websocket'), true);
  assert.equal(switchesToAsked('h2c', 'websocket'), false);
  assert.equal(switchesToAsked('websocket, h2c', 'websocket'), false);
  assert.equal(switchesToAsked('foo/3', 'foo/2'), false);
  assert.equal(switchesToAsked('', 'websocket'), false);
});

function request(method: string, url: string, httpVersion: string, rawHeaders: string[]): IncomingMessage {
  return { method, url, httpVersion, rawHeaders } as unknown as IncomingMessage;
}

test('requestHeadWithoutUpgrade: Upgrade and HTTP2-Settings dropped, Connection keeps its other options, the rest as sent', () => {
  assert.equal(
    requestHeadWithoutUpgrade(
      request('POST', '/a?b=1', '1.1', [
        'Host', 'gw.test',
        'Connection', 'Upgrade, HTTP2-Settings, x-hop',
        'Upgrade', 'h2c',
        'HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA',
        'x-hop', '1',
        'Content-Length', '5',
      ]),
    ),
    'POST /a?b=1 HTTP/1.1\r\nHost: gw.test\r\nConnection: x-hop\r\nx-hop: 1\r\nContent-Length: 5\r\n\r\n',
  );
  assert.equal(
    requestHeadWithoutUpgrade(request('GET', '/', '1.0', ['Host', 'h', 'Connection', 'upgrade', 'Upgrade', 'websocket'])),
    'GET / HTTP/1.0\r\nHost: h\r\n\r\n',
  );
});
