/**
 * The `container` sandbox tier: each instance is an OCI container run by crun, running the process
 * tier's runtime shim (`node runtime.cjs '<config>'`) exactly as the process tier does, with the same
 * framed protocol on fd 3. Only the way the process is created differs; see ARCHITECTURE.md.
 *
 * Bundles are prepared once per function version (`prepare()`, or the first start), so a start with a
 * prepared bundle writes one config file and runs `crun run`; its `startPath` is `prepared`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../core/clock.js';
import type { Clock } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import { treeBytes } from '../../core/tree-bytes.js';
import { abortError } from '../process/instance-errors.js';
import { heapFlags, heapLimitsFor, MIN_MEMORY_MB } from '../process/memory.js';
import { ProcessInstance } from '../process/process-instance.js';
import { stemCellConfig } from '../process/protocol.cjs';
import type { FaultInConfig, RuntimeConfig } from '../process/protocol.cjs';
import { checkInstanceSpec } from '../spec-check.js';
import type { InstanceSpec, SandboxInstance, SandboxTier } from '../tier.js';
import { createBundle, hostLibraries, removeBundle } from './bundle.js';
import type { PreparedBundle } from './bundle.js';
import { instanceCgroup, removeInstanceCgroups } from './cgroups.js';
import { ContainerCells, prepareCellDirs, removeCellDirs } from './container-cells.js';
import type { StemCellPolicy } from '../process/stem-cells.js';
import { ContainerInstance } from './container-instance.js';
import { openCrun } from './crun.js';
import type { Crun } from './crun.js';
import {
  bundleName,
  CONTAINER_ID_PREFIX,
  DEFAULT_CRUN_ROOT,
  mayHaveLeftovers,
  removeOwnedContainers,
  removeStaleFiles,
} from './leftovers.js';
import { IN_CONTAINER, ociConfig } from './oci-config.js';

/** Options of `createContainerTier`. Every one has a default. */
export interface ContainerTierOptions {
  /** The crun binary. Default: `crun` (found on PATH). */
  crunPath?: string;
  /** crun's state dir (`--root`). Default: crun's own (/run/crun), so `crun list` shows the instances. */
  crunRoot?: string;
  /** The node binary mounted into every container. Default: `process.execPath`. */
  nodePath?: string;
  /**
   * Where bundles are kept. Default: a new temp dir, removed by `close()`. A given dir belongs to
   * this tier (one tier at a time, as the platform's data-directory lock ensures): the first use of
   * crun deletes the containers, cells and bundles an earlier tier on it left (see leftovers.ts).
   */
  stateDir?: string;
  /** Prefix of every instance's cgroup path in each v1 hierarchy. Default: `kindling`. */
  cgroupPrefix?: string;
  /** pids cgroup limit per container (stops fork bombs). Default: 128. */
  pidsLimit?: number;
  /** CPU quota per container, in CPUs (CFS quota / period). Default: 1. */
  cpus?: number;
  /** Size of the writable /tmp tmpfs, MiB (counts against the memory limit). Default: 64. */
  tmpMb?: number;
  /** Init timeout for specs without `initTimeoutMs`. Default: 10 000 ms. */
  initTimeoutMs?: number;
  /**
   * Container stem cells kept ready per memory size (container-cells.ts); the sizes are learned
   * from starts. Default: none.
   */
  stemCells?: StemCellPolicy;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

/** The container tier: a `SandboxTier` plus the ahead-of-time half of the tool stack. */
export interface ContainerTier extends SandboxTier {
  readonly name: 'container';
  /** Prepares the bundle of `spec`'s function version ahead of any start (idempotent). */
  prepare(spec: InstanceSpec): Promise<void>;
  /** Removes the prepared bundle of `spec`'s function version (e.g. when its pool is retired). */
  release(spec: InstanceSpec): Promise<void>;
  /** Resolves once the container stem cells (if any) have booted. */
  cellsSettled(): Promise<void>;
  /**
   * Deletes what an earlier tier on the same `stateDir` left behind (it was killed before it could
   * clean up): its containers, whatever their state, their cgroups, stem cells' mounts and bundles.
   * Starts do this themselves before the first container; a platform calls it at startup so nothing
   * waits for a container function's first start. Resolves to the ids of the containers that were
   * deleted (the same on every call; none without a `stateDir`, or when nothing was left).
   */
  removeLeftovers(): Promise<string[]>;
}

/** The runtime shim and its protocol module: dist/src/sandbox/process, mounted read-only. */
const RUNTIME_DIR = dirname(fileURLToPath(new URL('../process/runtime.cjs', import.meta.url)));

/** The minimal environment an instance starts from (nothing of the host's). */
const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  NODE_ENV: 'production',
  HOME: IN_CONTAINER.tmp,
  TMPDIR: IN_CONTAINER.tmp,
  LANG: 'C.UTF-8',
  TZ: 'UTC',
};

/** Creates the container tier. */
export function createContainerTier(options: ContainerTierOptions = {}): ContainerTier {
  const clock = options.clock ?? systemClock;
  const nodePath = options.nodePath ?? process.execPath;
  const cgroupPrefix = options.cgroupPrefix ?? 'kindling';
  const pidsLimit = options.pidsLimit ?? 128;
  const cpus = options.cpus ?? 1;
  const tmpMb = options.tmpMb ?? 64;
  const defaultInitTimeoutMs = options.initTimeoutMs ?? 10_000;
  const bad = (message: string) => new KindlingError('KINDLING_INVALID_CONFIG', message);
  if (!Number.isInteger(pidsLimit) || pidsLimit < 8)
    throw bad(`pidsLimit must be an integer >= 8, got ${pidsLimit}`);
  if (!(cpus > 0)) throw bad(`cpus must be > 0, got ${cpus}`);
  if (!Number.isInteger(tmpMb) || tmpMb < 1) throw bad(`tmpMb must be an integer >= 1, got ${tmpMb}`);
  if (!(defaultInitTimeoutMs > 0)) throw bad(`initTimeoutMs must be > 0, got ${defaultInitTimeoutMs}`);
  if (!/^[A-Za-z0-9_-]+$/.test(cgroupPrefix))
    throw bad(`cgroupPrefix must be one path segment, got "${cgroupPrefix}"`);

  const instances = new Set<ContainerInstance>();
  const bundles = new Map<string, Promise<PreparedBundle>>();
  /** The code directory each bundle mounts, by the same key. */
  const codeDirOf = new Map<string, string>();
  /** Names of the bundle dirs this tier made (or is making) in its state dir. */
  const bundleNames = new Set<string>();
  const libraries = hostLibraries();
  const givenStateDir = options.stateDir === undefined ? undefined : resolve(options.stateDir);
  let closed = false;
  let closing: Promise<void> | undefined;
  let seq = 0;
  let stateDir: Promise<string> | undefined;
  let crun: Promise<Crun> | undefined;
  /** What the first use of crun removed of an earlier tier's (see `removeLeftovers`). */
  let leftovers: string[] = [];
  // One probe per tier; a failed probe is retried by the next start (crun may have been installed since).
  // No container starts before an earlier tier's leftovers are gone: they are removed here, first.
  const getCrun = () => {
    crun ??= openCrun({ crunPath: options.crunPath ?? 'crun', stateRoot: options.crunRoot })
      .then(async (c) => {
        if (givenStateDir === undefined) return c;
        try {
          leftovers = await removeOwnedContainers(c, givenStateDir, cgroupPrefix);
          await removeStaleFiles(c, givenStateDir, bundleNames);
        } catch (err) {
          c.close();
          throw err;
        }
        return c;
      })
      .catch((err) => {
        crun = undefined;
        throw err;
      });
    return crun;
  };
  const getStateDir = () =>
    (stateDir ??= givenStateDir ? Promise.resolve(givenStateDir) : mkdtemp(join(tmpdir(), 'kindling-crun-')));
  const bundleKey = (spec: InstanceSpec) => `${spec.functionName}@${spec.functionVersion}:${spec.codeDir}`;

  function bundleFor(spec: InstanceSpec): { bundle: Promise<PreparedBundle>; prepared: boolean } {
    const key = bundleKey(spec);
    const existing = bundles.get(key);
    if (existing) return { bundle: existing, prepared: true };
    // Named now, so that removing an earlier tier's bundles (which may run meanwhile) keeps it.
    const name = bundleName(spec.functionName, spec.functionVersion);
    bundleNames.add(name);
    const bundle = (async () => createBundle(join(await getStateDir(), name), libraries))();
    bundles.set(key, bundle);
    codeDirOf.set(key, spec.codeDir);
    bundle.catch(() => bundles.delete(key));
    return { bundle, prepared: false };
  }

  /**
   * Runs `crun run` for a written config; fds 3 (the channel) and 4 (fault requests) are passed
   * through to the container's process.
   */
  const spawnCrun = (c: Crun, bundleDir: string, configPath: string, containerId: string) => {
    const { file, args } = c.command([
      'run',
      '--bundle',
      bundleDir,
      '--config',
      configPath,
      '--preserve-fds',
      '2',
      '--no-new-keyring',
      containerId,
    ]);
    return spawn(file, args, {
      cwd: bundleDir,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      // Own process group, as the process logic expects (it kills -pid).
      detached: true,
    });
  };

  let cells: Promise<ContainerCells | undefined> | undefined;
  const getCells = () =>
    (cells ??= (async () => {
      if (!options.stemCells || options.stemCells.perMemoryMb <= 0) return undefined;
      const [c, root] = await Promise.all([getCrun(), getStateDir()]);
      const bundle = await createBundle(join(root, 'cells-bundle'), libraries);
      return new ContainerCells({ ...options.stemCells, memoryMb: [] }, clock, c, (memoryMb) => {
        const containerId = `${CONTAINER_ID_PREFIX}cell-${randomBytes(4).toString('hex')}-${++seq}`;
        const home = join(root, 'cells', containerId);
        const cellDir = join(home, 'fn');
        const stageDir = join(home, 'stage');
        prepareCellDirs(c, cellDir, stageDir);
        const cgroup = instanceCgroup(cgroupPrefix, containerId);
        const configPath = join(bundle.dir, `${containerId}.json`);
        const config = ociConfig({
          rootfs: bundle.rootfs,
          args: [
            IN_CONTAINER.node,
            ...heapFlags(heapLimitsFor(memoryMb)),
            `${IN_CONTAINER.runtimeDir}/runtime.cjs`,
            JSON.stringify(stemCellConfig(memoryMb)),
          ],
          env: BASE_ENV,
          hostCodeDir: cellDir,
          hostRuntimeDir: RUNTIME_DIR,
          hostNode: nodePath,
          libraries: libraries.mounts,
          cgroupsPath: cgroup.leaf,
          memoryMb,
          tmpMb,
          pidsLimit,
          cpus,
          hostname: 'kindling',
          codePropagates: true,
        });
        writeFileSync(configPath, JSON.stringify(config));
        const child = spawnCrun(c, bundle.dir, configPath, containerId);
        const cleanup = async () => {
          await c.exec(['kill', containerId, 'KILL'], 5000);
          await c.exec(['delete', '-f', containerId], 10_000);
          await removeInstanceCgroups(cgroup, cgroupPrefix);
          removeCellDirs(c, cellDir, stageDir);
          await rm(home, { recursive: true, force: true });
          await unlink(configPath).catch(() => undefined);
        };
        return { child, meta: { containerId, cellDir, stageDir, configPath, cleanup } };
      });
    })());

  /** A cold start from a container stem cell: mount the code into it, then specialise its runtime. */
  async function startFromCell(spec: InstanceSpec, entryInContainer: string, signal?: AbortSignal) {
    const pool = await getCells();
    const mountStart = clock.monotonic();
    const taken = pool?.take(spec.memoryMb, spec.codeDir);
    const cellMountMs = clock.monotonic() - mountStart;
    if (!taken) return undefined;
    const c = await getCrun();
    const heap = heapLimitsFor(spec.memoryMb);
    const { child, meta } = taken;
    const inner = new ProcessInstance(
      child,
      spec,
      { clock, rssCheckIntervalMs: 0, exitGraceMs: 1000, heapMb: heap.heapMb, startPath: 'stem-cell' },
      clock.monotonic(),
    );
    inner.specialize({
      type: 'specialize',
      entry: entryInContainer,
      functionName: spec.functionName,
      functionVersion: spec.functionVersion,
      env: { ...BASE_ENV, ...spec.env },
      cwd: IN_CONTAINER.codeDir,
      logLimitBytes: spec.logLimitBytes,
      ...faultInOf(spec),
    });
    const instance = new ContainerInstance(child, inner, {
      clock,
      crun: c,
      containerId: meta.containerId,
      instanceId: spec.instanceId,
      cgroup: instanceCgroup(cgroupPrefix, meta.containerId),
      cgroupPrefix,
      configPath: meta.configPath,
      functionName: spec.functionName,
      memoryMb: spec.memoryMb,
      startPath: 'stem-cell',
      spawnCalledAt: clock.monotonic(),
      cellMountMs,
      afterTeardown: async () => {
        removeCellDirs(c, meta.cellDir, meta.stageDir);
        await rm(dirname(meta.cellDir), { recursive: true, force: true });
      },
    });
    return track(instance, inner, spec, signal);
  }

  async function start(spec: InstanceSpec, signal?: AbortSignal): Promise<SandboxInstance> {
    if (closed)
      throw new KindlingError('KINDLING_UNAVAILABLE', 'the container tier is closed; create a new one');
    const entryInContainer = checkSpec(spec);
    if (signal?.aborted) throw abortError(signal.reason, `start of instance ${spec.instanceId} was aborted`);
    const fromCell = await startFromCell(spec, entryInContainer, signal);
    if (fromCell) return fromCell;
    const { bundle: bundlePromise, prepared } = bundleFor(spec);
    const [c, bundle] = await Promise.all([getCrun(), bundlePromise]);
    if (signal?.aborted) throw abortError(signal.reason, `start of instance ${spec.instanceId} was aborted`);
    if (closed)
      throw new KindlingError('KINDLING_UNAVAILABLE', 'the container tier is closed; create a new one');
    const heap = heapLimitsFor(spec.memoryMb);
    const runtimeConfig: RuntimeConfig = {
      entry: entryInContainer,
      functionName: spec.functionName,
      functionVersion: spec.functionVersion,
      memoryMb: spec.memoryMb,
      logLimitBytes: spec.logLimitBytes,
      ...faultInOf(spec),
    };
    const containerId = `${CONTAINER_ID_PREFIX}${spec.instanceId.replace(/[^A-Za-z0-9_.-]/g, '_')}-${++seq}`;
    const cgroup = instanceCgroup(cgroupPrefix, containerId);
    const configPath = join(bundle.dir, `${containerId}.json`);
    const config = ociConfig({
      rootfs: bundle.rootfs,
      args: [
        IN_CONTAINER.node,
        ...heapFlags(heap),
        `${IN_CONTAINER.runtimeDir}/runtime.cjs`,
        JSON.stringify(runtimeConfig),
      ],
      env: { ...BASE_ENV, ...spec.env },
      hostCodeDir: spec.codeDir,
      hostRuntimeDir: RUNTIME_DIR,
      hostNode: nodePath,
      libraries: libraries.mounts,
      cgroupsPath: cgroup.leaf,
      memoryMb: spec.memoryMb,
      tmpMb,
      pidsLimit,
      cpus,
      hostname: 'kindling',
    });
    // Synchronous on purpose: a ~2 KB file, and no await between it and the spawn.
    writeFileSync(configPath, JSON.stringify(config));
    const spawnCalledAt = clock.monotonic();
    const child = spawnCrun(c, bundle.dir, configPath, containerId);
    // The RSS watchdog would watch crun, not node: the memory cgroup enforces the limit instead.
    const inner = new ProcessInstance(
      child,
      spec,
      { clock, rssCheckIntervalMs: 0, exitGraceMs: 1000, heapMb: heap.heapMb },
      spawnCalledAt,
    );
    const instance = new ContainerInstance(child, inner, {
      clock,
      crun: c,
      containerId,
      instanceId: spec.instanceId,
      cgroup,
      cgroupPrefix,
      configPath,
      functionName: spec.functionName,
      memoryMb: spec.memoryMb,
      startPath: prepared ? 'prepared' : 'plain',
      spawnCalledAt,
    });
    return track(instance, inner, spec, signal);
  }

  /** Keeps an instance in the tier's set and waits for its runtime; a failed start leaves nothing behind. */
  async function track(
    instance: ContainerInstance,
    inner: ProcessInstance,
    spec: InstanceSpec,
    signal: AbortSignal | undefined,
  ): Promise<SandboxInstance> {
    instances.add(instance);
    void instance.exited.then(() => instances.delete(instance));
    try {
      await inner.waitReady(spec.initTimeoutMs ?? defaultInitTimeoutMs, signal);
    } catch (err) {
      // The rejection comes after the container is deleted.
      await instance.stop();
      throw instance.startError(err);
    }
    return instance;
  }

  return {
    name: 'container',
    start,
    async cellsSettled() {
      await (await getCells())?.settled();
    },
    async prepare(spec) {
      checkSpec(spec);
      await bundleFor(spec).bundle;
    },
    async release(spec) {
      const key = bundleKey(spec);
      const bundle = bundles.get(key);
      if (!bundle) return;
      bundles.delete(key);
      codeDirOf.delete(key);
      const { dir } = await bundle;
      bundleNames.delete(basename(dir));
      await removeBundle(dir);
    },
    async forgetCode(codeDirs, dryRun) {
      // A bundle mounts its version's code directory: once that is collected (or gone), the bundle
      // serves nothing. The collection never passes a directory a pool here still runs.
      const found = { removed: 0, bytes: 0 };
      for (const [key, bundle] of bundles) {
        const codeDir = codeDirOf.get(key)!;
        if (!codeDirs.has(codeDir) && existsSync(codeDir)) continue;
        const dir = await bundle.then(
          (b) => b.dir,
          () => undefined,
        );
        if (dir === undefined) continue;
        found.removed++;
        found.bytes += await treeBytes(dir);
        if (dryRun) continue;
        bundles.delete(key);
        codeDirOf.delete(key);
        bundleNames.delete(basename(dir));
        await removeBundle(dir);
      }
      return found;
    },
    async removeLeftovers() {
      if (givenStateDir === undefined || closed) return [];
      // Without crun's state or this tier's files nothing can be left: skip starting crun at all.
      if (crun === undefined && !mayHaveLeftovers(options.crunRoot ?? DEFAULT_CRUN_ROOT, givenStateDir))
        return [];
      await getCrun();
      return leftovers;
    },
    close() {
      // A second close waits for the first: crun (and its namespace) is gone after it.
      closing ??= closeOnce();
      return closing;
    },
  };

  /** See `close()`. */
  async function closeOnce(): Promise<void> {
    closed = true;
    await (await cells?.catch(() => undefined))?.close();
    await Promise.all([...instances].map((instance) => instance.stop()));
    const opened = await crun?.catch(() => undefined);
    // Every container this tier made, whatever its state: one whose teardown failed, or that crun
    // left stopped, is deleted here rather than found by the next start. A failure is reported
    // once the rest is cleaned up.
    let sweepError: unknown;
    if (opened)
      await removeOwnedContainers(opened, await getStateDir(), cgroupPrefix).catch((err: unknown) => {
        sweepError = err;
      });
    opened?.close();
    const dirs = await Promise.all(
      [...bundles.values()].map((b) => b.then((x) => x.dir).catch(() => undefined)),
    );
    bundles.clear();
    await Promise.all(dirs.map((dir) => (dir ? removeBundle(dir) : undefined)));
    if (stateDir && !options.stateDir) await rm(await stateDir, { recursive: true, force: true });
    else if (givenStateDir && cells) {
      // The cells' bundle, and their dir (each cell removed its own), so that a clean close leaves
      // the state dir empty and the next start has nothing to look for.
      await removeBundle(join(givenStateDir, 'cells-bundle'));
      await rmdir(join(givenStateDir, 'cells')).catch((err: NodeJS.ErrnoException) => {
        // ENOTEMPTY: a cell could not be removed; the next start's cleanup retries it.
        if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY') throw err;
      });
    }
    if (sweepError !== undefined) throw sweepError;
  }
}

/** Rejects specs the tier cannot run (as every tier does); returns the entry's path inside the container. */
function checkSpec(spec: InstanceSpec): string {
  return `${IN_CONTAINER.codeDir}/${checkInstanceSpec(spec, 'container', MIN_MEMORY_MB)}`;
}

/**
 * The runtime's fault-in settings for a spec whose image is still arriving, as the container sees
 * the code directory (mounted at /fn; files the host renames into it later show up there).
 */
function faultInOf(spec: InstanceSpec): { faultIn?: FaultInConfig } {
  const root = IN_CONTAINER.codeDir;
  return spec.pending ? { faultIn: { root, listPath: `${root}/${spec.pending.listFile}` } } : {};
}
