/**
 * Pipelined requests on graylane's HTTP/1.1 server connection, raw bytes over 127.0.0.1: each
 * request is handed over as soon as its head (and body) is read, so a slow first answer does not
 * delay the work of the second; the answers still go out in request order, and a refused head
 * behind them is answered last, after which the connection closes.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { Http1Connection, Http1Sweep, type ConnectionLimits, type Http1Handler } from '../../src/http1/index.js';

const LIMITS: ConnectionLimits = { maxHeaderBytes: 4096, maxHeaders: 20, maxUrlBytes: 512, headersTimeoutMs: 2000 };

/** When each request was handed over, and when its answer was written (ms since the server started). */
const events: string[] = [];
let port = 0;
let server: net.Server;
const sweep = new Http1Sweep(5000, 100);

before(async () => {
  const handler: Http1Handler = {
    onRequest(req, res) {
      events.push(`request ${req.target}`);
      // `/slow/N` answers after N ms, anything else at once; the body is the target.
      const delay = req.target.startsWith('/slow/') ? Number(req.target.slice(6)) : 0;
      setTimeout(() => {
        events.push(`answer ${req.target}`);
        const body = Buffer.from(req.target);
        res.writeHead(200, [], body.length);
        res.write(body);
        res.end();
      }, delay);
    },
    onRefused(err, res) {
      res.writeHead(err.status, [], 0, true);
      res.end();
    },
  };
  server = net.createServer({ allowHalfOpen: true }, (socket) => void new Http1Connection(socket, handler, () => LIMITS, sweep));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  sweep.stop();
  server.close();
});

function converse(bytes: string, ms: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, ms);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on('error', () => {});
    socket.write(bytes, 'latin1');
  });
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`;
const bodies = (text: string) => [...text.matchAll(/\r\n\r\n(\/[a-z0-9/]+)/g)].map((m) => m[1]);

test('pipelined requests are all handed over before the first answer, and answered in order', async () => {
  events.length = 0;
  const r = await converse(get('/slow/300') + get('/fast') + get('/slow/100'), 1500);
  assert.deepEqual(bodies(r.text), ['/slow/300', '/fast', '/slow/100'], r.text);
  assert.deepEqual(events.slice(0, 3), ['request /slow/300', 'request /fast', 'request /slow/100'], 'all three were being worked on at once');
  assert.equal(r.closed, false);
});

test('a refused head behind pipelined requests is answered after them, then the connection closes', async () => {
  const r = await converse(get('/slow/200') + get('/fast') + 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n' + get('/never'), 2000);
  assert.deepEqual(bodies(r.text), ['/slow/200', '/fast'], r.text);
  assert.match(r.text, /\/fastHTTP\/1\.1 400 Bad Request\r\n[^]*connection: close\r\n\r\n$/);
  assert.ok(r.closed);
  assert.ok(!events.includes('request /never'));
});
