/**
 * The `kindling` command. Errors are one line on stderr and a non-zero exit; `--json` gives output for
 * scripts, and errors as one JSON object on stderr.
 */
import { Command, CommanderError, Option } from 'commander';
import { KINDLING_VERSION } from '../platform.js';
import { CliError } from './cli-error.js';
import { ApiClient } from './client.js';
import { deploy } from './commands/deploy.js';
import { gc } from './commands/gc.js';
import {
  alias,
  invocation,
  logs,
  ls,
  rm,
  stats,
  tenantCreate,
  tenantList,
  versions,
} from './commands/inspect.js';
import { invoke } from './commands/invoke.js';
import { clusterDown, clusterUp, type ClusterUpFlags } from './commands/cluster.js';
import { POLICY_NAMES } from '../policy/catalog.js';
import { replay } from './commands/replay.js';
import { sim, simHelp } from './commands/sim.js';
import { up, type UpFlags } from './commands/up.js';
import { worker, type WorkerFlags } from './commands/worker.js';
import { resolveEndpoint } from './endpoint.js';
import { errorReport, formatErrorReport } from './error-report.js';

const program = new Command('kindling')
  .description('Kindling: a self-hosted serverless platform that explains every cold start')
  .version(KINDLING_VERSION)
  .option(
    '--url <url>',
    'platform address (default: KINDLING_URL, else the one `kindling up` recorded in the data directory)',
  )
  .option(
    '--data-dir <dir>',
    'data directory of a local `kindling up`, for its address and admin key (default: KINDLING_DATA or .kindling)',
  )
  .option('--json', 'machine-readable output (errors too, as {"error":{"code","message"}} on stderr)')
  // Usage errors are reported below like every other error: one line, or JSON with --json. Set before
  // the subcommands are added, which copy it.
  .configureOutput({ outputError: () => {} })
  .exitOverride();

const client = () => {
  const { url, dataDir } = program.opts<{ url?: string; dataDir?: string }>();
  return new ApiClient(resolveEndpoint({ ...(url ? { url } : {}), ...(dataDir ? { data: dataDir } : {}) }));
};
/** `up`'s data directory: `--data`, else the global `--data-dir`; both, differing, is a mistake. */
const upDataDir = (data: string | undefined): string | undefined => {
  const { dataDir } = program.opts<{ dataDir?: string }>();
  if (data !== undefined && dataDir !== undefined && data !== dataDir)
    throw new CliError(`--data ${data} and --data-dir ${dataDir} name different directories: pass one`);
  return data ?? dataDir;
};
const json = () => program.opts<{ json?: boolean }>().json === true;
/** A repeatable option's values; starts afresh after its `--no-…` form, which sets it to false. */
const collect = (value: string, previous: string[] | false = []) => [...(previous || []), value];

program
  .command('up')
  .description(
    'run the platform here (gateway, registry, scheduler and a worker in one process), with the examples deployed',
  )
  .option('-p, --port <port>', 'port to listen on (default: KINDLING_PORT or 8080)')
  .option(
    '--data <dir>',
    'data directory, locked while the platform runs (default: --data-dir, KINDLING_DATA or .kindling)',
  )
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option(
    '--advertise <url>',
    'the URL clients reach the platform at, written to DATA/endpoint.json (default: http://HOST:PORT)',
  )
  .option('--no-examples', 'do not deploy the example functions')
  .option(
    '--stem-cells <n>',
    'process-tier stem cells kept ready per memory size (default: KINDLING_STEM_CELLS or 1; 0 = off)',
  )
  .option(
    '--runtime-snapshot <mode>',
    'when a process-tier start restores the runtime snapshot: auto (where a trial on this machine found it faster; default), always or never (also KINDLING_RUNTIME_SNAPSHOT)',
  )
  .option(
    '--keep-alive-policy <name>',
    `keep-alive policy of functions that choose none: ${POLICY_NAMES.join(', ')} (default: fixed; also KINDLING_KEEP_ALIVE_POLICY)`,
  )
  .option(
    '--schedule-prewarm <duration>',
    "start an instance this long before each scheduled trigger's tick (default: KINDLING_SCHEDULE_PREWARM or 10s; 0 = off)",
  )
  .option(
    '--memory-mb <mb>',
    "memory budget for greedy-dual functions' instances, MiB (default: KINDLING_MEMORY_MB or half the machine's memory)",
  )
  .option('--cluster', 'run the control plane only; invocations run on `kindling worker` hosts that register')
  .option(
    '--distribution <strategy>',
    'cluster mode: how images reach hosts: tree (default), swarm or registry',
  )
  .option(
    '--lazy-loading',
    "cluster mode: start sandboxes once an image's startup working set is local, fetch the rest after",
  )
  // `kindling --data-dir DIR up` (or `up --data-dir DIR`) means the directory every other command
  // reads: without this it would be ignored and `up` would run on the default one.
  .action((opts: UpFlags) => up({ ...opts, data: upDataDir(opts.data) }));

const cluster = program
  .command('cluster')
  .description('a whole cluster on this machine: control plane and workers in network namespaces');
cluster
  .command('up')
  .description(
    'start a control plane and N workers, each host in its own network namespace with tc-limited links',
  )
  .option('--hosts <n>', 'number of worker hosts', '4')
  .option('--nic <rate>', "each worker's link rate each way", '100mbit')
  .option('--registry-nic <rate>', "the control plane's (registry's) link rate each way", '200mbit')
  .option(
    '--latency <ms>',
    'one-way delay at each end of each link (netem, or a delay line built with cc where the kernel has no netem)',
    '0ms',
  )
  .option(
    '--link-queue <queue>',
    'what waits for a link: fair (a queue per peer) or fifo (one queue)',
    'fair',
  )
  .option('--data <dir>', 'data directory of the cluster', '.kindling-cluster')
  .option('--port <port>', 'control plane port')
  .option('--distribution <strategy>', 'image distribution: registry, swarm or tree')
  .option('--loopback', 'all processes on 127.0.0.1, bandwidth limited in the transport (no root needed)')
  .action((opts: ClusterUpFlags) => clusterUp(opts));
cluster
  .command('down')
  .description('remove the namespaces and links a crashed `cluster up` left behind')
  .option('--data <dir>', 'data directory of the cluster', '.kindling-cluster')
  .action((opts: { data: string }) => clusterDown(opts));

program
  .command('worker')
  .description(
    'run one cluster host: register with a control plane (`kindling up --cluster`) and run its invocations',
  )
  .requiredOption('--control <url>', 'the control plane URL, e.g. http://10.0.0.1:8080')
  .option(
    '--registry <url>',
    "the registry's URL, when it is reached at another address than the control plane (default: --control)",
  )
  .option('--key <key>', 'an admin key of the control plane (default: KINDLING_KEY, else --key-file)')
  .option(
    '--key-file <file>',
    "a file holding the admin key, e.g. the control plane data directory's admin-key",
  )
  .option('--id <host-id>', "this host's id (default: the machine's host name)")
  .option('-p, --port <port>', 'port to listen on', '0')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--advertise <url>', 'URL the control plane reaches this worker at (default: http://HOST:PORT)')
  .option('--data <dir>', 'data directory of this host (default: .kindling-worker-ID)')
  .option('--memory-mb <mb>', "memory offered to instances, MiB (default: the machine's)")
  .option(
    '--runtime-snapshot <mode>',
    'when a process-tier start restores the runtime snapshot: auto (default), always or never',
  )
  .option(
    '--bandwidth <rate>',
    "limit image traffic each way, e.g. 100mbit (a loopback cluster's stand-in for a shaped link)",
  )
  .option(
    '--no-background-priority',
    "lazy loading: fetch an image's rest like its working set, not after other hosts' startup blocks (for comparison)",
  )
  .option(
    '--requester-turns',
    'ask the registry and peers to send this host its blocks one at a time, in order (for comparison)',
  )
  .action((opts: WorkerFlags) => worker(opts));

program
  .command('deploy <dir>')
  .description('bundle a function directory into an image, push it and create a new version')
  .option('-n, --name <name>', 'function name (default: "name" in kindling.json)')
  .option('--memory <mb>', 'memory limit in MiB')
  .option('--timeout <ms>', 'timeout in milliseconds')
  .option('--concurrency <n>', 'concurrent requests per instance')
  .option('--max-instances <n>', 'most instances at once')
  .option('--min-warm <n>', 'instances kept warm at all times')
  .option('--keep-alive <ms>', 'how long an idle instance stays warm')
  .option('--tier <tier>', 'sandbox tier: process (default), isolate or container')
  .option('--public', 'let anyone call its HTTP trigger without an API key, at /pub/<tenant>/<name>/')
  .option('--no-public', 'keep the HTTP trigger behind an API key, whatever kindling.json says')
  .option(
    '--schedule <cron>',
    'run it on a schedule, a cron expression in UTC such as "*/5 * * * *" (repeatable; replaces kindling.json\'s)',
    collect,
  )
  .option('--no-schedule', 'deploy without a schedule, whatever kindling.json says')
  .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
  .action((dir: string, opts) =>
    deploy(client(), dir, { ...opts, json: json(), dataDir: program.opts<{ dataDir?: string }>().dataDir }),
  );

program
  .command('invoke <name>')
  .description('invoke a function and show its result and cold-start breakdown')
  .option('-d, --data <json>', 'event as JSON (default: {})')
  .option('-f, --data-file <file>', 'read the event from a file (- for stdin) instead of --data')
  .option('-q, --qualifier <alias|version>', 'alias or version to invoke (default: latest)')
  .option('--async', 'queue the invocation and return its id')
  .option('--wait', 'with --async: wait for the result')
  .option('--logs', "print the invocation's console output")
  .action((name: string, opts) => invoke(client(), name, { ...opts, json: json() }));

program
  .command('ls')
  .description('list functions')
  .option('--all', 'all tenants (admin)')
  .action((opts) => ls(client(), { ...opts, json: json() }));
program
  .command('versions <name>')
  .description("list a function's versions and aliases")
  .action((name: string) => versions(client(), name, { json: json() }));
program
  .command('logs <name>')
  .description('recent invocations of a function with their console output')
  .option('-n, --limit <n>', 'how many', '20')
  .action((name: string, opts: { limit: string }) => logs(client(), name, { ...opts, json: json() }));
program
  .command('stats <name>')
  .description('cold/warm counts and phase percentiles')
  .action((name: string) => stats(client(), name, { json: json() }));
program
  .command('alias <name> <alias> <version>')
  .description('point an alias (e.g. prod) at a version')
  .action((name: string, a: string, v: string) => alias(client(), name, a, v, { json: json() }));
program
  .command('rm <name>')
  .description('delete a function, its versions and aliases')
  .action((name: string) => rm(client(), name, { json: json() }));
program
  .command('invocation <id>')
  .description('show one invocation record')
  .option('--exit-status', 'exit 1 if the invocation failed, 2 if it has not finished')
  .action((id: string, opts: { exitStatus?: boolean }) =>
    invocation(client(), id, { json: json(), exitStatus: opts.exitStatus }),
  );

program
  .command('gc')
  .description(
    "delete registry images that no function version uses (admin key): deleted functions' images, old pushes",
  )
  .option('--dry-run', 'report what would be deleted, delete nothing')
  .option('--grace <duration>', 'keep anything pushed more recently than this (default 1h)')
  .action((opts: { dryRun?: boolean; grace?: string }) => gc(client(), { ...opts, json: json() }));

const tenant = program.command('tenant').description('manage tenants (admin key)');
tenant
  .command('create <name>')
  .description('create a tenant and print its API key')
  .action((name: string) => tenantCreate(client(), name, { json: json() }));
tenant
  .command('ls')
  .description('list tenants')
  .action(() => tenantList(client(), { json: json() }));

program
  .command('sim <scenario>')
  .description(`run a simulator scenario on virtual time (${simHelp()})`)
  .option(
    '--trace <dir>',
    'trace directory (repeatable; default: every one under ../shared/data/traces/ or KINDLING_TRACES)',
    collect,
  )
  .option('--out <dir>', 'where to write results (default: bench/results)')
  .option(
    '--minute-arrivals <model>',
    "keepalive: where a 2019 trace's per-minute counts go inside the minute: spread (default), start or random",
  )
  .action((scenario: string, opts: { trace?: string[]; out?: string; minuteArrivals?: string }) =>
    sim(scenario, { ...opts, json: json() }),
  );

program
  .command('replay')
  .description(
    'drive the platform with a workload trace: one generated function per trace function, time-compressed',
  )
  .requiredOption('--trace <dir>', 'trace directory (Azure 2019 or 2021 format)')
  .option('--speedup <n>', 'time compression factor (default 60: an hour of trace per minute)')
  .option(
    '--keep-alive <minutes>',
    'keep-alive of the generated functions in trace time (default 10; divided by the speedup)',
  )
  .option(
    '--policy <name>',
    `keep-alive policy of the generated functions (${POLICY_NAMES.join(', ')}; default: the platform's)`,
  )
  .option('--mode <mode>', 'how invocations spend their time: sleep (default) or busy')
  .option('--memory-scale <f>', "fraction of the trace's memory each instance allocates (default 1)")
  .option(
    '--minute-arrivals <model>',
    "where a 2019 trace's per-minute counts go inside the minute: spread (default), start or random",
  )
  .option('--window <from:to>', 'replay only these minutes of trace time, moved to start at 0 (e.g. 0:30)')
  .option(
    '--invocations <min:max>',
    'replay only functions with this many invocations in the window (e.g. 10:400; max may be left out)',
  )
  .option('--out <file>', 'write every invocation record (cold/warm, status, latency) as JSON')
  .action((opts) => replay(client(), { ...opts, json: json() }));

program.addOption(new Option('--debug', 'print stack traces on errors').hideHelp());

/** Commander's exits that are not errors, or whose output (help on stderr) is already written. */
const COMMANDER_DONE = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError && (err.exitCode === 0 || COMMANDER_DONE.has(err.code))) {
    process.exit(err.exitCode);
  }
  // Commander stops parsing the global options at an unknown one, so a usage error may come before
  // --json was read: look for it in the arguments then.
  const asJson = json() || (err instanceof CommanderError && process.argv.slice(2).includes('--json'));
  console.error(formatErrorReport(errorReport(err), asJson));
  if (program.opts<{ debug?: boolean }>().debug) console.error(err);
  process.exit(1);
}
