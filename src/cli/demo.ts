/**
 * `graylane demo`: the whole product on a built-in default, with nothing set up. It starts one demo
 * upstream per endpoint of the config (on the ports it names), then graylane itself as `serve` runs it
 * (gateway, rollout controller, admin API with the dashboard, state in a temporary directory), sends
 * a mix of requests, and redraws the `graylane top` view plus where each kind of request landed,
 * until Ctrl-C. The quickstart's rollout (whoami-beta) walks its steps meanwhile and waits for a
 * person at its second pause: the printed token and command let one try pause, promote and abort
 * from the dashboard or `graylane rollout`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startApp, type App } from '../app.js';
import { loadSpecFile, type Spec } from '../spec/index.js';
import { DEFAULT_ADMIN_LISTEN } from '../spec/sections/rollouts.js';
import type { Overview } from '../metrics/overview.js';
import { startDemoUpstream, type DemoUpstream } from '../demo/upstream.js';
import { QUICKSTART_KINDS, renderTable, sendTraffic } from '../demo/traffic.js';
import { AdminClient } from './admin-client.js';
import { hostForUrl } from './listen.js';
import { chooseLogFormat, logDestination } from '../log/format.js';
import { renderTop } from './top-render.js';

interface DemoOptions {
  config: string;
  adminListen?: string;
  duration?: number;
  rate: number;
}

export async function demoCommand(opts: DemoOptions): Promise<void> {
  const spec = await loadSpecFile(opts.config);
  const upstreams = await startUpstreams(spec.services);
  const stateDir = mkdtempSync(join(tmpdir(), 'graylane-demo-'));
  // A fresh token per run, printed, so the dashboard's buttons work and nothing else can use them.
  const adminToken = randomBytes(9).toString('base64url');
  const adminListen = opts.adminListen ?? spec.admin?.listen ?? DEFAULT_ADMIN_LISTEN;
  let app: App;
  try {
    app = await startApp({
      configFile: opts.config,
      logger: pino({ name: 'graylane', level: 'warn' }, logDestination(2, chooseLogFormat('auto', process.stderr.isTTY === true))),
      adminListen,
      adminToken,
      statePath: join(stateDir, 'state.db'),
      accessLog: false,
    });
  } catch (err) {
    await Promise.all(upstreams.map((u) => u.close()));
    rmSync(stateDir, { recursive: true, force: true });
    throw new Error(
      `cannot start graylane on ${opts.config} (${(err as Error).message}); free the ports (listen ${spec.listen}, admin ${adminListen}) or pass --admin-listen / edit the config`,
    );
  }
  const gw = app.gateway.address;
  const gatewayUrl = `http://${hostForUrl(gw.host)}:${gw.port}`;
  const adminUrl = `http://${hostForUrl(app.admin.address.host)}:${app.admin.address.port}`;
  const admin = new AdminClient(adminUrl, undefined);
  const run = sendTraffic(gatewayUrl, QUICKSTART_KINDS, opts.rate);
  const versions = [...new Set(Object.values(spec.services).flatMap((s) => Object.keys(s.versions)))];
  const tty = process.stdout.isTTY === true;
  const started = Date.now();
  const rolloutHelp = rolloutCommands(spec, adminUrl, adminToken);

  const draw = async () => {
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    let top: string;
    try {
      top = renderTop(await admin.get<Overview>('/api/v1/overview'), { source: adminUrl, color: tty });
    } catch (err) {
      top = `(the admin API did not answer: ${(err as Error).message})\n`;
    }
    const mirrored = upstreams.reduce((sum, u) => sum + u.mirrored, 0);
    const text =
      `graylane demo on ${opts.config}: gateway ${gatewayUrl}, ${opts.rate} req/s, ${secs}s${tty ? ' (Ctrl-C to stop)' : ''}\n` +
      `dashboard ${adminUrl}/  (admin token for its buttons: ${adminToken})\n` +
      rolloutHelp +
      '\n' +
      top +
      `\nwhere each kind of request landed\n` +
      renderTable(run.counts, versions) +
      `\n\nmirror copies received by upstreams: ${mirrored}` +
      `\nper instance: ${upstreams.map((u) => `${u.url.replace('http://', '')}=${u.received}`).join('  ')}\n`;
    process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
  };
  // One draw at a time: a slow admin answer must not stack redraws.
  let drawing: Promise<void> = Promise.resolve().then(draw);
  const timer = setInterval(() => (drawing = drawing.then(draw)), tty ? 1000 : 5000);

  let deadline: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (opts.duration !== undefined) deadline = setTimeout(resolve, opts.duration * 1000);
  });
  // Stopped by a signal before --duration: the pending deadline must not keep the process alive.
  clearTimeout(deadline);
  clearInterval(timer);
  await run.stop();
  await drawing;
  await draw();
  await app.close({ drainMs: 1000 });
  await Promise.all(upstreams.map((u) => u.close()));
  rmSync(stateDir, { recursive: true, force: true });
}

/** How to drive the config's rollouts from a shell, with this demo's address and token; '' if none. */
function rolloutCommands(spec: Spec, adminUrl: string, token: string): string {
  const names = (spec.rollouts ?? []).map((r) => r.name);
  if (names.length === 0) return '';
  return (
    `rollout ${names.join(', ')}: pause, promote, abort on the dashboard, or\n` +
    `  npx graylane rollout promote ${names[0]} --admin ${adminUrl} --token ${token}   (also: get --watch, pause, resume, abort, retry)\n`
  );
}

async function startUpstreams(services: Spec['services']): Promise<DemoUpstream[]> {
  const upstreams: DemoUpstream[] = [];
  try {
    for (const [service, svc] of Object.entries(services)) {
      for (const [version, v] of Object.entries(svc.versions)) {
        for (const endpoint of v.endpoints) {
          const u = new URL(endpoint);
          try {
            upstreams.push(await startDemoUpstream({ service, version, host: u.hostname, port: Number(u.port || 80) }));
          } catch (err) {
            throw new Error(`cannot start the demo upstream for ${service}/${version} on ${endpoint}: ${(err as Error).message}`);
          }
        }
      }
    }
  } catch (err) {
    await Promise.all(upstreams.map((u) => u.close()));
    throw err;
  }
  return upstreams;
}
