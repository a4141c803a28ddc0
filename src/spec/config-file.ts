/**
 * Reading a config file without trusting what sits at its path. A FIFO there would block a plain
 * read forever (a hot reload then never finishes, and no later change is ever seen), /dev/zero
 * never ends, a directory or a socket is no config. So: open without blocking, look at what was
 * opened (after symlinks: a ConfigMap's `..data` swap is a symlink to a regular file, and fine), and
 * read at most MAX_CONFIG_BYTES.
 */
import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** The largest config graylane reads: far above any real one (a users list of 100,000 ids is ~1 MiB). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** A path that holds no readable config: not a regular file, or larger than the limit. */
export class ConfigFileError extends Error {
  readonly code = 'ERR_GRAYLANE_CONFIG_FILE';

  constructor(
    readonly path: string,
    /** What is wrong, without the path: `is a FIFO (named pipe), not a regular file`. */
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'ConfigFileError';
  }
}

/**
 * The text of the regular file at `path` (symlinks followed), read without ever blocking on what is
 * there. `what` names the file in messages (`a config`; `a certificate file` for TLS).
 *
 * @throws ConfigFileError when it is not a regular file or exceeds `maxBytes`; the fs error
 *   (ENOENT, EACCES...) when it cannot be opened
 * @example
 * const text = await readConfigText('/etc/graylane/graylane.yaml');
 */
export async function readConfigText(path: string, maxBytes = MAX_CONFIG_BYTES, what = 'a config'): Promise<string> {
  const handle = await openNonBlocking(path, what);
  try {
    const st = await handle.stat();
    const kind = fileKind(st);
    if (kind !== 'file') throw new ConfigFileError(path, `is ${kind}, not a regular file (${what} must be a regular file or a symlink to one)`);
    if (st.size > maxBytes) throw tooLarge(path, maxBytes, what);
    return await readAtMost(handle, path, maxBytes, what);
  } finally {
    await handle.close();
  }
}

/**
 * O_NONBLOCK because opening a FIFO for reading otherwise waits for a writer, for ever; on a regular
 * file it changes nothing. A Unix socket cannot be opened at all (ENXIO): say what it is.
 */
async function openNonBlocking(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    const kind = await stat(path).then(fileKind, () => 'something that cannot be opened');
    throw new ConfigFileError(path, `is ${kind}, not a regular file (${what} must be a regular file or a symlink to one)`);
  }
}

/** Reads to the end, refusing more than `maxBytes` (the size from stat may be stale: the file can grow). */
async function readAtMost(handle: FileHandle, path: string, maxBytes: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > maxBytes) throw tooLarge(path, maxBytes, what);
    chunks.push(chunk.subarray(0, bytesRead));
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function tooLarge(path: string, maxBytes: number, what: string): ConfigFileError {
  return new ConfigFileError(path, `is larger than ${formatBytes(maxBytes)}, the limit for ${what} file`);
}

/** What sits at a path, for messages: `file` for a regular file, else `a directory`, `a FIFO (named pipe)`... */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a file';
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}
