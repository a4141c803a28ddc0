/**
 * Test support: a real Prometheus (Debian's `prometheus`, on the PATH) on a loopback port with its own
 * temp data dir, scraping the given targets every second. Started the way test/support/etcd.ts
 * starts etcd: the port is picked free and then bound by Prometheus, and a start that loses its port
 * to another process is retried on a new one. Every started Prometheus is killed by pid when the test
 * process exits, whatever happened; tests still call cleanup() in an after hook.
 *
 * Nothing in it reaches beyond 127.0.0.1: no alertmanager, no remote read or write, no rule files,
 * and the only scrape targets are the ones given.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/etcd.js';

export interface PrometheusServer {
  /** `http://127.0.0.1:PORT`, what a `prometheus: { address }` provider takes. */
  readonly address: string;
  readonly dataDir: string;
  /** One instant query; resolves with the API's whole answer (`status`, `data` or `error`). */
  query(promql: string): Promise<PromAnswer>;
  /** Resolves once a scrape of every target has succeeded (`up == 1`) at least `scrapes` times. */
  waitForScrapes(scrapes?: number, timeoutMs?: number): Promise<void>;
  /** Kills it and removes the data dir. */
  cleanup(): Promise<void>;
}

export interface PromAnswer {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown };
}

export interface PrometheusOptions {
  /** `host:port` of each /metrics to scrape (every one on 127.0.0.1). */
  targets: string[];
  /** How long start waits for /-/ready (default 30 s: the machine may be loaded). */
  readyTimeoutMs?: number;
}

export const PROMETHEUS_BIN = 'prometheus';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Throws a message that says what to install when the binary is missing, at once, instead of a test
 * that waits for a server that never comes.
 */
export function requirePrometheus(): void {
  const r = spawnSync(PROMETHEUS_BIN, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(
      `cannot run \`${PROMETHEUS_BIN} --version\` (${r.error?.message ?? `exit ${r.status}`}): ` +
        'these tests need a real Prometheus; install Debian\'s package: apt-get install prometheus',
    );
  }
}

/**
 * Starts Prometheus scraping `targets` every second and waits until it is ready.
 *
 * @example
 * const prom = await startPrometheus({ targets: [`127.0.0.1:${adminPort}`] });
 * after(() => prom.cleanup());
 * await prom.waitForScrapes(2);
 */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  requirePrometheus();
  for (const t of opts.targets) {
    if (!/^127\.0\.0\.1:\d+$/.test(t)) throw new Error(`scrape target ${t} is not 127.0.0.1:PORT`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'graylane-prometheus-'));
  const configFile = join(dataDir, 'prometheus.yml');
  // Scrape and evaluate every second, so a rate() over a few seconds has samples quickly.
  writeFileSync(
    configFile,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: graylane',
      `    static_configs: [{ targets: ${JSON.stringify(opts.targets)} }]`,
      '',
    ].join('\n'),
  );
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new Server(dataDir, configFile, await freePort(), opts.readyTimeoutMs ?? 30_000, opts.targets.length);
    try {
      await server.start();
      return server;
    } catch (e) {
      lastError = e;
      await server.kill();
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
  throw lastError;
}

class Server implements PrometheusServer {
  readonly address: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = '';
  /** Unique, so a readiness check can tell this Prometheus from another one that took its port. */
  private readonly tsdbPath: string;

  constructor(
    readonly dataDir: string,
    private readonly configFile: string,
    port: number,
    private readonly readyTimeoutMs: number,
    private readonly targetCount: number,
  ) {
    this.address = `http://127.0.0.1:${port}`;
    this.tsdbPath = join(dataDir, `tsdb-${randomBytes(4).toString('hex')}`);
  }

  async start(): Promise<void> {
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${this.configFile}`,
        `--storage.tsdb.path=${this.tsdbPath}`,
        `--web.listen-address=${this.address.slice('http://'.length)}`,
        '--storage.tsdb.retention.time=1h',
        // The Debian defaults point at /etc/prometheus; nothing of the system's config is read.
        `--web.console.templates=${this.dataDir}`,
        `--web.console.libraries=${this.dataDir}`,
        '--web.max-connections=32',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    running.add(child);
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new Error(`cannot run ${PROMETHEUS_BIN} (apt-get install prometheus): ${e.message}`)));
    });
    await this.waitReady(child);
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.stderr}`);
      }
      try {
        const ready = await fetch(`${this.address}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await ready.arrayBuffer();
        if (ready.status === 200) {
          const flags = (await (await fetch(`${this.address}/api/v1/status/flags`, { signal: AbortSignal.timeout(1000) })).json()) as {
            data?: Record<string, string>;
          };
          if (flags.data?.['storage.tsdb.path'] === this.tsdbPath) return;
          throw new Error(`another Prometheus answers on ${this.address}: its port was taken`);
        }
      } catch (e) {
        if (e instanceof Error && e.message.startsWith('another Prometheus')) throw e;
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`prometheus not ready within ${this.readyTimeoutMs} ms:\n${this.stderr}`);
  }

  async query(promql: string): Promise<PromAnswer> {
    const res = await fetch(`${this.address}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as PromAnswer;
  }

  async waitForScrapes(scrapes = 2, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // count_over_time(up[1m]) counts the scrapes of each target; `min` needs every target scraped.
    const q = `min(sum_over_time(up{job="graylane"}[1m])) >= ${scrapes} and count(up{job="graylane"} == 1) == ${this.targetCount}`;
    while (Date.now() < deadline) {
      const a = await this.query(q);
      if (a.status === 'success' && Array.isArray(a.data?.result) && a.data.result.length > 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    const up = await this.query('up');
    throw new Error(`prometheus did not scrape every target ${scrapes} times in ${timeoutMs} ms; up: ${JSON.stringify(up.data?.result)}`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
