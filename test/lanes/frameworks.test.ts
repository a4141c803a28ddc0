/**
 * The Express middleware and the Fastify plugin, run for real: mixed-lane requests, GET and POST with
 * a parsed body, async handlers that wait and then call a downstream service.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { currentLane, expressLanes, fastifyLanes, installLanePropagation } from '@graylane/lanes';
import { httpJson, listen, startDownstream, type Seen } from './helpers.js';
import { sleep } from '../support/wait.js';

let down: Awaited<ReturnType<typeof startDownstream>>;
const cleanup: (() => Promise<void> | void)[] = [];

before(async () => {
  installLanePropagation();
  down = await startDownstream();
  cleanup.push(down.close);
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const seenLane = async (path: string): Promise<string | null> => ((await (await fetch(down.url + path)).json()) as Seen).lane;

interface Answer {
  lane: string | null;
  down: string | null;
  body?: unknown;
  hook?: string | null;
}

/** 300 requests, lanes mixed (a third without one), half GET and half POST with a JSON body. */
async function mixedTraffic(url: string): Promise<void> {
  const lanes = ['alpha', 'beta', undefined];
  await Promise.all(
    Array.from({ length: 300 }, async (_, i) => {
      const lane = lanes[i % 3];
      const post = i % 2 === 1;
      const headers: Record<string, string> = lane ? { 'x-gray-lane': lane } : {};
      if (post) headers['content-type'] = 'application/json';
      const got = await httpJson<Answer>(url, { method: post ? 'POST' : 'GET', headers }, post ? JSON.stringify({ i }) : undefined);
      const want: Answer = { lane: lane ?? null, down: lane ?? null, hook: lane ?? null };
      if (post) want.body = { i };
      assert.deepEqual(got, want, `request ${i}`);
    }),
  );
}

test('Express: handlers after expressLanes() run in the request lane, also after express.json()', async () => {
  const app = express();
  app.use(expressLanes());
  app.use(express.json());
  app.use((req: { hookLane?: string | null }, _res: unknown, next: () => void) => {
    req.hookLane = currentLane() ?? null;
    next();
  });
  const handler = async (req: { body?: unknown; hookLane?: string | null }, res: { json(b: unknown): void }) => {
    await sleep(Math.random() * 3);
    const answer: Answer = { lane: currentLane() ?? null, down: await seenLane('/express'), hook: req.hookLane ?? null };
    if (req.body !== undefined) answer.body = req.body;
    res.json(answer);
  };
  app.get('/', handler);
  app.post('/', handler);
  const l = await listen(http.createServer(app));
  cleanup.push(l.close);
  await mixedTraffic(l.url);
});

test('Express: expressLanes() mounted after a body parser works as well', async () => {
  const app = express();
  app.use(express.json());
  app.use(expressLanes());
  app.post('/', async (req: { body: unknown }, res: { json(b: unknown): void }) => {
    await sleep(1);
    res.json({ lane: currentLane() ?? null, down: await seenLane('/express2'), body: req.body });
  });
  const l = await listen(http.createServer(app));
  cleanup.push(l.close);
  const got = await httpJson(l.url, { method: 'POST', headers: { 'x-gray-lane': 'beta', 'content-type': 'application/json' } }, '{"a":1}');
  assert.deepEqual(got, { lane: 'beta', down: 'beta', body: { a: 1 } });
});

test('Express: a handler reading the body with stream callbacks keeps the lane', async () => {
  const app = express();
  app.use(expressLanes());
  app.post('/', (req: http.IncomingMessage, res: { json(b: unknown): void }) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => void seenLane('/express3').then((down) => res.json({ lane: currentLane() ?? null, down, size: body.length })));
  });
  const l = await listen(http.createServer(app));
  cleanup.push(l.close);
  const got = await httpJson(l.url, { method: 'POST', headers: { 'x-gray-lane': 'beta' } }, 'x'.repeat(100_000));
  assert.deepEqual(got, { lane: 'beta', down: 'beta', size: 100_000 });
});

test('Fastify: hooks from preValidation on and async handlers run in the request lane, with and without a body', async () => {
  const app = Fastify();
  await app.register(fastifyLanes);
  app.decorateRequest('hookLane', null);
  app.addHook('preHandler', async (req) => {
    await sleep(Math.random() * 2);
    (req as unknown as { hookLane: string | null }).hookLane = currentLane() ?? null;
  });
  const handler = async (req: { body?: unknown }) => {
    await sleep(Math.random() * 3);
    const answer: Answer = {
      lane: currentLane() ?? null,
      down: await seenLane('/fastify'),
      hook: (req as unknown as { hookLane: string | null }).hookLane,
    };
    if (req.body !== undefined && req.body !== null) answer.body = req.body;
    return answer;
  };
  app.get('/', handler);
  app.post('/', handler);
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanup.push(() => app.close());
  const { port } = app.server.address() as AddressInfo;
  await mixedTraffic(`http://127.0.0.1:${port}/`);
});

test('Fastify: the plugin applies to routes of encapsulated child plugins too', async () => {
  const app = Fastify();
  await app.register(fastifyLanes, { header: 'x-lane' });
  await app.register(async (child) => {
    child.get('/child', async () => ({ lane: currentLane() ?? null }));
  });
  await app.ready();
  cleanup.push(() => app.close());
  const res = await app.inject({ url: '/child', headers: { 'x-lane': 'beta' } });
  assert.deepEqual(res.json(), { lane: 'beta' });
});
