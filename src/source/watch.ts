/**
 * Watching files the way Kubernetes and editors replace them: the DIRECTORY of each file is watched,
 * not the file. Editors save by writing a temporary file and renaming it over the old one, and
 * Kubernetes ConfigMaps and Secrets swap a `..data` symlink; either replaces the inode a file watch
 * would be attached to. A file that is a symlink into another directory (a Secret's `tls.crt` ->
 * `..data/tls.crt` -> `..2026_12_05/tls.crt`) also has that directory watched, so a change made in
 * place at the target is seen too; the set is looked at again after every check, as a swap moves it.
 *
 * Events come in bursts (one save is several), so `check` runs once after `debounceMs` of quiet,
 * never twice at once (an event during a check runs one more check after it), and once at start.
 * Deciding whether anything changed (content hashes) is `check`'s business.
 */
import { watch, type FSWatcher } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface DirectoryWatch {
  stop(): void;
}

/**
 * @param files absolute paths
 * @param check reads the files and acts; what it throws goes to onError
 * @param onError also told of a directory watch that fails
 */
export function watchDirectoriesOf(
  files: readonly string[],
  check: () => Promise<void>,
  onError: (err: Error) => void,
  debounceMs: number,
): DirectoryWatch {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let stopped = false;

  const onEvent = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void run(), debounceMs);
  };

  /** Watches the directory of every file and of every symlink's target (which a swap may have moved). */
  const syncWatchers = async (): Promise<void> => {
    const dirs = new Set(files.map((f) => dirname(f)));
    for (const f of files) {
      const real = await realpath(f).catch(() => null);
      if (real !== null) dirs.add(dirname(real));
    }
    if (stopped) return;
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, onEvent);
        w.on('error', (err) => {
          if (!stopped) onError(err);
        });
        watchers.set(dir, w);
      } catch (err) {
        // A directory that does not exist (yet): the check reports the missing file itself.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onError(err as Error);
      }
    }
  };

  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await check();
    } catch (err) {
      if (!stopped) onError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      if (!stopped) await syncWatchers().catch((err: unknown) => onError(err as Error));
      running = false;
      if (again && !stopped) {
        again = false;
        void run();
      }
    }
  };

  // Watch first, then check once: a change made between the caller's load and this watch has no
  // event of its own.
  void syncWatchers().then(() => {
    if (!stopped) void run();
  });

  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
