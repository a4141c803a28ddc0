import { randomUUID } from 'node:crypto';
import { loadSpecFile } from '../spec/index.js';
import { compile } from '../routing/index.js';
import { startGateway } from '../gateway/index.js';
import { startDemoUpstream, type DemoUpstream } from '../demo/upstream.js';
import { QUICKSTART_KINDS, renderTable, sendTraffic } from '../demo/traffic.js';
import { parseListen } from './listen.js';

interface DemoOptions {
  config: string;
  duration?: number;
  rate: number;
}

/**
 * `graylane demo`: start one demo upstream per endpoint of the config (on the ports it names), the
 * gateway on the config, then send a mix of requests and show where each kind landed until Ctrl-C.
 */
export async function demoCommand(opts: DemoOptions): Promise<void> {
  const spec = await loadSpecFile(opts.config);
  const upstreams: DemoUpstream[] = [];
  for (const [service, svc] of Object.entries(spec.services)) {
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
  const { host, port } = parseListen(spec.listen);
  const gateway = await startGateway({ snapshot: compile(spec), host, port, accessLog: false, newVisitorId: randomUUID }).catch(
    (err: Error) => {
      throw new Error(`cannot listen on ${spec.listen} (${err.message}); free the port or edit listen in ${opts.config}`);
    },
  );
  const gatewayUrl = `http://${gateway.address.host}:${gateway.address.port}`;
  const run = sendTraffic(gatewayUrl, QUICKSTART_KINDS, opts.rate);
  const versions = [...new Set(Object.values(spec.services).flatMap((s) => Object.keys(s.versions)))];
  const tty = process.stdout.isTTY;
  const started = Date.now();

  const draw = () => {
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    const mirrored = upstreams.reduce((sum, u) => sum + u.mirrored, 0);
    const text =
      `graylane demo: gateway ${gatewayUrl} on ${opts.config}, ${opts.rate} req/s, ${secs}s` +
      `${tty ? ' (Ctrl-C to stop)' : ''}\n\n` +
      renderTable(run.counts, versions) +
      `\n\nmirror copies received by upstreams: ${mirrored}` +
      `\nper instance: ${upstreams.map((u) => `${u.url.replace('http://', '')}=${u.received}`).join('  ')}\n`;
    process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
  };
  const timer = setInterval(draw, tty ? 1000 : 5000);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (opts.duration !== undefined) setTimeout(resolve, opts.duration * 1000);
  });
  clearInterval(timer);
  await run.stop();
  draw();
  await gateway.close({ drainMs: 1000 });
  await Promise.all(upstreams.map((u) => u.close()));
}
