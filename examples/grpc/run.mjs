// Runs the gRPC example end to end and prints what happens:
//
//   npm run build && npm run example:grpc
//
// Starts the greeter's two versions (stable on 127.0.0.1:18291, gray on :18292), then
// `graylane serve` on graylane.yaml (gRPC over h2c on 127.0.0.1:18281), then the client, which calls
// as a gray user and as a stable user and prints the version that answered each call. Everything is
// stopped at the end. Exit 0 when every call reached the version its user belongs to.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '../../dist/src/cli/main.js');
if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(1);
}

const children = [];
/** Starts `args`, resolves when a line of its `stream` matches `ready`. */
function start(name, args, env, stream, ready) {
  const child = spawn(process.execPath, args, { cwd: here, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const output = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 15 s:\n${output.join('\n')}`)), 15_000);
    for (const s of [child.stdout, child.stderr]) {
      createInterface({ input: s }).on('line', (line) => {
        output.push(line);
        if (s === child[stream] && ready.test(line)) {
          clearTimeout(timer);
          resolve(child);
        }
      });
    }
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${output.join('\n')}`)));
  });
}

let code = 1;
try {
  await start('greeter stable', ['greeter.mjs'], { VERSION: 'stable', PORT: '18291' }, 'stdout', /^ready/);
  await start('greeter gray', ['greeter.mjs'], { VERSION: 'gray', PORT: '18292' }, 'stdout', /^ready/);
  await start('graylane serve', [cli, 'serve', '-c', 'graylane.yaml', '--no-access-log'], {}, 'stderr', /gateway listening/);
  console.log('$ node client.mjs 127.0.0.1:18281     # through graylane; x-user-id 1001 is a tester');
  const client = spawn(process.execPath, ['client.mjs', '127.0.0.1:18281'], { cwd: here, stdio: 'inherit' });
  code = await new Promise((resolve) => client.once('exit', (c) => resolve(c ?? 1)));
} catch (err) {
  console.error(err.message);
} finally {
  for (const c of children) c.kill('SIGTERM');
}
process.exit(code);
