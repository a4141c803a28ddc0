#!/usr/bin/env node
/**
 * `graylane` command line. Each command is a thin shell over the library: load + validate a spec,
 * compile it, and either serve it, explain a request against it, or run the demo; `rollout ...`
 * talks to a running server's admin API.
 */
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { validateCommand } from './validate.js';
import { explainCommand } from './explain.js';
import { registerRolloutCommands } from './rollout.js';
import { registerReleaseCommands } from './release.js';
import { importCommand } from './import.js';
import { EXPORT_FORMATS, exportCommand } from './export.js';
import { positiveInt, topCommand } from './top.js';

const program = new Command('graylane')
  .description('gray-release gateway: mark requests into lanes and dispatch them to service versions')
  .version(process.env.npm_package_version ?? '0.1.0')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the gateway, the rollout controller and the admin API on a config file (reloaded when it changes) or on a spec in etcd')
  .option('-c, --config <file>', 'config file (YAML); one process, state in SQLite')
  .option('--store <url>', 'clustered mode: etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (env GRAYLANE_STORE); the spec is what `graylane apply` wrote')
  .option('--prefix <path>', 'clustered mode: the etcd key prefix (default /graylane)')
  .option('--cache-dir <dir>', 'clustered mode: where the last good spec and rollout statuses are cached for starts while etcd is away', '.graylane')
  .addOption(new Option('--no-controller', 'clustered mode: route only, never drive rollouts (no election)'))
  .option('--name <name>', 'clustered mode: this process in the election and the counters (default HOSTNAME-PID)')
  .option('--listen <addr>', 'override `listen` from the config (host:port)')
  .option('--admin-listen <addr>', 'override `admin.listen` from the config (host:port)')
  .option('--admin-token-file <file>', 'file holding the admin API bearer token (default: env GRAYLANE_ADMIN_TOKEN)')
  .option('--state <file>', 'override `state.path` from the config (the SQLite state file)')
  .option('--workers <n|auto>', 'data-plane worker processes: a number, or auto (one per core); overrides `workers` from the config (default 1: one process)', workersArg)
  .addOption(new Option('--no-access-log', 'do not write the access log'))
  .addOption(new Option('--log-format <format>', 'logs as JSON lines or readable lines; auto: readable where the stream (stderr, stdout) is a terminal').choices(['auto', 'json', 'pretty']).default('auto'))
  // Loaded on use: the rest of the CLI (rollout commands especially) should start fast.
  .action(async (opts) => (await import('./serve.js')).serveCommand(opts));

program
  .command('apply')
  .description('clustered mode: validate a spec (as `validate` does) and write it to etcd; nothing is written when it is invalid')
  .requiredOption('-f, --file <file>', 'config file (YAML)')
  .option('--store <url>', 'etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (env GRAYLANE_STORE)')
  .option('--prefix <path>', 'the etcd key prefix (default /graylane)')
  .option('--expect-revision <n>', 'apply only if the spec is still at this revision (0: none applied yet)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number from 0');
    return n;
  })
  .action(async (opts) => (await import('./cluster.js')).applyCommand(opts));

program
  .command('get')
  .description('clustered mode: read back what is stored in etcd')
  .argument('<what>', 'spec: the applied spec, byte for byte')
  .option('--store <url>', 'etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (env GRAYLANE_STORE)')
  .option('--prefix <path>', 'the etcd key prefix (default /graylane)')
  .action(async (what: string, opts) => {
    if (what !== 'spec') throw new Error(`graylane get ${what}: unknown; try graylane get spec`);
    await (await import('./cluster.js')).getSpecCommand(opts);
  });

program
  .command('validate')
  .description('check config files as serve would load them, TLS certificate files included (nothing is started); prints every problem with file:line:column and key, exits 1 on any')
  .argument('[files...]', 'config files')
  .option('-c, --config <file>', 'config file (repeatable; the same as naming it)', collect, [])
  .action(validateCommand);

program
  .command('explain')
  .description('dry run: which route, rule, lane, version and endpoint a request would get, and why')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .requiredOption('--url <url>', 'request URL, e.g. http://prod.example.com/new-checkout?uid=7')
  .option('-H, --header <header>', "request header 'name: value' (repeatable)", collect, [])
  .option('--json', 'print the explanation as JSON')
  .action(explainCommand);

program
  .command('demo')
  .description('start demo upstreams and graylane (gateway, admin API, dashboard) on examples/quickstart.yaml, send traffic, show the live view')
  .option('-c, --config <file>', 'config file', new URL('../../../examples/quickstart.yaml', import.meta.url).pathname)
  .option('--admin-listen <addr>', 'admin API and dashboard address (default: the config\'s admin.listen, else 127.0.0.1:9090)')
  .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', parseFloat)
  .option('--rate <n>', 'requests per second to send', parseFloat, 200)
  .action(async (opts) => (await import('./demo.js')).demoCommand(opts));

program
  .command('import')
  .description('convert ingress-nginx, Traefik, Gateway API (HTTPRoute, GRPCRoute), Flagger, OpenKruise or Argo Rollouts configs into graylane config')
  .argument('<paths...>', 'files or directories (multi-document YAML, TOML, JSON)')
  .addOption(new Option('--from <system>', 'only this source system').choices(['auto', 'ingress-nginx', 'traefik', 'gateway-api', 'flagger', 'kruise', 'argo']).default('auto'))
  .option('--endpoints <name=url>', 'endpoint for a Kubernetes Service (NAME or NAMESPACE/NAME), repeatable', collect, [])
  .option('-o, --output <file>', 'write here instead of stdout')
  .option('-R, --recursive', 'read subdirectories of directories')
  .option('--check', 'report what would be produced and the warnings, write nothing')
  .action(importCommand);

program
  .command('export')
  .description('write the config another system needs for this graylane config, warning for each rule it cannot express (nginx: upstreams, auth_request to the decision listener, outcome reporting; gateway-api: HTTPRoutes)')
  .addArgument(new Argument('<format>', 'target format').choices(EXPORT_FORMATS))
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .option('-o, --output <file>', 'write here instead of stdout')
  .option('--listen <addr>', 'nginx: the listen of the servers written, e.g. "80" or "0.0.0.0:80 reuseport" (default 80)')
  .option('--cache-dir <dir>', 'nginx: proxy_cache_path of the decision cache (default /var/cache/nginx/graylane)')
  .option('--lua', 'nginx: the Lua tier (needs libnginx-mod-http-lua): decisions cached in nginx without a subrequest, outcomes counted in nginx and posted to decide.report.http once a second')
  .option('--report-token-file <file>', 'nginx --lua: a file holding GRAYLANE_REPORT_TOKEN, read by nginx when it loads the config')
  .option('--namespace <ns>', 'gateway-api: metadata.namespace of the HTTPRoutes')
  .option('--gateway <name>', 'gateway-api: the Gateway the HTTPRoutes attach to (parentRefs)', 'gateway')
  .action(exportCommand);

program
  .command('top')
  .description("live per-version rates, errors and p99 of each service, and the rollouts' steps, from a running server")
  .option('--admin <url>', 'admin API address, http://HOST:PORT or HOST:PORT (env GRAYLANE_ADMIN, default http://127.0.0.1:9090)')
  .option('--interval <ms>', 'refresh every this many milliseconds', positiveInt, 1000)
  .option('-n, --iterations <n>', 'stop after n refreshes (default: until Ctrl-C)', positiveInt)
  .action(topCommand);

registerRolloutCommands(program);
registerReleaseCommands(program);

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

program.parseAsync().catch((err: unknown) => {
  console.error(`graylane: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

/** `--workers`: `auto` or a whole number from 1 to 1024. */
function workersArg(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 1024) throw new InvalidArgumentError('expected a whole number from 1 to 1024, or auto');
  return n;
}
