/**
 * The embedded platform: gateway, scheduler, registry and one worker in one process, state in SQLite
 * under a data directory. `kindling up` runs this.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from './core/clock.js';
import { startHoldingDataDir, type DataDirLock } from './core/data-dir-lock.js';
import { KindlingError, toKindlingError } from './core/errors.js';
import { createMetrics } from './core/metrics.js';
import { AsyncDispatcher } from './control/async-dispatcher.js';
import { CronTriggers, DEFAULT_PREWARM_LEAD_MS } from './control/cron-triggers.js';
import { openDatabase, type Db } from './control/db.js';
import { Deployer } from './control/deployer.js';
import { FunctionStore } from './control/functions.js';
import { InvocationStore } from './control/invocations.js';
import { threadSink } from './control/record-sink.js';
import { Invoker } from './control/invoker.js';
import { Scheduler } from './control/scheduler.js';
import { DEFAULT_TENANT, TenantStore } from './control/tenants.js';
import { LocalRegistry } from './image/registry.js';
import type { PolicyName } from './policy/catalog.js';
import type { RuntimeSnapshotMode } from './sandbox/process/index.js';
import { createApiServer } from './api/server.js';
import { drainingClose } from './core/drain-close.js';
import type { StrategyName } from './distribution/strategy.js';
import { createControlPlane, type ControlPlane } from './cluster/control-plane.js';
import type { ClusterMembership } from './cluster/membership.js';
import type { WorkerAgent } from './worker/agent.js';
import type { InstanceCount } from './worker/handle.js';
import { createHostWorker } from './worker/host-worker.js';

export const KINDLING_VERSION = '0.1.0';

/** Options of `startPlatform`. */
export interface PlatformOptions {
  dataDir: string;
  port: number;
  host?: string;
  /** The URL clients reach the platform at (endpoint.json, messages); default `http://<host>:<port>`. */
  advertiseUrl?: string;
  /** Directories of functions to deploy at start (skipped when already deployed unchanged). */
  deploy?: string[];
  clock?: Clock;
  logger?: boolean | { level: string };
  /** Console bytes kept per invocation (default 256 KiB). */
  logLimitBytes?: number;
  /** Async invocations run at once (default 16). */
  asyncConcurrency?: number;
  /**
   * How long before a scheduled trigger's tick an instance is pre-warmed (default 10 s; 0 turns
   * pre-warming off, so a tick after the keep-alive is a cold start).
   */
  schedulePrewarmMs?: number;
  /**
   * Process-tier stem cells kept ready per memory size (default 1; 0 turns them off): a cold start
   * that finds one skips spawning and booting Node. Each idle cell costs one Node process (~40 MiB).
   */
  stemCells?: number;
  /**
   * When a process-tier start restores the runtime snapshot: `auto` (default) where a trial on this
   * machine found it faster than a plain start, `always`, or `never`.
   */
  runtimeSnapshot?: RuntimeSnapshotMode;
  /** Keep-alive policy of functions that do not choose one (default `fixed`). */
  keepAlivePolicy?: PolicyName;
  /**
   * Memory budget of the host for `greedy-dual` functions' instances, MiB (default: half the
   * machine's memory): a start that would exceed it evicts idle instances, lowest priority first.
   */
  memoryMb?: number;
  /**
   * Cluster mode: this process is the control plane only (gateway, scheduler, registry); invocations
   * run on worker processes (`kindling worker`) that register with it. Off by default (the embedded
   * platform runs one worker in this process).
   */
  cluster?: {
    heartbeatMs?: number;
    /** Image distribution strategy of functions that choose none: registry, swarm or tree (default). */
    distribution?: StrategyName;
    /**
     * Lazy loading: hosts start a sandbox once the image's startup working set (recorded on its first
     * cold start anywhere) is local, and fetch the rest in the background. Default off.
     */
    lazy?: boolean;
  };
  /** Called with messages meant for the operator (first-run key, deploys, warnings). */
  say?: (line: string) => void;
  /**
   * What a second process refused the data directory's lock is told to do to use another one
   * (default `--data DIR or KINDLING_DATA`, the flags of `kindling up`).
   */
  otherDataDirHint?: string;
}

/** A running platform. */
export interface Platform {
  url: string;
  dataDir: string;
  /** The admin key when this start created it (first run), else undefined. */
  newAdminKey: string | undefined;
  /** The admin key (read from the data directory). */
  adminKey: string;
  app: FastifyInstance;
  functions: FunctionStore;
  invocations: InvocationStore;
  tenants: TenantStore;
  deployer: Deployer;
  scheduler: Scheduler;
  /** The cluster's members, in cluster mode. */
  membership: ClusterMembership | undefined;
  /**
   * Stops accepting requests, finishes what runs, stops every instance, closes the database and
   * releases the data directory.
   */
  close(): Promise<void>;
}

/** Data-directory layout. */
export function dataPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    db: join(root, 'kindling.db'),
    registry: join(root, 'registry'),
    blockCache: join(root, 'worker', 'blocks'),
    images: join(root, 'worker', 'images'),
    snapshots: join(root, 'worker', 'snapshots'),
    containers: join(root, 'worker', 'containers'),
    buildCache: join(root, 'build-cache'),
    adminKey: join(root, 'admin-key'),
    endpoint: join(root, 'endpoint.json'),
  };
}

/**
 * Brings the platform up. The data directory is locked for as long as it runs: a second platform
 * on it is refused with KINDLING_CONFLICT before it touches anything there.
 */
export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const lead = opts.schedulePrewarmMs;
  if (lead !== undefined && !(Number.isInteger(lead) && lead >= 0 && lead <= 600_000))
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `schedulePrewarmMs must be a whole number of milliseconds from 0 to 600000 (10 minutes), got ${lead}`,
    );
  const paths = dataPaths(opts.dataDir);
  mkdirSync(paths.root, { recursive: true });
  const clock = opts.clock ?? systemClock;
  const say = opts.say ?? (() => {});
  return startHoldingDataDir(
    paths.root,
    {
      command: opts.cluster ? 'kindling up --cluster' : 'kindling up',
      port: opts.port,
      otherDir: opts.otherDataDirHint ?? '--data DIR or KINDLING_DATA',
      say,
    },
    (lock) => startLocked(opts, paths, clock, say, lock),
  );
}

async function startLocked(
  opts: PlatformOptions,
  paths: ReturnType<typeof dataPaths>,
  clock: Clock,
  say: (line: string) => void,
  lock: DataDirLock,
): Promise<Platform> {
  // A port in use is found before anything is set up or deployed (the listen comes last).
  if (opts.port !== 0) await assertPortFree(opts.port, opts.host ?? '127.0.0.1');
  const db: Db = openDatabase(paths.db);
  const metrics = createMetrics();
  const tenants = new TenantStore(db);
  const functions = new FunctionStore(db);
  // Sync records are written on a thread of their own, off the event loop that serves requests.
  const invocations = new InvocationStore(
    db,
    threadSink(db, (err) => say(`warning: ${err.message}`)),
  );
  const registry = new LocalRegistry(paths.registry);

  const { newAdminKey, adminKey } = bootstrapAdmin(tenants, paths.adminKey);

  const scheduler = new Scheduler();
  let localWorker: WorkerAgent | undefined;
  let control: ControlPlane | undefined;
  if (opts.cluster) {
    control = createControlPlane({
      clock,
      db,
      scheduler,
      functions,
      workerKey: adminKey,
      ...(opts.cluster.heartbeatMs ? { heartbeatMs: opts.cluster.heartbeatMs } : {}),
      distribution: opts.cluster.distribution ?? 'tree',
      lazy: opts.cluster.lazy === true,
      manifests: registry,
      say,
    });
  } else {
    const host = createHostWorker({
      dirs: paths,
      source: registry,
      clock,
      stemCells: opts.stemCells ?? 1,
      ...(opts.runtimeSnapshot ? { runtimeSnapshot: opts.runtimeSnapshot } : {}),
      keepAlivePolicy: opts.keepAlivePolicy ?? 'fixed',
      memoryMb: opts.memoryMb ?? Math.floor(totalmem() / 2 / 1024 / 1024),
      logLimitBytes: opts.logLimitBytes ?? 256 * 1024,
      onBackgroundError: (err, key) => say(`warning: ${key}: ${err.message}`),
      say,
    });
    localWorker = host.worker;
    scheduler.add(host.worker);
    metrics.setStemCellSource(host.stemCellCounts);
  }
  metrics.setInstanceSource(() => sumInstanceCounts(scheduler.all().map((w) => w.instanceCounts())));
  const invoker = new Invoker({ scheduler, metrics, clock });
  const deployer = new Deployer({ functions, registry, scheduler, buildCacheDir: paths.buildCache });
  const dispatcher = new AsyncDispatcher({
    invocations,
    functions,
    invoker,
    clock,
    concurrency: opts.asyncConcurrency ?? 16,
    onError: (err) => say(`async invocation failed in the platform: ${toKindlingError(err).message}`),
  });
  const prewarmLeadMs = opts.schedulePrewarmMs ?? DEFAULT_PREWARM_LEAD_MS;
  const schedules = new CronTriggers({
    db,
    functions,
    invocations,
    dispatcher,
    clock,
    prewarmLeadMs,
    ...(prewarmLeadMs > 0 && {
      prewarm: (tenant: string, name: string) => {
        const version = functions.resolve(tenant, name);
        // Held until a minute past the tick: the tick's invocation waits in the queue behind others.
        scheduler.place(version).prewarm(version, prewarmLeadMs + 60_000);
      },
    }),
    onError: (err) => say(`warning: a scheduled trigger failed: ${toKindlingError(err).message}`),
  });

  const app = await createApiServer(
    {
      clock,
      metrics,
      tenants,
      functions,
      invocations,
      invoker,
      dispatcher,
      deployer,
      scheduler,
      registry,
      schedules,
      ...(control ? { cluster: control.view } : {}),
      payloadLimitBytes: 6 * 1024 * 1024,
      version: KINDLING_VERSION,
    },
    {
      logger: opts.logger ?? false,
      ...(control ? { routes: control.routes } : {}),
    },
  );

  const closeApp = drainingClose(app);

  /** What this platform wrote to endpoint.json: only that is removed at close. */
  let endpointText: string | undefined = undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await closeApp();
      schedules.stop();
      await dispatcher.stop();
      control?.close();
      await localWorker?.close();
      await invocations.close();
      db.close();
      if (endpointText !== undefined && readIfExists(paths.endpoint) === endpointText)
        rmSync(paths.endpoint, { force: true });
    } finally {
      lock.release();
    }
  };

  try {
    if (opts.deploy?.length)
      say(`Deploying ${opts.deploy.length} function${opts.deploy.length === 1 ? '' : 's'}…`);
    for (const dir of opts.deploy ?? []) {
      const { version, unchanged } = await deployer.deployDirectory(DEFAULT_TENANT, dir);
      say(
        unchanged
          ? `  ${version.name} v${version.version} (unchanged)`
          : `  deployed ${version.name} v${version.version}`,
      );
    }
    // Keep minWarm instances of every function's latest version.
    if (localWorker)
      for (const fn of functions.list(undefined)) localWorker.keepWarm(functions.resolve(fn.tenant, fn.name));
    await app.listen({ port: opts.port, host: opts.host ?? '127.0.0.1' });
  } catch (err) {
    await close();
    // The key is saved, but the start that would have shown it failed: show it now.
    if (newAdminKey) say(`Admin API key created (saved to ${paths.adminKey}, mode 0600): ${newAdminKey}`);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url =
    opts.advertiseUrl?.replace(/\/+$/, '') ??
    `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1'}:${port}`;
  // Written whole or not at all: the CLI and scripts read it as soon as it exists.
  const partial = `${paths.endpoint}.${process.pid}.tmp`;
  endpointText = JSON.stringify({ url, pid: process.pid }) + '\n';
  writeFileSync(partial, endpointText);
  renameSync(partial, paths.endpoint);
  lock.update({ url });
  const requeued = dispatcher.start();
  if (requeued > 0) say(`resuming ${requeued} async invocation(s) interrupted by the last shutdown`);
  schedules.start();

  return {
    url,
    dataDir: paths.root,
    newAdminKey,
    adminKey,
    app,
    functions,
    invocations,
    tenants,
    deployer,
    scheduler,
    membership: control?.membership,
    close,
  };
}

/** A file's text, or undefined when it does not exist. */
function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** On first run creates the default tenant with an admin key, stored in the data directory (mode 0600). */
function bootstrapAdmin(
  tenants: TenantStore,
  keyFile: string,
): { newAdminKey: string | undefined; adminKey: string } {
  if (tenants.hasAdmin() && existsSync(keyFile)) {
    return { newAdminKey: undefined, adminKey: readFileSync(keyFile, 'utf8').trim() };
  }
  const apiKey = tenants.exists(DEFAULT_TENANT)
    ? tenants.createKey(DEFAULT_TENANT, 'admin')
    : tenants.createTenant(DEFAULT_TENANT, 'admin').apiKey;
  writeFileSync(keyFile, apiKey + '\n', { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  return { newAdminKey: apiKey, adminKey: apiKey };
}

/** Instance counts of several hosts, summed per tier and state. */
function sumInstanceCounts(hosts: InstanceCount[][]): InstanceCount[] {
  const sums = new Map<string, InstanceCount>();
  for (const counts of hosts) {
    for (const c of counts) {
      const key = `${c.tier}/${c.state}`;
      const sum = sums.get(key);
      if (sum) sum.count += c.count;
      else sums.set(key, { ...c });
    }
  }
  return [...sums.values()];
}

/** Rejects with EADDRINUSE (as `listen` would) when something already listens on `host:port`. */
function assertPortFree(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
