/** Shared by the clustered-mode tests: one real etcd per test file, fresh prefixes, bounded waits. */
import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { connectEtcd, type EtcdConnection } from '../../src/store/etcd-connection.js';
import { startEtcd, type EtcdServer } from '../support/etcd.js';

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
