/**
 * Hot reload: watch a config file and hand each new valid Spec to the caller.
 *
 * The DIRECTORY is watched, not the file (src/source/watch.ts, shared with the TLS certificate
 * reload): editors save by writing a temporary file and renaming it over the old one, and
 * Kubernetes ConfigMaps swap a `..data` symlink, and either replaces the inode a file watch would
 * be attached to. Events are debounced, and the file's content hash is compared
 * with the last one seen, so the bursts of events a single save produces (and changes to other files
 * in the directory) cost one read and nothing more. The file is read as every config is
 * (readConfigText): whatever sits at the path (a FIFO, a directory, a device) is refused at once with
 * a clear error instead of a read that never ends and leaves the watcher busy for good.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { parseSpec, readConfigText, readSpecFile, unreadableConfig } from '../spec/index.js';
import type { Spec } from '../spec/types.js';
import type { SpecSource } from './types.js';
import { watchDirectoriesOf } from './watch.js';

/**
 * The spec of a config file, then every valid change to it (watchConfig). A ConfigError of the
 * file at start is thrown as is: a process with no valid spec does not start.
 */
export async function openFileSource(configFile: string): Promise<SpecSource> {
  const { spec, text } = await readSpecFile(configFile);
  let stopWatching = (): void => {};
  return {
    spec,
    location: configFile,
    follow(handlers) {
      // Compared with what was loaded, so a change made while the app started is not taken as loaded.
      stopWatching = watchConfig(configFile, handlers.onSpec, handlers.onReject, { loadedText: text });
    },
    async stop() {
      stopWatching();
    },
  };
}

export interface WatchOptions {
  /** Quiet time after the last event before the file is read; default 50 ms. */
  debounceMs?: number;
  /**
   * The text the caller loaded and serves: any other content is a change, also one written before
   * watching started (the file is checked once at start). Required: taking whatever the file holds
   * when watching starts as loaded would lose an edit made in between.
   */
  loadedText: string;
}

/**
 * Watches `file` and calls `onSpec` with every valid new content, `onError` with every invalid one
 * (a ConfigError whose message has `file:line:col: key: message` lines; `unreadable-file` when the
 * path holds no regular file or one over MAX_CONFIG_BYTES) or with an error thrown by `onSpec`
 * itself (e.g. compile). After an error the caller keeps serving what it had. What counts as
 * already loaded is `opts.loadedText`. Returns a function that stops watching.
 *
 * @example
 * const { spec, text } = await readSpecFile('graylane.yaml');
 * const stop = watchConfig('graylane.yaml', (next) => gateway.swap(compile(next)), (err) => log.error(err.message), { loadedText: text });
 */
export function watchConfig(
  file: string,
  onSpec: (spec: Spec) => void,
  onError: (err: Error) => void,
  opts: WatchOptions,
): () => void {
  const path = resolve(file);
  let lastHash = hashOf(opts.loadedText);
  /** The last unreadable-file refusal reported, '' after a successful read. */
  let lastProblem = '';
  let stopped = false;

  const check = async (): Promise<void> => {
    let text: string;
    try {
      text = await readConfigText(path);
    } catch (err) {
      // Between an unlink and a rename the file may briefly not exist; the rename's event follows.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // Whatever valid file comes next is applied, even one with the content last loaded.
      lastHash = '';
      const problem = unreadableConfig(file, err);
      // Said once: every later event in the directory (the state database's own writes among
      // them) would otherwise log the same refusal again, many times a second.
      if (problem.message === lastProblem) return;
      lastProblem = problem.message;
      throw problem;
    }
    lastProblem = '';
    const hash = hashOf(text);
    if (hash === lastHash || stopped) return;
    lastHash = hash;
    onSpec(parseSpec(text, file));
  };

  const watching = watchDirectoriesOf(
    [path],
    check,
    (err) => {
      if (!stopped) onError(err);
    },
    opts.debounceMs ?? 50,
  );
  return () => {
    stopped = true;
    watching.stop();
  };
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
