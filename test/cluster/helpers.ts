/** Shared by the clustered-mode tests: one real etcd per test file, fresh prefixes, bounded waits. */
import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { connectEtcd, type EtcdConnection } from '../../src/store/etcd-connection.js';
import { startEtcd, type EtcdServer } from '../../src/store/etcd-harness.js';

/**
 * The file's etcd, started on first use and removed after the file's tests (an after hook registered
 * at import time, so every file that imports this gets its own).
 */
export function etcdForFile(): () => Promise<EtcdServer> {
  let server: Promise<EtcdServer> | undefined;
  after(async () => {
    if (server) await (await server).cleanup();
  });
  return () => (server ??= startEtcd());
}

export const freshPrefix = (): string => `/graylane-test-${randomUUID().slice(0, 8)}`;

/** Connections opened by a test, closed together. */
export class Connections {
  private readonly all: EtcdConnection[] = [];
  open(endpoint: string, prefix: string, timeoutMs = 1000): EtcdConnection {
    const c = connectEtcd({ endpoints: [endpoint], prefix, timeoutMs });
    this.all.push(c);
    return c;
  }
  closeAll(): void {
    for (const c of this.all) c.close();
  }
}

/** Polls `cond` every 20 ms until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` until it resolves (every 100 ms, at most `timeoutMs`), e.g. a client's first request after etcd restarted. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
}
