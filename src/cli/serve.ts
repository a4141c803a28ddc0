import pino from 'pino';
import { ConfigError, loadSpecFile } from '../spec/index.js';
import { compile } from '../routing/index.js';
import { startGateway, watchConfig } from '../gateway/index.js';
import { parseListen } from './listen.js';

interface ServeOptions {
  config: string;
  listen?: string;
  accessLog: boolean;
}

/**
 * `graylane serve`: load, compile, listen; watch the file and swap snapshots on valid changes;
 * drain on SIGTERM/SIGINT. A config that fails to load at start is fatal (nothing to serve yet);
 * one that fails on reload is logged and the old snapshot keeps serving.
 */
export async function serveCommand(opts: ServeOptions): Promise<void> {
  // Operational log on stderr; the access log (one JSON line per request) goes to stdout.
  const log = pino({ name: 'graylane' }, pino.destination({ fd: 2, sync: true }));
  let spec;
  try {
    spec = await loadSpecFile(opts.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const { host, port } = parseListen(opts.listen ?? spec.listen);
  const gateway = await startGateway({
    snapshot: compile(spec),
    host,
    port,
    logger: log,
    accessLog: opts.accessLog && spec.accessLog,
  });
  log.info({ listen: `${gateway.address.host}:${gateway.address.port}`, config: opts.config, id: gateway.snapshot().id }, 'gateway listening');

  const stopWatching = watchConfig(
    opts.config,
    (next) => {
      const snapshot = compile(next);
      gateway.swap(snapshot);
      log.info({ id: snapshot.id, config: opts.config }, 'config reloaded');
    },
    (err) => log.error({ config: opts.config, error: err.message }, 'config rejected; still serving the previous one'),
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainMs: gateway.snapshot().spec.drainMs }, 'draining');
    stopWatching();
    gateway.close({ drainMs: gateway.snapshot().spec.drainMs }).then(
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
