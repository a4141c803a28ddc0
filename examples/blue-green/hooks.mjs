// The example's deploy tooling, run by graylane's hooks (and once by hand for production):
//
//   node hooks.mjs deploy VERSION RELEASE   start an app.mjs instance registered as VERSION
//   node hooks.mjs upgrade RELEASE          production in place: a new stable instance, then the old stopped
//   node hooks.mjs teardown [VERSION]       stop VERSION's instance (default $GRAYLANE_TEARDOWN); none running is fine
//
// Instances run detached from the hook (they outlive it, and graylane), with their pid in
// $BG_RUN_DIR/VERSION.pid and their output in $BG_RUN_DIR/VERSION-RELEASE.log. Every run appends
// `HOOK COMMAND PHASE ATTEMPT` to $BG_RUN_DIR/hooks.log, which is how the test counts hook runs.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runDir = process.env.BG_RUN_DIR ?? '.';
const app = fileURLToPath(new URL('./app.mjs', import.meta.url));
const [command, ...args] = process.argv.slice(2);
const pidFile = (version) => join(runDir, `${version}.pid`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts an instance and resolves with its pid once it has registered (10 s at most). */
async function deploy(version, release) {
  const log = join(runDir, `${version}-${release}.log`);
  const out = openSync(log, 'w');
  const child = spawn(process.execPath, [app], {
    env: { ...process.env, VERSION: version, RELEASE: release, SERVICE: process.env.GRAYLANE_SERVICE ?? 'shop' },
    stdio: ['ignore', out, out],
    detached: true,
  });
  child.unref();
  appendFileSync(join(runDir, 'pids'), `${child.pid}\n`); // every instance ever started, for whoever cleans up the run dir
  for (let i = 0; i < 200; i++) {
    const text = readFileSync(log, 'utf8');
    if (/^ready /m.test(text)) {
      console.log(`${version} ${release}: pid ${child.pid}, ${text.trim()}`);
      return child.pid;
    }
    if (!alive(child.pid)) throw new Error(`${version} ${release} exited before it was ready:\n${text}`);
    await sleep(50);
  }
  process.kill(child.pid, 'SIGKILL');
  throw new Error(`${version} ${release} did not register within 10 s:\n${readFileSync(log, 'utf8')}`);
}

/** SIGTERM (the instance deregisters), SIGKILL after 5 s; resolves once it is gone. */
async function stop(version) {
  if (!existsSync(pidFile(version))) {
    console.log(`${version}: no instance running`);
    return;
  }
  const pid = Number(readFileSync(pidFile(version), 'utf8'));
  if (alive(pid)) process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  rmSync(pidFile(version), { force: true });
  console.log(`${version}: pid ${pid} stopped`);
}

appendFileSync(join(runDir, 'hooks.log'), `${process.env.GRAYLANE_HOOK ?? 'manual'} ${command} ${process.env.GRAYLANE_PHASE ?? '-'} ${process.env.GRAYLANE_ATTEMPT ?? '-'}\n`);
if (command === 'deploy') {
  const [version, release] = args;
  writeFileSync(pidFile(version), String(await deploy(version, release)));
} else if (command === 'upgrade') {
  // Zadig's "upgrade": production gets the new release in place. Start the new instance first, so
  // production always has one serving, then stop the old one.
  const old = existsSync(pidFile('stable')) ? readFileSync(pidFile('stable'), 'utf8') : null;
  const pid = await deploy('stable', args[0]);
  if (old !== null) {
    writeFileSync(pidFile('stable-old'), old);
    await stop('stable-old');
  }
  writeFileSync(pidFile('stable'), String(pid));
} else if (command === 'teardown') {
  // BG_TEARDOWN_DELAY_MS: a slow teardown, so a test can kill graylane while it runs.
  await sleep(Number(process.env.BG_TEARDOWN_DELAY_MS ?? 0));
  await stop(args[0] ?? process.env.GRAYLANE_TEARDOWN);
} else {
  console.error('usage: node hooks.mjs deploy VERSION RELEASE | upgrade RELEASE | teardown [VERSION]');
  process.exit(2);
}
