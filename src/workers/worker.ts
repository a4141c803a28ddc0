/**
 * One data-plane worker (forked by the primary, src/workers/pool.ts): the gateway's listeners (main,
 * mesh, decide), fed by the primary over the IPC channel.
 *
 * - `init`: compile the spec and status, start the gateway (and the decision listener) on the
 *   addresses given; node:cluster shares the listening sockets between workers. Then `ready`.
 * - `apply`: compile (the spec is sent only when it changed) and swap: one reference assignment,
 *   as in one process. A spec this worker cannot compile changes nothing here and is reported.
 * - Counters: every publishMs, when anything changed, the cumulative totals go to the primary in
 *   one message. The per-request path is the one-process path: TrafficRecorder, no IPC.
 * - `drain` (the primary stops): drain like a one-process gateway, then exit.
 * - The IPC channel closing unasked (the primary died, even by kill -9): node:cluster exits the
 *   worker at once (its own 'disconnect' handler in every worker), cutting what it had in flight.
 *   No worker outlives its primary; test/workers/workers.test.ts holds that to account.
 */
import cluster from 'node:cluster';
import v8 from 'node:v8';
import pino, { type Logger } from 'pino';
import { logDestination } from '../log/format.js';
import { REPORT_TOKEN_ENV, startDecide, type DecideListener } from '../decide/index.js';
import { startGateway, type Gateway } from '../gateway/index.js';
import { knownLanes } from '../metrics/lanes.js';
import { compile } from '../routing/index.js';
import type { Snapshot, Status } from '../routing/types.js';
import type { Spec } from '../spec/index.js';
import { startTracing } from '../tracing/index.js';
import { TrafficRecorder } from '../traffic/index.js';
import type { ApplyMessage, CertificatesMessage, DrainMessage, FromWorker, InitMessage, ToWorker } from './protocol.js';
import { WORKER_SLOT_ENV } from './protocol.js';
import { countersBatch } from './traffic.js';

/** The opt-in response header naming the worker that served (`debug.workerHeader`). */
export const WORKER_HEADER = 'x-graylane-worker';

/** Batches are sent at least this often even when nothing changed: the primary sees the worker alive. */
const HEARTBEAT_MS = 2000;

function send(message: FromWorker): void {
  // The channel is gone when the primary died; node:cluster then exits the worker itself.
  if (process.connected) process.send!(message);
}

/** Runs this process as a worker; resolves once it serves (or exits the process on failure). */
export async function runWorker(): Promise<void> {
  if (!cluster.isWorker || process.send === undefined) throw new Error('runWorker: not a cluster worker (started by graylane serve --workers)');
  const slot = Number(process.env[WORKER_SLOT_ENV]);
  // Ctrl-C reaches every process of the terminal's group, and systemd or `timeout` signal the whole
  // group or cgroup: the primary drains its workers itself. A worker that stopped on its own
  // signal would race the primary, which restarts a worker that exits unasked.
  // So SIGINT and SIGTERM are ignored here: stop the primary, or kill -9 a worker to replace it.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  // One listener for the worker's life: applies that arrive while the gateway starts wait, in order.
  const early: (ApplyMessage | CertificatesMessage)[] = [];
  let onApply: ((m: ApplyMessage | CertificatesMessage) => void) | null = null;
  let onDrain: ((m: DrainMessage) => void) | null = null;
  let initialised: (m: InitMessage) => void = () => {};
  const init = new Promise<InitMessage>((resolve) => (initialised = resolve));
  process.on('message', (m: ToWorker) => {
    if (m.type === 'init') initialised(m);
    else if (m.type === 'apply' || m.type === 'certificates') {
      if (onApply === null) early.push(m);
      else onApply(m);
    } else if (m.type === 'drain') {
      if (onDrain === null) process.exit(0); // not serving yet: nothing to drain
      else onDrain(m);
    }
  });
  send({ type: 'hello' });
  const start = await init;
  const log = pino({ name: 'graylane', base: { pid: process.pid, worker: slot } }, logDestination(2, start.logPretty ? 'pretty' : 'json'));
  try {
    const worker = await serve(start, log);
    onApply = (m) => (m.type === 'apply' ? worker.apply(m) : worker.certificates(m));
    onDrain = (m) => void worker.stop(m.drainMs, 'primary stopping');
    for (const m of early.splice(0)) onApply(m);
  } catch (err) {
    send({ type: 'failed', message: (err as Error).message });
    log.error({ err }, 'worker could not start');
    process.exitCode = 1;
    process.disconnect();
  }
}

interface Serving {
  apply(m: ApplyMessage): void;
  certificates(m: CertificatesMessage): void;
  stop(drainMs: number, why: string): Promise<void>;
}

async function serve(init: InitMessage, log: Logger): Promise<Serving> {
  let spec = v8.deserialize(init.apply.spec!) as Spec;
  let seq = init.apply.seq;
  const first = compile(spec, init.apply.status);
  let gateway: Gateway | undefined;
  const traffic = new TrafficRecorder({ knownLanes: () => knownLanes(gateway!.snapshot()) });
  // Each worker exports the spans of the requests it serves, as one process would.
  const tracing = spec.tracing === undefined ? null : await startTracing(spec.tracing, { logger: log, attributes: { 'graylane.worker': init.slot } });
  gateway = await startGateway({
    snapshot: first,
    listeners: init.listeners,
    logger: log,
    accessLog: init.accessLog,
    ...(init.accessPretty ? { accessLogDestination: logDestination(1, 'pretty') } : {}),
    ...(init.mesh !== null ? { mesh: init.mesh } : {}),
    observer: traffic,
    ...(tracing !== null ? { tracer: tracing.tracer } : {}),
    ...(init.workerHeader ? { debugHeaders: [WORKER_HEADER, String(init.slot)] } : {}),
  });
  const gw = gateway;
  let decide: DecideListener | null = null;
  if (init.decide !== null && spec.decide !== undefined) {
    try {
      // Outcomes reported (syslog, POST /report) are counted here and reach the primary in this
      // worker's batches, with the listeners' own counts: node:cluster shares the UDP socket and the
      // report listener among the workers, so each datagram or report reaches exactly one of them.
      decide = await startDecide({ ...init.decide, snapshot: () => gw.snapshot(), settings: spec.decide, logger: log, observer: traffic, reportToken: process.env[REPORT_TOKEN_ENV] });
    } catch (err) {
      await gw.close({ drainMs: 0 });
      throw err;
    }
  }

  const apply = (m: ApplyMessage): void => {
    if (m.seq <= seq) return;
    seq = m.seq;
    const started = performance.now();
    let snapshot: Snapshot;
    let next = spec;
    try {
      if (m.spec !== undefined) next = v8.deserialize(m.spec) as Spec;
      snapshot = compile(next, m.status as Status);
    } catch (err) {
      // The primary compiled the same input: this is a bug, not a bad config. Keep serving.
      log.error({ err, id: m.id }, 'worker could not compile what the primary accepted; still serving the previous snapshot');
      send({ type: 'applied', seq: m.seq, id: gw.snapshot().id, compileMs: performance.now() - started, error: (err as Error).message });
      return;
    }
    spec = next;
    gw.swap(snapshot);
    if (snapshot.id !== m.id) log.warn({ id: snapshot.id, primary: m.id }, 'worker compiled a snapshot id other than the primary');
    send({ type: 'applied', seq: m.seq, id: snapshot.id, compileMs: performance.now() - started });
  };

  // The primary read and checked them; a context OpenSSL still refuses leaves the old ones serving.
  const certificates = (m: CertificatesMessage): void => {
    try {
      gw.setCertificates(m.listener, m.tls);
      log.info({ listener: m.listener, fingerprints: m.tls.certificates.map((c) => c.fingerprint) }, 'certificates reloaded');
    } catch (err) {
      log.error({ err, listener: m.listener }, 'certificates refused; still serving the previous ones');
    }
  };

  // Counters to the primary: cumulative, when anything changed, and at least every HEARTBEAT_MS.
  const gatewayId = `worker-${init.slot}-${process.pid}`;
  let sentSignature = '';
  let sentAt = 0;
  const publish = (force: boolean): void => {
    const health = gw.health.entries();
    const m = gw.mirror;
    const outcomes = decide?.outcomes() ?? [];
    const signature = `${traffic.recorded} ${gw.inFlight()} ${m.sent} ${m.dropped} ${m.failed} ${health.map((e) => `${e.origin}:${e.failures}:${e.ejectedUntil}`).join(',')} ${JSON.stringify(outcomes)}`;
    const now = Date.now();
    if (!force && signature === sentSignature && now - sentAt < HEARTBEAT_MS) return;
    sentSignature = signature;
    sentAt = now;
    send(countersBatch(traffic, gatewayId, { mirror: m, inFlight: gw.inFlight(), health, outcomes }));
  };
  const timer = setInterval(() => publish(false), init.publishMs);
  timer.unref();

  let stopping: Promise<void> | null = null;
  const stop = (drainMs: number, why: string): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(timer);
      log.info({ drainMs, why }, 'worker draining');
      // Whatever hangs in the drain, the worker goes.
      const deadline = setTimeout(() => process.exit(0), drainMs + 2000);
      await decide?.close();
      await gw.close({ drainMs });
      await tracing?.shutdown();
      publish(true);
      clearTimeout(deadline);
      // Exit once the last batch is written to the channel (or at once when it is gone).
      if (process.connected) process.disconnect();
      setImmediate(() => process.exit(0));
    })();
    return stopping;
  };


  send({ type: 'ready', listeners: [...gw.listeners], mesh: gw.meshAddress, decide: decide?.address ?? null });
  publish(true);
  return { apply, certificates, stop };
}
