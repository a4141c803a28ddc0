/**
 * Each target kind's exact request, against the platform's documented algorithm written out here
 * independently (not by calling the code under test's helpers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { formatRequest } from './formats.js';
import type { NotifyMessage } from './message.js';

const message: NotifyMessage = {
  id: 'm-1',
  event: 'AwaitingPromotion',
  time: Date.UTC(2026, 11, 5, 12, 0, 0),
  severity: 'info',
  title: 'rollout web-beta (web): AwaitingPromotion',
  text: 'Paused: step 2/2 pause: waiting for promote <&>',
  rollout: 'web-beta',
  service: 'web',
  attempt: 1,
  step: 1,
};
const NOW = 1_764_936_000_123; // ms
const links = { promote: 'https://gl.example/approve/p', abort: 'https://gl.example/approve/a' };

test('webhook: versioned JSON; X-Graylane-Signature = sha256=hex(HMAC-SHA256(secret, timestamp + "." + body))', () => {
  const req = formatRequest({ kind: 'webhook', url: 'http://127.0.0.1:1/hook', secret: 's3cret', message, links, now: NOW });
  assert.equal(req.url, 'http://127.0.0.1:1/hook');
  const body = JSON.parse(req.body) as Record<string, unknown>;
  assert.deepEqual(body, {
    version: 1,
    id: 'm-1',
    event: 'AwaitingPromotion',
    time: '2026-12-05T12:00:00.000Z',
    severity: 'info',
    title: message.title,
    text: message.text,
    rollout: 'web-beta',
    service: 'web',
    attempt: 1,
    step: 1,
    links,
  });
  assert.equal(req.headers['x-graylane-timestamp'], '1764936000');
  assert.equal(req.headers['x-graylane-delivery'], 'm-1');
  assert.equal(req.headers['x-graylane-event'], 'AwaitingPromotion');
  const expected = crypto.createHmac('sha256', 's3cret').update(`1764936000.${req.body}`).digest('hex');
  assert.equal(req.headers['x-graylane-signature'], `sha256=${expected}`);
  // Another timestamp signs differently: a receiver checking the timestamp refuses a replay.
  const later = formatRequest({ kind: 'webhook', url: 'http://x/', secret: 's3cret', message, links, now: NOW + 60_000 });
  assert.notEqual(later.headers['x-graylane-signature'], req.headers['x-graylane-signature']);
});

test('slack: {text} in mrkdwn with &, <, > escaped and links as <url|label>', () => {
  const req = formatRequest({ kind: 'slack', url: 'https://hooks.slack.invalid/T/B/X', secret: undefined, message, links, now: NOW });
  assert.deepEqual(JSON.parse(req.body), {
    text: '*rollout web-beta (web): AwaitingPromotion*\nPaused: step 2/2 pause: waiting for promote &lt;&amp;&gt;\n<https://gl.example/approve/p|Promote this step> · <https://gl.example/approve/a|Abort>',
  });
});

test('feishu: text message; signed: timestamp (seconds, string) and sign = base64(HMAC-SHA256(key = timestamp\\nsecret, empty))', () => {
  const req = formatRequest({ kind: 'feishu', url: 'https://open.feishu.invalid/hook/x', secret: 'fs-secret', message, links: undefined, now: NOW });
  const body = JSON.parse(req.body) as { timestamp: string; sign: string; msg_type: string; content: { text: string } };
  assert.equal(body.timestamp, '1764936000');
  const h = crypto.createHmac('sha256', Buffer.from('1764936000\nfs-secret', 'utf8'));
  h.update(Buffer.alloc(0));
  assert.equal(body.sign, h.digest('base64'));
  assert.equal(body.msg_type, 'text');
  assert.equal(body.content.text, `${message.title}\n${message.text}`);
  const unsigned = JSON.parse(formatRequest({ kind: 'feishu', url: 'https://x/', secret: undefined, message, links: undefined, now: NOW }).body) as object;
  assert.deepEqual(Object.keys(unsigned), ['msg_type', 'content']);
});

test('dingtalk: markdown; signed URL gets &timestamp=<ms>&sign=urlencode(base64(HMAC-SHA256(secret, ts\\nsecret)))', () => {
  const req = formatRequest({ kind: 'dingtalk', url: 'https://oapi.dingtalk.invalid/robot/send?access_token=abc', secret: 'SECxyz', message, links, now: NOW });
  const sign = crypto.createHmac('sha256', 'SECxyz').update(`${NOW}\nSECxyz`, 'utf8').digest('base64');
  assert.equal(req.url, `https://oapi.dingtalk.invalid/robot/send?access_token=abc&timestamp=${NOW}&sign=${encodeURIComponent(sign)}`);
  const u = new URL(req.url);
  assert.equal(u.searchParams.get('sign'), sign, 'the sign decodes back to the base64 value');
  assert.deepEqual(JSON.parse(req.body), {
    msgtype: 'markdown',
    markdown: {
      title: message.title,
      text: `#### ${message.title}\n\n${message.text}\n\n[Promote this step](${links.promote}) · [Abort](${links.abort})`,
    },
  });
});

test('wecom: markdown content, no signature', () => {
  const req = formatRequest({ kind: 'wecom', url: 'https://qyapi.invalid/cgi-bin/webhook/send?key=k', secret: undefined, message: { ...message, severity: 'warning' }, links: undefined, now: NOW });
  assert.equal(req.url, 'https://qyapi.invalid/cgi-bin/webhook/send?key=k');
  assert.deepEqual(JSON.parse(req.body), { msgtype: 'markdown', markdown: { content: `**<font color="warning">${message.title}</font>**\n${message.text}` } });
});
