/**
 * One process: the spec from a watched file, state in a SQLite file, registrations in memory, and
 * this process's controller drives every rollout. The default of `graylane serve -c FILE`.
 */
import { resolve } from 'node:path';
import { openFileSource } from '../source/file.js';
import { LocalInstances } from '../registry/index.js';
import type { RolloutController } from '../rollout/controller.js';
import type { TrafficCounts } from '../traffic/index.js';
import { DEFAULT_STATE_PATH } from '../spec/sections/rollouts.js';
import { openSqliteStore } from '../store/index.js';
import type { Backend, SpecHandlers, StoreHealth } from './mode.js';

export interface FileBackendOptions {
  configFile: string;
  /** Overrides the config's `state.path`. */
  statePath?: string;
  /** Relative state paths are resolved against it; default process.cwd(). */
  cwd?: string;
  /** What the gateway counts: builtin analysis reads its windows. */
  traffic: TrafficCounts;
  /** Registered endpoints changed: recompile. */
  refresh(): void;
}

/** Loads the config (a ConfigError is thrown as is) and opens the SQLite state file. */
export async function openFileBackend(opts: FileBackendOptions): Promise<Backend> {
  const source = await openFileSource(opts.configFile);
  const spec = source.spec;
  const statePath = resolve(opts.cwd ?? process.cwd(), opts.statePath ?? spec.state?.path ?? DEFAULT_STATE_PATH);
  const store = openSqliteStore(statePath);
  const instances = new LocalInstances({ services: Object.keys(spec.services), onChange: () => opts.refresh() });
  const health: StoreHealth = { kind: 'sqlite', location: statePath, up: true, leading: true };
  return {
    spec,
    source: opts.configFile,
    store,
    instances,
    metrics: opts.traffic,
    start(controller: RolloutController, handlers: SpecHandlers) {
      controller.start();
      source.follow(handlers);
    },
    health: () => ({ ...health }),
    async stop() {
      await source.stop();
    },
    async close() {
      instances.close();
      await store.close();
    },
  };
}
