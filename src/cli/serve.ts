import pino from 'pino';
import { startApp } from '../app.js';
import { REPORT_TOKEN_ENV } from '../decide/index.js';
import { schedulingPolicy } from '../workers/index.js';
import { ConfigError, ConfigFileError, readConfigText } from '../spec/index.js';
import { hostForUrl } from './listen.js';
import { chooseLogFormat, logDestination, type LOG_FORMATS } from '../log/format.js';

interface ServeOptions {
  config?: string;
  store?: string;
  prefix?: string;
  cacheDir: string;
  controller: boolean;
  name?: string;
  listen?: string;
  adminListen?: string;
  adminTokenFile?: string;
  state?: string;
  accessLog: boolean;
  workers?: number | 'auto';
  logFormat: (typeof LOG_FORMATS)[number];
}

/**
 * `graylane serve`: the gateway, the rollout controller and the admin API in one process (src/app.ts),
 * or with `--workers N` the data plane in N worker processes (src/workers/);
 * the config file is watched and valid changes are applied; SIGTERM/SIGINT drain. With `--store
 * etcd://...` the spec comes from etcd instead (clustered mode, src/app/clustered.ts). A config that
 * fails to load at start is fatal (nothing to serve yet); one that fails on reload is logged and the
 * old one keeps serving.
 */
export async function serveCommand(opts: ServeOptions): Promise<void> {
  // Operational log on stderr; the access log (one line per request) goes to stdout. Each is JSON,
  // or readable lines with --log-format pretty (the default where that stream is a terminal).
  const log = pino({ name: 'graylane' }, logDestination(2, chooseLogFormat(opts.logFormat, process.stderr.isTTY === true)));
  const accessPretty = chooseLogFormat(opts.logFormat, process.stdout.isTTY === true) === 'pretty';
  const adminToken = await readToken(opts.adminTokenFile);
  const store = opts.store ?? (opts.config === undefined ? process.env.GRAYLANE_STORE : undefined);
  const noStore = store === undefined || store === '';
  if (noStore === (opts.config === undefined)) {
    console.error(
      noStore
        ? 'graylane serve: name what to serve: -c FILE (one process, e.g. graylane serve -c graylane.yaml) or --store etcd://HOST:PORT (clustered mode)'
        : 'graylane serve: give either -c FILE (one process) or --store etcd://HOST:PORT (clustered mode), not both',
    );
    process.exit(2);
  }
  let app;
  try {
    app = await startApp({
      ...(opts.config !== undefined
        ? { configFile: opts.config }
        : {
            cluster: {
              store: store!,
              cacheDir: opts.cacheDir,
              controller: opts.controller,
              ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
              ...(opts.name !== undefined ? { name: opts.name } : {}),
            },
          }),
      logger: log,
      listen: opts.listen,
      adminListen: opts.adminListen,
      adminToken,
      // POST /report's bearer token (decide.report.http); workers read it from the environment they inherit.
      ...(process.env[REPORT_TOKEN_ENV] ? { reportToken: process.env[REPORT_TOKEN_ENV] } : {}),
      statePath: opts.state,
      // `--no-access-log` turns it off; otherwise the config decides.
      accessLog: opts.accessLog ? undefined : false,
      ...(accessPretty ? { accessLogDestination: logDestination(1, 'pretty') } : {}),
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      workerLogs: { pretty: chooseLogFormat(opts.logFormat, process.stderr.isTTY === true) === 'pretty', accessPretty },
    });
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    // What the user must fix (the config, a certificate, the store) is said in one line, no stack.
    if (err instanceof ConfigError || code === 'STORE_UNAVAILABLE' || code === 'ERR_GRAYLANE_CERTIFICATE') {
      console.error((err as Error).message);
      process.exit(1);
    }
    throw err;
  }
  const { gateway, admin } = app;
  // One line per listener; a plain one says what it always said.
  for (const l of gateway.listeners.filter((x) => !x.mesh)) {
    const speaks = l.tls ? (l.http2 ? 'h2,http/1.1 over tls' : 'http/1.1 over tls') : l.h2c ? 'h2c' : '';
    log.info(
      { listen: `${hostForUrl(l.host)}:${l.port}`, source: app.backend.source, id: gateway.snapshot().id, ...(l.name !== 'listen' ? { listener: l.name } : {}), ...(speaks !== '' ? { speaks } : {}) },
      'gateway listening',
    );
  }
  if (app.workers !== null) log.info({ workers: app.workers.workers().map((w) => w.pid), scheduling: schedulingPolicy() }, 'data plane in worker processes');
  const mesh = gateway.meshAddress;
  if (mesh !== null) log.info({ listen: `${hostForUrl(mesh.host)}:${mesh.port}` }, 'mesh listening (trusts the lanes it is given: keep it private)');
  if (app.decide !== null) log.info({ listen: `${hostForUrl(app.decide.address.host)}:${app.decide.address.port}` }, 'decision listener listening');
  const reported = app.spec().decide?.report;
  if (app.decide !== null && reported !== undefined) {
    // With workers the listeners are theirs: the configured addresses are where they listen.
    const at = (l: { address: { host: string; port: number } } | null, configured: string | undefined) => (l !== null ? `${hostForUrl(l.address.host)}:${l.address.port}` : configured);
    log.info(
      { syslog: at(app.decide.report, reported.syslog), http: at(app.decide.reportHttp, reported.http), token: reported.http === undefined ? undefined : process.env[REPORT_TOKEN_ENV] ? 'required' : 'none: loopback peers only', sampleOneIn: reported.sampleOneIn },
      'outcome listeners listening',
    );
  }
  log.info(
    { admin: `http://${hostForUrl(admin.address.host)}:${admin.address.port}`, changes: adminToken === undefined ? 'disabled (no admin token)' : 'enabled' },
    'admin API listening',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const drainMs = app.spec().drainMs;
    log.info({ signal, drainMs }, 'draining');
    app.close({ drainMs }).then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** A token file is a line; anything larger is the wrong file. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/**
 * The admin token: from --admin-token-file (trimmed), read as a config is (a FIFO there is refused,
 * not waited on for ever), else GRAYLANE_ADMIN_TOKEN; never from the config. Every problem names
 * the flag and the file.
 */
async function readToken(file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readConfigText(file, MAX_TOKEN_FILE_BYTES, 'an admin token');
    } catch (err) {
      throw new Error(`--admin-token-file ${file}: ${tokenFileProblem(err)}`);
    }
    const token = text.trim();
    if (token === '') throw new Error(`--admin-token-file ${file}: the file is empty`);
    return token;
  }
  const env = process.env.GRAYLANE_ADMIN_TOKEN;
  return env === undefined || env === '' ? undefined : env;
}

function tokenFileProblem(err: unknown): string {
  if (err instanceof ConfigFileError) return err.reason;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  return `cannot be read (${(err as Error).message})`;
}
