import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLogFormat, formatLogLine } from './format.js';

// Local time in the output: build the expected clock the same way for any TZ.
const T = new Date(2026, 11, 5, 8, 7, 9, 42).getTime();

test('auto is pretty on a terminal and JSON elsewhere; an explicit format wins', () => {
  assert.equal(chooseLogFormat('auto', true), 'pretty');
  assert.equal(chooseLogFormat('auto', false), 'json');
  assert.equal(chooseLogFormat('json', true), 'json');
  assert.equal(chooseLogFormat('pretty', false), 'pretty');
});

test('an operational line: time, level, message, then the fields as key=value', () => {
  const line = JSON.stringify({ level: 30, time: T, pid: 7, hostname: 'h', name: 'graylane', msg: 'gateway listening', listen: '127.0.0.1:8080', id: 'abc' });
  assert.equal(formatLogLine(line), '08:07:09.042 INFO  gateway listening  listen=127.0.0.1:8080 id=abc');
  const rejected = JSON.stringify({ level: 50, time: T, msg: 'config rejected; still serving the previous one', error: 'g.yaml:3:5: services.x: bad\ng.yaml:9:1: routes: worse' });
  assert.equal(formatLogLine(rejected), '08:07:09.042 ERROR config rejected; still serving the previous one  error="g.yaml:3:5: services.x: bad\\ng.yaml:9:1: routes: worse"');
  assert.equal(formatLogLine(JSON.stringify({ level: 40, time: T, msg: 'x', key: 'listen', n: 3, o: { a: 1 } })), '08:07:09.042 WARN  x  key=listen n=3 o={"a":1}');
});

test('an error: its message among the fields, its stack on the lines after', () => {
  const err = { type: 'Error', message: 'boom here', stack: 'Error: boom here\n    at a (x.js:1:1)\n    at b (y.js:2:2)' };
  assert.equal(formatLogLine(JSON.stringify({ level: 50, time: T, msg: 'drain failed', err })), '08:07:09.042 ERROR drain failed  err="boom here"\n    at a (x.js:1:1)\n    at b (y.js:2:2)');
});

test('an access-log line leads with the request and its answer', () => {
  const line = '{"level":30,"time":' + T + ',"method":"GET","path":"/new-checkout?a=1","route":"checkout","lane":"beta","by":"keyword","version":"beta","endpoint":"http://127.0.0.1:9101","status":200,"ms":3}';
  assert.equal(formatLogLine(line), '08:07:09.042 GET /new-checkout?a=1 200 3ms  route=checkout lane=beta by=keyword version=beta endpoint=http://127.0.0.1:9101');
  // The gateway's own answers have no endpoint or version: left out, not shown empty.
  const own = '{"level":30,"time":' + T + ',"method":"GET","path":"/","route":"","lane":"","by":"","version":"","endpoint":"","status":404,"ms":0}';
  assert.equal(formatLogLine(own), '08:07:09.042 GET / 404 0ms');
  // The protocol as in a request line, where it is not HTTP/1.1 (the usual one is not repeated).
  const h2 = '{"level":30,"time":' + T + ',"method":"POST","path":"/greet.Greeter/Hello","protocol":"HTTP/2","route":"g","status":200,"ms":2}';
  assert.equal(formatLogLine(h2), '08:07:09.042 POST /greet.Greeter/Hello HTTP/2 200 2ms  route=g');
  const h1 = '{"level":30,"time":' + T + ',"method":"GET","path":"/","protocol":"HTTP/1.1","route":"r","status":200,"ms":1}';
  assert.equal(formatLogLine(h1), '08:07:09.042 GET / 200 1ms  route=r');
});

test('a line that is not a JSON object is passed through as it is', () => {
  assert.equal(formatLogLine('not json'), 'not json');
  assert.equal(formatLogLine('42'), '42');
  assert.equal(formatLogLine('null'), 'null');
});

test('control characters in a logged value are escaped: a request cannot drive the terminal', () => {
  const line = JSON.stringify({ level: 30, time: T, method: 'GET', path: '/a\u001b[2Jb\u009bc', route: 'r\u0007', lane: '', by: '', version: '', endpoint: '', status: 400, ms: 1 });
  assert.equal(formatLogLine(line), '08:07:09.042 GET /a\\u001b[2Jb\\u009bc 400 1ms  route=r\\u0007');
  assert.equal(formatLogLine(JSON.stringify({ level: 30, time: T, msg: 'm\u001b]0;x\u0007', u: 'a\u0085b' })), '08:07:09.042 INFO  m\\u001b]0;x\\u0007  u=a\\u0085b');
});
