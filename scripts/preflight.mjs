#!/usr/bin/env node
// Before any test runs: are the programs the suite starts itself (etcd, chromium) on PATH?
// The list is .ci/debian-packages (shared with .ci/run, so the two cannot drift). What is missing is
// installed with apt-get when this process can (root, apt-get on PATH), saying so; otherwise it
// stops at once, one line per missing tool with the command that installs it, rather than let
// dozens of tests fail one by one.
// Usage: node scripts/preflight.mjs   (also run by scripts/test.mjs)
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const LIST = new URL('../.ci/debian-packages', import.meta.url).pathname;

/** The rows of .ci/debian-packages: { command, pkg, when, why }. */
export function readPackages(file = LIST) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [command, pkg, when, ...why] = line.trim().split(/\s+/);
      return { command, pkg, when, why: why.join(' ') };
    });
}

/** The executable `command` would run as, searched on `path` (a PATH value); null if none. An absolute path (a module file) is itself if it exists. */
export function findOnPath(command, path = process.env.PATH ?? '') {
  if (isAbsolute(command)) return existsSync(command) ? command : null;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const full = join(dir, command);
    try {
      accessSync(full, constants.X_OK);
      if (statSync(full).isFile()) return full;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Checks the `test` tools; installs what is missing when it can. Returns true when all are there.
 * `log` gets every line meant for the person running the tests.
 */
export function preflight({ path = process.env.PATH ?? '', uid = process.getuid?.() ?? -1, log = (line) => console.error(line) } = {}) {
  const tools = readPackages().filter((p) => p.when === 'test');
  let missing = tools.filter((t) => findOnPath(t.command, path) === null);
  if (missing.length === 0) {
    log(`preflight: ${tools.map((t) => `${t.command} ${findOnPath(t.command, path)}`).join(', ')}`);
    return true;
  }
  const apt = findOnPath('apt-get', path);
  if (uid === 0 && apt !== null) {
    const pkgs = missing.map((t) => t.pkg);
    log(`preflight: ${missing.map((t) => t.command).join(' and ')} not found; installing the Debian package(s) ${pkgs.join(' ')} with apt-get (this takes a few minutes once)`);
    const env = { ...process.env, PATH: path, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...pkgs]]) {
      log(`preflight: apt-get ${args.join(' ')}`);
      const r = spawnSync(apt, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
      if (r.status !== 0) {
        log(`preflight: apt-get ${args[0]} failed (exit ${r.status ?? r.signal}); nothing was run`);
        return false;
      }
    }
    missing = missing.filter((t) => findOnPath(t.command, path) === null);
    if (missing.length === 0) return preflight({ path, uid, log });
    for (const t of missing) log(`  ${t.command}: still not on PATH after installing ${t.pkg}`);
    return false;
  }
  const why = uid !== 0 ? 'not running as root' : 'no apt-get on PATH';
  log(`preflight: the tests need programs that are not installed, and this run cannot install them (${why}); no test was run:`);
  for (const t of missing) log(`  ${t.command}: not found on PATH (${t.why}); install it with: sudo apt-get install -y ${t.pkg}`);
  return false;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!preflight()) process.exit(1);
}
