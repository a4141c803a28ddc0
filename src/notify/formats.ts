/**
 * One message -> one HTTP request per target kind. Pure: the time and the secret come in, so tests
 * compute the expected body and signature independently and compare bytes.
 *
 * Each format follows its platform's documentation (cited per function). Chat bodies are markdown
 * or text the platform renders; the generic webhook is graylane's own versioned JSON.
 */
import { createHmac } from 'node:crypto';
import { clip, type ApprovalLinks, type NotifyMessage } from './message.js';
import type { TargetKind } from '../spec/notifications.js';

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface FormatInput {
  kind: TargetKind;
  url: string;
  /** The target's secret, read at send time; undefined when it has none. */
  secret: string | undefined;
  message: NotifyMessage;
  links: ApprovalLinks | undefined;
  /** Epoch ms of this try (signatures carry it so receivers can refuse replays). */
  now: number;
}

/** Version of the generic webhook body; a receiver branches on it. Bumped only for breaking changes. */
export const WEBHOOK_SCHEMA_VERSION = 1;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export function formatRequest(input: FormatInput): OutgoingRequest {
  switch (input.kind) {
    case 'webhook':
      return webhookRequest(input);
    case 'slack':
      return slackRequest(input);
    case 'feishu':
      return feishuRequest(input);
    case 'dingtalk':
      return dingtalkRequest(input);
    case 'wecom':
      return wecomRequest(input);
  }
}

/** The generic webhook's body (docs/notifications.md#webhook): stable field names, `version` first. */
export function webhookBody(m: NotifyMessage, links: ApprovalLinks | undefined): Record<string, unknown> {
  return {
    version: WEBHOOK_SCHEMA_VERSION,
    id: m.id,
    event: m.event,
    time: new Date(m.time).toISOString(),
    severity: m.severity,
    title: m.title,
    text: m.text,
    rollout: m.rollout ?? null,
    service: m.service ?? null,
    attempt: m.attempt ?? null,
    step: m.step ?? null,
    links: links ?? null,
  };
}

/**
 * graylane's webhook. `X-Graylane-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
 * with `X-Graylane-Timestamp` in unix seconds: the timestamp is inside the signed material, so a
 * receiver that refuses old timestamps (say, > 5 minutes) refuses replays, and one that remembers
 * X-Graylane-Delivery ids refuses duplicates (the same scheme as Stripe's and Slack's request signing).
 */
function webhookRequest({ url, secret, message, links, now }: FormatInput): OutgoingRequest {
  const body = JSON.stringify(webhookBody(message, links));
  const timestamp = String(Math.floor(now / 1000));
  const headers: Record<string, string> = {
    ...JSON_HEADERS,
    'x-graylane-event': message.event,
    'x-graylane-delivery': message.id,
    'x-graylane-timestamp': timestamp,
  };
  if (secret !== undefined) headers['x-graylane-signature'] = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  return { url, headers, body };
}

/**
 * Slack incoming webhook: `{ text }` with mrkdwn, links as `<url|label>`; `&`, `<`, `>` escaped as
 * the docs say. https://api.slack.com/messaging/webhooks,
 * https://api.slack.com/reference/surfaces/formatting#escaping
 */
function slackRequest({ url, message, links }: FormatInput): OutgoingRequest {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  let text = `*${esc(message.title)}*\n${esc(clip(message.text))}`;
  if (links) text += `\n<${links.promote}|Promote this step> · <${links.abort}|Abort>`;
  return { url, headers: { ...JSON_HEADERS }, body: JSON.stringify({ text }) };
}

/**
 * Feishu / Lark custom bot, text message. With signature verification on, the body carries
 * `timestamp` (unix seconds, as a string) and `sign` = base64(HMAC-SHA256(key = timestamp + "\n" +
 * secret, message = empty)). https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
 * (section "签名校验" / "Signature verification").
 */
function feishuRequest({ url, secret, message, links, now }: FormatInput): OutgoingRequest {
  let text = `${message.title}\n${clip(message.text)}`;
  if (links) text += `\nPromote this step: ${links.promote}\nAbort: ${links.abort}`;
  const body: Record<string, unknown> = {};
  if (secret !== undefined) {
    const timestamp = String(Math.floor(now / 1000));
    body.timestamp = timestamp;
    body.sign = createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
  }
  body.msg_type = 'text';
  body.content = { text };
  return { url, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

/**
 * DingTalk custom robot, markdown message. Signed ("加签"): timestamp in ms, string to sign
 * timestamp + "\n" + secret, HMAC-SHA256 keyed with the secret, base64, then URL-encoded, both
 * appended to the webhook URL as `timestamp` and `sign`.
 * https://open.dingtalk.com/document/robots/customize-robot-security-settings,
 * https://open.dingtalk.com/document/robots/custom-robot-access (message types).
 */
function dingtalkRequest({ url, secret, message, links, now }: FormatInput): OutgoingRequest {
  let text = `#### ${message.title}\n\n${clip(message.text)}`;
  if (links) text += `\n\n[Promote this step](${links.promote}) · [Abort](${links.abort})`;
  let target = url;
  if (secret !== undefined) {
    const timestamp = String(now);
    const sign = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
    target += `${url.includes('?') ? '&' : '?'}timestamp=${timestamp}&sign=${encodeURIComponent(sign)}`;
  }
  return { url: target, headers: { ...JSON_HEADERS }, body: JSON.stringify({ msgtype: 'markdown', markdown: { title: message.title, text } }) };
}

/**
 * WeCom (WeChat Work) group robot, markdown message: `{ msgtype: "markdown", markdown: { content } }`,
 * content at most 4096 bytes; no signature (the key in the URL is the secret).
 * https://developer.work.weixin.qq.com/document/path/91770
 */
function wecomRequest({ url, message, links }: FormatInput): OutgoingRequest {
  const color = message.severity === 'warning' ? 'warning' : 'info';
  let content = `**<font color="${color}">${message.title}</font>**\n${clip(message.text)}`;
  if (links) content += `\n[Promote this step](${links.promote}) · [Abort](${links.abort})`;
  return { url, headers: { ...JSON_HEADERS }, body: JSON.stringify({ msgtype: 'markdown', markdown: { content } }) };
}
