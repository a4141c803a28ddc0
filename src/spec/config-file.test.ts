/**
 * What sits at a config path is not trusted: a FIFO, a directory, a device or a socket is refused at
 * once (never a read that does not end), a file over the limit is refused with the limit named, and a
 * symlink to a regular file (a ConfigMap's `..data` swap) is read as the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { ConfigError, loadSpecFile } from './index.js';
import { readConfigText } from './config-file.js';
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
