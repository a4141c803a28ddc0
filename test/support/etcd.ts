/**
 * Test support: a real etcd (Debian's etcd-server, `etcd` on the PATH) on free loopback ports with a
 * temp data dir, and a TCP proxy that can cut a client's connections. Used by the etcd store tests
 * in src/ and the clustered-mode tests in test/cluster/; nothing in graylane itself imports it.
 *
 * Every started etcd is killed by pid when the test process exits, whatever happened, so a failed
 * test leaves no etcd behind; tests still call cleanup() in an after hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdServer {
  /** `http://127.0.0.1:PORT`, what connectEtcd() takes. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** Pid of the running etcd; undefined while stopped. */
  readonly pid: number | undefined;
  /** SIGTERM and wait for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data dir and waits until it is healthy. */
  start(): Promise<void>;
  /**
   * SIGSTOP, resolved once every thread has stopped: the process stays and answers nothing (a hung
   * server or a network black hole). A signal takes effect asynchronously; a request sent before
   * this resolves could still be answered.
   */
  freeze(): Promise<void>;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** Kills it if running and removes the data dir. */
  cleanup(): Promise<void>;
}

export interface EtcdServerOptions {
  /** How long start() waits for /health (default 20 s). */
  readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A port that was free a moment ago, picked at random below the kernel's ephemeral range (32768+),
 * where nothing else on the machine gets ports handed out: a port that etcd gives up during a
 * restart is then not taken by another test's server bound to port 0.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port found in 20000-31999');
}

/**
 * Starts a single-member etcd and waits until it answers /health.
 *
 * @example
 * const etcd = await startEtcd();
 * after(() => etcd.cleanup());
 * const conn = connectEtcd({ endpoints: [etcd.endpoint] });
 */
export async function startEtcd(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'graylane-etcd-'));
  // Ports are picked free and then bound by etcd: another process could take one in between, so a
  // start that fails is retried on new ports (restarts keep theirs: the data dir records the peer URL).
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new Server(dataDir, await freePort(), await freePort(), opts.readyTimeoutMs ?? 20_000);
    try {
      await server.start();
      return server;
    } catch (e) {
      lastError = e;
      await server.kill();
      rmSync(join(dataDir, 'member'), { recursive: true, force: true });
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
  throw lastError;
}

class Server implements EtcdServer {
  readonly endpoint: string;
  /** Unique, so a health check can tell this etcd from another one that took its port. */
  private readonly name = `graylane-test-${randomBytes(4).toString('hex')}`;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = '';

  constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly readyTimeoutMs: number,
  ) {
    this.endpoint = `http://127.0.0.1:${clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error(`etcd is already running (pid ${this.child.pid})`);
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(
      'etcd',
      [
        '--name', this.name,
        '--data-dir', this.dataDir,
        '--listen-client-urls', this.endpoint,
        '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `${this.name}=${peer}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    running.add(child);
    this.stderr = '';
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
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new Error(`cannot run etcd (is etcd-server installed?): ${e.message}`)));
    });
    await spawned;
    await this.waitHealthy(child);
  }

  private async waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${this.stderr}`);
      }
      try {
        const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') {
          const members = await fetch(`${this.endpoint}/v3/cluster/member/list`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
          const list = (await members.json()) as { members?: { name?: string }[] };
          if (list.members?.some((m) => m.name === this.name)) return;
          throw new Error(`another etcd answers on ${this.endpoint} (not ${this.name}): its port was taken`);
        }
      } catch (e) {
        if (e instanceof Error && e.message.startsWith('another etcd')) throw e;
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd not healthy within ${this.readyTimeoutMs} ms:\n${this.stderr}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGCONT'); // a frozen process cannot handle SIGTERM
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async freeze(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('etcd is not running');
    this.child!.kill('SIGSTOP');
    const deadline = Date.now() + 5000;
    while (!allThreadsStopped(pid)) {
      if (Date.now() > deadline) throw new Error(`etcd (pid ${pid}) did not stop within 5 s of SIGSTOP`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Linux: every thread of `pid` is in state T (stopped), read from /proc. */
function allThreadsStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // the state follows the parenthesized command name, which may itself contain spaces
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  });
}

/** A TCP relay in front of a server, whose connections a test can cut. */
export interface TcpProxy {
  /** `http://127.0.0.1:PORT` of the proxy. */
  readonly endpoint: string;
  /** Destroys every open connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Connections relayed so far (to see that a client reconnected). */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * Relays 127.0.0.1:(free port) to `target` (`http://host:port`). While cut, new connections are
 * accepted and destroyed at once, so a client sees resets, as when a network path breaks.
 */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const sockets = new Set<net.Socket>();
  let isCut = false;
  let accepted = 0;
  const server = net.createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = net.connect(Number(url.port), url.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    cut() {
      isCut = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      isCut = false;
    },
    close() {
      isCut = true;
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
