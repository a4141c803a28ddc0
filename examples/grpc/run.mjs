// Runs the gRPC example end to end and prints what happens:
//
//   npm run build && npm run example:grpc
//
// Makes a certificate authority and a certificate for localhost with openssl, in a temp dir; starts
// the greeter's two versions (stable on 127.0.0.1:18291, gray on :18292, h2c), then `graylane serve`
// on graylane.yaml in that temp dir (gRPC over TLS and HTTP/2 on 127.0.0.1:18281), then the client,
// which trusts that CA, calls as a gray user and as a stable user and prints the version that
// answered each call. Everything is stopped and removed at the end. Exit 0 when every call reached
// the version its user belongs to.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '../../dist/src/cli/main.js');
if (!existsSync(cli)) {
  console.error('build first: npm run build');
  process.exit(1);
}

/** A CA and a certificate for localhost it signs (P-256, one day), in `dir`; returns the CA's file. */
function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-subj', '/CN=graylane example CA', '-days', '1', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', '-new', ...ec, '-subj', '/CN=localhost', '-keyout', 'graylane.key', '-out', 'graylane.csr');
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n');
  openssl('x509', '-req', '-in', 'graylane.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'leaf.ext', '-out', 'graylane.crt');
  return join(dir, 'ca.crt');
}

const children = [];
/** Starts `args` in `cwd`, resolves when a line of its `stream` matches `ready`. */
function start(name, args, env, stream, ready, cwd = here) {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
const dir = mkdtempSync(join(tmpdir(), 'graylane-grpc-example-'));
try {
  const ca = makeCertificates(dir);
  await start('greeter stable', ['greeter.mjs'], { VERSION: 'stable', PORT: '18291' }, 'stdout', /^ready/);
  await start('greeter gray', ['greeter.mjs'], { VERSION: 'gray', PORT: '18292' }, 'stdout', /^ready/);
  // In the temp dir: graylane.yaml names the certificate files relative to where graylane runs.
  await start('graylane serve', [cli, 'serve', '-c', join(here, 'graylane.yaml'), '--no-access-log'], {}, 'stderr', /gateway listening/, dir);
  console.log('$ node client.mjs 127.0.0.1:18281 <temp>/ca.crt     # through graylane over TLS + HTTP/2; x-user-id 1001 is a tester');
  const client = spawn(process.execPath, ['client.mjs', '127.0.0.1:18281', ca], { cwd: here, stdio: 'inherit' });
  code = await new Promise((resolve) => client.once('exit', (c) => resolve(c ?? 1)));
} catch (err) {
  console.error(err.message);
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
