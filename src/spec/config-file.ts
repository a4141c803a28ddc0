/**
 * Reading a config file without trusting what sits at its path. A FIFO there would block a plain
 * read forever (a hot reload then never finishes, and no later change is ever seen), /dev/zero
 * never ends, a directory or a socket is no config. So: open without blocking, look at what was
 * opened (after symlinks: a ConfigMap's `..data` swap is a symlink to a regular file, and fine), and
 * read at most MAX_CONFIG_BYTES. The bytes must be UTF-8 (YAML 1.2 section 5.2 allows UTF-16 and
 * UTF-32 too; graylane reads only UTF-8 and says so instead of guessing).
 */
import { isUtf8 } from 'node:buffer';
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
    /** Where in the file, when the problem is at one place (1-based; a byte that is not UTF-8). */
    readonly at?: { line: number; column: number },
  ) {
    super(`${path}${at ? `:${at.line}:${at.column}` : ''}: ${reason}`);
    this.name = 'ConfigFileError';
  }
}

/**
 * The text of the regular file at `path` (symlinks followed), read without ever blocking on what is
 * there. `what` names the file in messages (`a config`; `a certificate file` for TLS).
 *
 * @param requireUtf8 refuse bytes that are not UTF-8 (the default); false where a later check names
 *   the problem better (a DER file given as a PEM certificate is "not a PEM certificate")
 * @throws ConfigFileError when it is not a regular file, exceeds `maxBytes` or is not UTF-8; the fs error
 *   (ENOENT, EACCES...) when it cannot be opened
 * @example
 * const text = await readConfigText('/etc/graylane/graylane.yaml');
 */
export async function readConfigText(
  path: string,
  maxBytes = MAX_CONFIG_BYTES,
  what = 'a config',
  { requireUtf8 = true }: { requireUtf8?: boolean } = {},
): Promise<string> {
  const handle = await openNonBlocking(path, what);
  try {
    const st = await handle.stat();
    const kind = fileKind(st);
    if (kind !== 'file') throw new ConfigFileError(path, `is ${kind}, not a regular file (${what} must be a regular file or a symlink to one)`);
    if (st.size > maxBytes) throw tooLarge(path, maxBytes, what);
    const bytes = await readAtMost(handle, path, maxBytes, what);
    return requireUtf8 ? utf8Text(bytes, path, what) : bytes.toString('utf8');
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
async function readAtMost(handle: FileHandle, path: string, maxBytes: number, what: string): Promise<Buffer> {
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
  return Buffer.concat(chunks, total);
}

/**
 * The bytes as text, when they are UTF-8. Buffer#toString would turn each stray byte into U+FFFD
 * without a word, so a file saved as Latin-1 would load with `café` in a header match or a users
 * list read as `caf\uFFFD`: a rule that silently never matches.
 */
function utf8Text(bytes: Buffer, path: string, what: string): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  if (startsWithUtf16Bom(bytes)) {
    throw new ConfigFileError(path, `is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8, the only encoding ${what} file may have`);
  }
  const offset = firstNonUtf8(bytes);
  const hex = bytes[offset]!.toString(16).toUpperCase().padStart(2, '0');
  throw new ConfigFileError(
    path,
    `is not UTF-8 text: byte 0x${hex} here starts no UTF-8 character (saved as Latin-1 or Windows-1252?): save it as UTF-8, the only encoding ${what} file may have`,
    positionOf(bytes, offset),
  );
}

function startsWithUtf16Bom(bytes: Buffer): boolean {
  return bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
}

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (RFC 3629 section 4:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or -1 when every byte does.
 */
export function firstNonUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const length = utf8SequenceAt(bytes, i);
    if (length === 0) return i;
    i += length;
  }
  return -1;
}

/** The length of the well-formed UTF-8 sequence starting at `i`, or 0 when there is none. */
function utf8SequenceAt(bytes: Uint8Array, i: number): number {
  const lead = bytes[i]!;
  if (lead < 0x80) return 1;
  const form = utf8Form(lead);
  if (form === undefined || i + form.length > bytes.length) return 0;
  const second = bytes[i + 1]!;
  if (second < form.low || second > form.high) return 0;
  for (let k = 2; k < form.length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return 0;
  return form.length;
}

/** RFC 3629's table: a lead byte's sequence length and the range its second byte must fall in. */
function utf8Form(lead: number): { length: number; low: number; high: number } | undefined {
  if (lead >= 0xc2 && lead <= 0xdf) return { length: 2, low: 0x80, high: 0xbf };
  if (lead === 0xe0) return { length: 3, low: 0xa0, high: 0xbf };
  if (lead === 0xed) return { length: 3, low: 0x80, high: 0x9f };
  if (lead >= 0xe1 && lead <= 0xef) return { length: 3, low: 0x80, high: 0xbf };
  if (lead === 0xf0) return { length: 4, low: 0x90, high: 0xbf };
  if (lead >= 0xf1 && lead <= 0xf3) return { length: 4, low: 0x80, high: 0xbf };
  if (lead === 0xf4) return { length: 4, low: 0x80, high: 0x8f };
  return undefined;
}

/** 1-based line and column (in characters) of `offset`, whose preceding bytes are valid UTF-8. */
function positionOf(bytes: Buffer, offset: number): { line: number; column: number } {
  const lineStart = offset === 0 ? 0 : bytes.lastIndexOf(0x0a, offset - 1) + 1;
  let line = 1;
  for (let i = 0; i < lineStart; i++) if (bytes[i] === 0x0a) line++;
  return { line, column: [...bytes.subarray(lineStart, offset).toString('utf8')].length + 1 };
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
