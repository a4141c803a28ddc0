/**
 * What sits at a config path is not trusted: a FIFO, a directory, a device or a socket is refused at
 * once (never a read that does not end), a file over the limit is refused with the limit named, and a
 * symlink to a regular file (a ConfigMap's `..data` swap) is read as the file. Its bytes must be UTF-8:
 * the first one that is not is named with its line and column.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError, loadSpecFile } from './index.js';
import { firstNonUtf8, readConfigText } from './config-file.js';
import { tempDir } from '../../test/support/temp.js';

const GOOD = 'services: {}\nroutes: []\n';

/** A FIFO at `path`; after the test, a writer is opened on it so a reader stuck on it (the bug) is let go. */
function fifo(t: { after(fn: () => void): void }, path: string): string {
  execFileSync('mkfifo', [path]);
  t.after(() => {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: no reader is waiting on it, as it should be.
    }
  });
  return path;
}

/** loadSpecFile's one issue for `path`, or a failure naming what happened instead. */
async function unreadable(path: string): Promise<string> {
  const err = await loadSpecFile(path).then(
    () => assert.fail(`${path} was loaded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.issues.length, 1);
  assert.equal(err.issues[0]!.code, 'unreadable-file');
  assert.equal(err.issues[0]!.file, path);
  return err.message;
}

test('a FIFO at the config path is refused at once, not read until a writer comes', { timeout: 5000 }, async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const path = fifo(t, dir.file('graylane.yaml'));
  const started = Date.now();
  assert.equal(await unreadable(path), `${path}: cannot read config file: is a FIFO (named pipe), not a regular file (a config must be a regular file or a symlink to one)`);
  assert.ok(Date.now() - started < 1000);
});

test('a symlink to a FIFO is refused as the FIFO; a symlink to a regular file is read', { timeout: 5000 }, async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  fifo(t, dir.file('pipe'));
  symlinkSync(dir.file('pipe'), dir.file('to-pipe.yaml'));
  assert.match(await unreadable(dir.file('to-pipe.yaml')), /: cannot read config file: is a FIFO \(named pipe\), not a regular file/);

  // The ConfigMap layout: graylane.yaml -> ..data/graylane.yaml, ..data -> ..2026_12_05/
  mkdirSync(dir.file('..2026_12_05'));
  writeFileSync(join(dir.path, '..2026_12_05', 'graylane.yaml'), GOOD);
  symlinkSync('..2026_12_05', dir.file('..data'));
  symlinkSync(join('..data', 'graylane.yaml'), dir.file('graylane.yaml'));
  assert.deepEqual((await loadSpecFile(dir.file('graylane.yaml'))).routes, []);
});

test('a directory, /dev/zero and a Unix socket are refused, each named for what it is', { timeout: 5000 }, async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  assert.match(await unreadable(dir.path), /: cannot read config file: is a directory, not a regular file/);
  assert.match(await unreadable('/dev/zero'), /^\/dev\/zero: cannot read config file: is a character device, not a regular file/);

  const sock = dir.file('graylane.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(() => server.close());
  assert.match(await unreadable(sock), /: cannot read config file: is a socket, not a regular file/);
});

test('a file over the limit is refused with the limit named; one at the limit is read', async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const path = dir.file('big.yaml');
  writeFileSync(path, 'x'.repeat(4096));
  assert.equal((await readConfigText(path, 4096)).length, 4096);
  writeFileSync(path, 'x'.repeat(4097));
  await assert.rejects(readConfigText(path, 4096), { message: `${path}: is larger than 4 KiB, the limit for a config file` });
  // Above the chunk size too: the limit holds across reads.
  writeFileSync(path, 'x'.repeat(200_000));
  await assert.rejects(readConfigText(path, 100_000), { message: `${path}: is larger than 100000 bytes, the limit for a config file` });
  assert.equal((await readConfigText(path, 200_000)).length, 200_000);
  // A file whose size stat does not know (procfs says 0) is still cut at the limit while read.
  await assert.rejects(readConfigText('/proc/self/status', 64), { message: '/proc/self/status: is larger than 64 bytes, the limit for a config file' });
});

test('the default limit is 16 MiB: a 17 MiB config is refused by loadSpecFile', async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const path = dir.file('huge.yaml');
  writeFileSync(path, `${GOOD}# ${'x'.repeat(17 * 1024 * 1024)}\n`);
  assert.equal(await unreadable(path), `${path}: cannot read config file: is larger than 16 MiB, the limit for a config file`);
});

test('a config that is not UTF-8 is refused at the first stray byte, with its line and column, never loaded with U+FFFD in it', async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  // `café` saved as Latin-1: the header value would load as `caf\uFFFD`, a rule that never matches.
  const latin1 = dir.file('latin1.yaml');
  writeFileSync(latin1, Buffer.concat([Buffer.from('services: {}\nroutes: []\n# the caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
  const err = await loadSpecFile(latin1).then(() => assert.fail('a Latin-1 file was loaded'), (e: unknown) => e);
  assert.ok(err instanceof ConfigError, String(err));
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.column, i.code]),
    [[3, 10, 'unreadable-file']],
  );
  assert.equal(
    err.message,
    `${latin1}:3:10: cannot read config file: is not UTF-8 text: byte 0xE9 here starts no UTF-8 character (saved as Latin-1 or Windows-1252?): save it as UTF-8, the only encoding a config file may have`,
  );

  const utf16 = dir.file('utf16.yaml');
  writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(GOOD, 'utf16le')]));
  assert.equal(
    await unreadable(utf16),
    `${utf16}: cannot read config file: is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8, the only encoding a config file may have`,
  );

  // A stray byte first in the file is at 1:1; UTF-8 with a byte order mark is UTF-8, and read.
  writeFileSync(dir.file('first.yaml'), Buffer.concat([Buffer.from([0x80]), Buffer.from(GOOD)]));
  assert.match(await unreadable(dir.file('first.yaml')), /first\.yaml:1:1: cannot read config file: is not UTF-8 text: byte 0x80 /);
  writeFileSync(dir.file('bom.yaml'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`# café\n${GOOD}`)]));
  assert.deepEqual((await loadSpecFile(dir.file('bom.yaml'))).routes, []);
});

test('firstNonUtf8 finds a stray byte exactly where Node finds the text is not UTF-8, and only the bytes before it are UTF-8', () => {
  // Valid text with a few bytes overwritten (overlong forms, surrogates, cut sequences, > U+10FFFF), and plain random bytes.
  const mutated = fc
    .tuple(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }))
    .map(([text, edits]) => {
      const bytes = Buffer.from(text, 'utf8');
      for (const [at, byte] of edits) if (bytes.length > 0) bytes[at % bytes.length] = byte;
      return bytes;
    });
  fc.assert(
    fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b))), (bytes) => {
      const at = firstNonUtf8(bytes);
      assert.equal(at === -1, isUtf8(bytes), bytes.toString('hex'));
      if (at >= 0) assert.ok(isUtf8(bytes.subarray(0, at)), `the bytes before ${at} of ${bytes.toString('hex')} are UTF-8`);
    }),
    { numRuns: 3000 },
  );
  // RFC 3629's edges: overlong, surrogate, above U+10FFFF, truncated.
  for (const bad of ['c080', 'e08080', 'eda080', 'f4908080', 'f88080808080', 'e282']) assert.equal(firstNonUtf8(Buffer.from(`41${bad}`, 'hex')), 1, bad);
  for (const good of ['c280', 'e0a080', 'ed9fbf', 'f0908080', 'f48fbfbf', 'efbbbf']) assert.equal(firstNonUtf8(Buffer.from(good, 'hex')), -1, good);
});
