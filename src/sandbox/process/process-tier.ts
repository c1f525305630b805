/**
 * The `process` sandbox tier: one Node.js child process per instance, running the runtime shim
 * (runtime.ts) and speaking the framed protocol (protocol.ts) on fd 3.
 *
 * Isolation is that of an OS process under the same user: own heap and memory limit, an environment
 * that holds only a minimal base plus the function's variables, and a process group the host kills as
 * a whole. It is not a security boundary against hostile code (the container tier is).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../core/clock.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import { checkInstanceSpec } from '../spec-check.js';
import type { InstanceSpec, SandboxInstance, SandboxTier } from '../tier.js';
import { abortError } from './instance-errors.js';
import { heapFlags, heapLimitsFor, MIN_MEMORY_MB } from './memory.js';
import { ProcessInstance } from './process-instance.js';
import { stemCellConfig } from './protocol.cjs';
import type { FaultInConfig, RuntimeConfig } from './protocol.cjs';
import { SnapshotVerdicts } from './snapshot-verdicts.js';
import { SnapshotStore } from './snapshot.js';
import { trialRuntimeStarts, type RuntimeStartTrial } from './runtime-trial.js';
import { StemCellPool } from './stem-cells.js';
import type { StemCellPolicy } from './stem-cells.js';

/** Options of `createProcessTier`. Every one has a default that suits production. */
export interface ProcessTierOptions {
  /** The node binary to run instances with. Default: `process.execPath` (the host's own node). */
  nodePath?: string;
  /** Extra node flags, placed before the runtime script (e.g. `['--no-warnings']`). Default: none. */
  nodeArgs?: string[];
  /** How often the RSS watchdog reads /proc/<pid>/statm, in ms; 0 disables it. Default: 100. */
  rssCheckIntervalMs?: number;
  /** Init timeout for specs that do not set `initTimeoutMs`. Default: 10 000 ms (as AWS Lambda). */
  initTimeoutMs?: number;
  /** The environment every instance starts from, before `spec.env`. Default: see `defaultBaseEnv()`. */
  baseEnv?: Record<string, string>;
  /** Time source for timings, timeouts and the watchdog. Default: the system clock. */
  clock?: Clock;
  /** Stem cells kept ready to be specialised (see stem-cells.ts). Default: none. */
  stemCells?: StemCellPolicy;
  /**
   * Start functions whose init is slow from V8 startup snapshots taken after their init
   * (snapshot.ts), cached in `dir`. Built in the background after the first start that shows a slow
   * init. Default: off.
   *
   * With them on, a start with neither a function snapshot nor a stem cell may restore a snapshot of
   * the runtime alone. `runtime`: `auto` (default) does so only when a trial on this machine found
   * it faster than a plain start (see runtime-trial.ts); `always` and `never` decide without one.
   * A function's snapshot that, tried a few times, did not start it faster than the other ways is
   * given up (snapshot-verdicts.ts); `verdicts` replaces that judge (tests).
   */
  snapshots?: { dir: string; runtime?: RuntimeSnapshotMode; verdicts?: SnapshotVerdicts };
}

/** When a start may restore the runtime snapshot; see {@link ProcessTierOptions.snapshots}. */
export const RUNTIME_SNAPSHOT_MODES = ['auto', 'always', 'never'] as const;
export type RuntimeSnapshotMode = (typeof RUNTIME_SNAPSHOT_MODES)[number];

/** Quiet time after plain starts before the runtime snapshot is built and tried (see the tier). */
export const RUNTIME_SNAPSHOT_QUIET_MS = 5000;
/** Longest the runtime snapshot's build and trial wait for a quiet moment. */
export const RUNTIME_SNAPSHOT_MAX_DEFER_MS = 60_000;

/** A function whose init took at least this long is started from a snapshot once one is built. */
export const SNAPSHOT_MIN_INIT_MS = 15;

/** A process tier, with access to its stem-cell pool for benchmarks and tests. */
export interface ProcessTier extends SandboxTier {
  /** Idle stem cells by memory size. */
  stemCellCounts(): Record<number, { ready: number; booting: number }>;
  /** Resolves once the stem-cell pool has finished booting its cells. */
  stemCellsSettled(): Promise<void>;
  /** Process ids of the idle stem cells. */
  stemCellPids(): number[];
  /**
   * Builds (or finds) the snapshot for `spec`'s function, resolving to the blob; rejects with why it
   * is not snapshot-safe. Cold starts use it once the function's init has been seen to be slow.
   */
  snapshotFor(spec: InstanceSpec): Promise<string>;
  /** Builds (or finds) the snapshot of the runtime alone for a memory size. */
  runtimeSnapshotFor(memoryMb: number): Promise<string>;
  /**
   * Builds the runtime snapshot of a memory size and runs (or returns) the trial that decides, in
   * `auto` mode, whether starts use it. Rejects when snapshots are off or the build fails.
   */
  runtimeStartTrial(memoryMb: number): Promise<RuntimeStartTrial>;
}

/** The runtime shim, next to this file in dist/. */
const RUNTIME_PATH = fileURLToPath(new URL('./runtime.cjs', import.meta.url));

/**
 * The minimal environment an instance starts from. Nothing of the host's own environment is passed
 * through: it holds the platform's secrets (API keys, database URLs).
 */
export function defaultBaseEnv(): Record<string, string> {
  const tmp = tmpdir();
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    NODE_ENV: 'production',
    HOME: tmp,
    TMPDIR: tmp,
    LANG: 'C.UTF-8',
    TZ: 'UTC',
  };
}

// Instances of every tier in this host, so a host that exits never leaves children behind.
const everyInstance = new Set<ProcessInstance>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a plain SIGKILL per process group is. (If the host itself is
  // SIGKILLed, each runtime sees fd 3 close and exits on its own.)
  process.on('exit', () => {
    for (const instance of everyInstance) {
      if (instance.pid === undefined) continue;
      try {
        process.kill(-instance.pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to clean up.
      }
    }
  });
}

/** Creates the process tier. */
export function createProcessTier(options: ProcessTierOptions = {}): ProcessTier {
  const clock = options.clock ?? systemClock;
  const nodePath = options.nodePath ?? process.execPath;
  const nodeArgs = options.nodeArgs ?? [];
  const rssCheckIntervalMs = options.rssCheckIntervalMs ?? 100;
  const defaultInitTimeoutMs = options.initTimeoutMs ?? 10_000;
  const baseEnv = options.baseEnv ?? defaultBaseEnv();
  if (!Number.isFinite(rssCheckIntervalMs) || rssCheckIntervalMs < 0) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `rssCheckIntervalMs must be >= 0 (0 disables the watchdog), got ${rssCheckIntervalMs}`,
    );
  }
  if (!(defaultInitTimeoutMs > 0)) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `initTimeoutMs must be > 0, got ${defaultInitTimeoutMs}`,
    );
  }
  const instances = new Set<ProcessInstance>();
  let closed = false;
  const snapshots = options.snapshots
    ? new SnapshotStore(options.snapshots.dir, RUNTIME_PATH, nodePath)
    : undefined;
  /** The init time last seen per entry: it decides whether a snapshot is worth building. */
  const initMsByEntry = new Map<string, number>();
  /** Whether each entry's snapshot, once built, starts it faster than the other paths. */
  const verdicts = options.snapshots?.verdicts ?? new SnapshotVerdicts();

  /** Spawns the runtime shim; every instance and stem cell starts this way. */
  const spawnRuntime = (
    config: RuntimeConfig,
    cwd: string,
    env: Record<string, string>,
    // With a snapshot the shim (and the function) come from the blob: no script argument.
    snapshotArgs?: string[],
  ) =>
    spawn(
      nodePath,
      [
        ...nodeArgs,
        ...heapFlags(heapLimitsFor(config.memoryMb)),
        ...(snapshotArgs ?? [RUNTIME_PATH]),
        JSON.stringify(config),
      ],
      {
        cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
        // Own process group: one kill(-pid) also ends whatever the function spawned.
        detached: true,
      },
    );
  const stemCells = new StemCellPool(
    options.stemCells ?? { perMemoryMb: 0 },
    (memoryMb) => spawnRuntime(stemCellConfig(memoryMb), tmpdir(), baseEnv),
    clock,
  );

  const runtimeMode = options.snapshots?.runtime ?? 'auto';
  if (!(RUNTIME_SNAPSHOT_MODES as readonly string[]).includes(runtimeMode)) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `snapshots.runtime must be "auto", "always" or "never", got ${JSON.stringify(runtimeMode)}`,
    );
  }
  /** Trials by memory size: started once the runtime snapshot exists, read by later starts. */
  const trials = new Map<number, { done: Promise<RuntimeStartTrial>; result?: RuntimeStartTrial }>();
  const trialOf = (memoryMb: number, blob: string) => {
    let trial = trials.get(memoryMb);
    if (!trial) {
      const runtimeConfig = stemCellConfig(memoryMb);
      const t: { done: Promise<RuntimeStartTrial>; result?: RuntimeStartTrial } = {
        done: trialRuntimeStarts((fromSnapshot) =>
          spawnRuntime(
            runtimeConfig,
            tmpdir(),
            baseEnv,
            fromSnapshot ? ['--snapshot-blob', blob] : undefined,
          ),
        ),
      };
      // A trial that fails leaves the plain start in place (the one that needs nothing built).
      t.done.then(
        (result) => (t.result = result),
        () => (t.result = { plainMs: Number.NaN, snapshotMs: Number.NaN, useSnapshot: false, samples: 0 }),
      );
      trial = t;
      trials.set(memoryMb, trial);
    }
    return trial;
  };
  /**
   * Building the runtime snapshot and timing the trial cost a second or more of CPU: not on top of
   * the cold starts that asked for them (a burst of them, on a cluster host), but once starts have
   * been quiet for {@link RUNTIME_SNAPSHOT_QUIET_MS}, or at the latest {@link RUNTIME_SNAPSHOT_MAX_DEFER_MS}
   * after the first.
   */
  const deferred = new Map<number, { timer: TimerHandle; firstAt: number }>();
  const deferRuntimeSnapshot = (memoryMb: number): void => {
    if (trials.has(memoryMb) || !snapshots) return;
    const now = clock.monotonic();
    const pending = deferred.get(memoryMb);
    if (pending) clock.clearTimer(pending.timer);
    const firstAt = pending?.firstAt ?? now;
    const wait = Math.max(
      0,
      Math.min(RUNTIME_SNAPSHOT_QUIET_MS, firstAt + RUNTIME_SNAPSHOT_MAX_DEFER_MS - now),
    );
    const timer = clock.setTimer(() => {
      deferred.delete(memoryMb);
      if (closed) return;
      snapshots.runtimeBlob(memoryMb).then(
        (blob) => void (closed || trialOf(memoryMb, blob)),
        // No snapshot: starts stay plain (the reason is kept by the store).
        () => {},
      );
    }, wait);
    deferred.set(memoryMb, { timer, firstAt });
  };
  /** The runtime snapshot blob a start of `memoryMb` should restore, or undefined for a plain start. */
  const runtimeSnapshotToUse = (memoryMb: number): string | undefined => {
    if (!snapshots || runtimeMode === 'never') return undefined;
    if (runtimeMode === 'always') return snapshots.runtimeReady(memoryMb);
    const result = trials.get(memoryMb)?.result;
    if (result) return result.useSnapshot ? snapshots.runtimeReady(memoryMb) : undefined;
    // Until the trial has spoken, start plain.
    deferRuntimeSnapshot(memoryMb);
    return undefined;
  };

  /**
   * Starts an instance; when its start from a snapshot crashes (a signal, before it was ready),
   * that blob is discarded and the instance is started again without snapshots, so a snapshot V8
   * cannot restore costs one extra start, not the invocation.
   */
  async function start(spec: InstanceSpec, signal?: AbortSignal): Promise<SandboxInstance> {
    try {
      return await startBy(spec, signal, true);
    } catch (err) {
      if (!(err instanceof SnapshotStartFailed) || !snapshots) throw err;
      if (err.signal)
        snapshots.discard(
          err.blob,
          `restoring the snapshot crashed (${err.signal}); this function starts without it`,
        );
      return startBy(spec, signal, false);
    }
  }

  async function startBy(
    spec: InstanceSpec,
    signal: AbortSignal | undefined,
    useSnapshots: boolean,
  ): Promise<SandboxInstance> {
    if (closed)
      throw new KindlingError('KINDLING_UNAVAILABLE', 'the process tier is closed; create a new one');
    const entryPath = checkSpec(spec);
    if (signal?.aborted) throw abortError(signal.reason, `start of instance ${spec.instanceId} was aborted`);
    const heap = heapLimitsFor(spec.memoryMb);
    const parts = { clock, rssCheckIntervalMs, exitGraceMs: 1000, heapMb: heap.heapMb };
    const env = { ...baseEnv, ...spec.env };
    let instance: ProcessInstance;
    const config: RuntimeConfig = {
      entry: entryPath,
      functionName: spec.functionName,
      functionVersion: spec.functionVersion,
      memoryMb: spec.memoryMb,
      logLimitBytes: spec.logLimitBytes,
      ...faultInOf(spec),
    };
    // Start path, by what each saves: a snapshot skips the function's init (worth it when init is
    // slow), a stem cell skips spawning and booting Node, a plain start skips nothing.
    const snapshotInput = { entryPath, codeDir: spec.codeDir, memoryMb: spec.memoryMb, env };
    const slowInit = (initMsByEntry.get(entryPath) ?? 0) >= SNAPSHOT_MIN_INIT_MS;
    // No snapshot of an image still arriving: building one would run the function without its files.
    const blob =
      useSnapshots && snapshots && slowInit && !spec.pending ? snapshots.ready(snapshotInput) : undefined;
    const cell = blob ? undefined : stemCells.take(spec.memoryMb);
    // Without either, a snapshot of the runtime alone still saves loading the shim and its modules.
    // Only for CommonJS entries (`.cjs`, what deploys produce when they can): a process restored from
    // a snapshot has no ESM loader, so `import()` of an `.mjs` or `.js` entry fails there.
    const runtimeBlob =
      !useSnapshots || blob || cell || !entryPath.endsWith('.cjs')
        ? undefined
        : runtimeSnapshotToUse(spec.memoryMb);
    if (blob) {
      const spawnCalledAt = clock.monotonic();
      instance = new ProcessInstance(
        spawnRuntime(config, spec.codeDir, env, ['--snapshot-blob', blob]),
        spec,
        { ...parts, startPath: 'snapshot' },
        spawnCalledAt,
      );
    } else if (runtimeBlob) {
      const spawnCalledAt = clock.monotonic();
      instance = new ProcessInstance(
        spawnRuntime(config, spec.codeDir, env, ['--snapshot-blob', runtimeBlob]),
        spec,
        { ...parts, startPath: 'runtime-snapshot' },
        spawnCalledAt,
      );
    } else if (cell) {
      // The spawn and Node's boot happened before the request: the clock starts at specialisation.
      instance = new ProcessInstance(
        cell.child,
        spec,
        { ...parts, startPath: 'stem-cell' },
        clock.monotonic(),
      );
      instance.specialize({
        type: 'specialize',
        entry: entryPath,
        functionName: spec.functionName,
        functionVersion: spec.functionVersion,
        env,
        cwd: spec.codeDir,
        logLimitBytes: spec.logLimitBytes,
        ...faultInOf(spec),
      });
    } else {
      const spawnCalledAt = clock.monotonic();
      instance = new ProcessInstance(spawnRuntime(config, spec.codeDir, env), spec, parts, spawnCalledAt);
    }
    instances.add(instance);
    everyInstance.add(instance);
    installExitHook();
    void instance.exited.then(() => {
      instances.delete(instance);
      everyInstance.delete(instance);
    });
    try {
      await instance.waitReady(spec.initTimeoutMs ?? defaultInitTimeoutMs, signal);
    } catch (err) {
      // A failed start leaves nothing behind: the rejection comes after the process is gone.
      await instance.stop();
      const restored = blob ?? runtimeBlob;
      if (!restored || signal?.aborted) throw err;
      // Crashed restoring it, or it was discarded (deleted) between being chosen and being opened.
      const crash = crashSignal(err);
      if (crash || !existsSync(restored)) throw new SnapshotStartFailed(restored, crash, err);
      throw err;
    }
    // An init that waited for files on demand says nothing about the function's own init.
    if (!spec.pending) {
      const t = instance.timings;
      verdicts.record(entryPath, t.startPath === 'snapshot', t.sandboxMs + t.runtimeMs + t.initMs);
      if (t.startPath !== 'snapshot') {
        initMsByEntry.set(entryPath, t.initMs);
        // A slow init is worth a snapshot: build one now, in the background, for the next cold start.
        if (snapshots && t.initMs >= SNAPSHOT_MIN_INIT_MS) snapshots.ready(snapshotInput);
      }
    }
    // A snapshot that, tried a few times, started the function no faster than the other ways goes.
    if (blob && snapshots) {
      const loss = verdicts.loss(entryPath);
      if (loss) {
        snapshots.discard(
          blob,
          `starting from the snapshot took ${loss.snapshotMs.toFixed(1)} ms against ` +
            `${loss.withoutMs.toFixed(1)} ms without it (medians); this function starts without it`,
        );
        verdicts.forget(entryPath);
      }
    }
    return instance;
  }

  return {
    name: 'process',
    start,
    async close() {
      closed = true;
      for (const d of deferred.values()) clock.clearTimer(d.timer);
      deferred.clear();
      stemCells.close();
      await Promise.all([...instances].map((instance) => instance.stop()));
    },
    stemCellCounts: () => stemCells.counts(),
    stemCellsSettled: () => stemCells.settled(),
    stemCellPids: () => stemCells.pids(),
    runtimeSnapshotFor: (memoryMb) =>
      snapshots
        ? snapshots.runtimeBlob(memoryMb)
        : Promise.reject(new KindlingError('KINDLING_UNAVAILABLE', 'snapshots are off for this tier')),
    runtimeStartTrial: async (memoryMb) => {
      if (!snapshots) throw new KindlingError('KINDLING_UNAVAILABLE', 'snapshots are off for this tier');
      return trialOf(memoryMb, await snapshots.runtimeBlob(memoryMb)).done;
    },
    forgetCode: async (codeDirs, dryRun) =>
      snapshots ? snapshots.forgetCode(codeDirs, dryRun) : { removed: 0, bytes: 0 },
    snapshotFor: (spec) => {
      if (!snapshots)
        return Promise.reject(new KindlingError('KINDLING_UNAVAILABLE', 'snapshots are off for this tier'));
      return snapshots.ensure({
        entryPath: checkSpec(spec),
        codeDir: spec.codeDir,
        memoryMb: spec.memoryMb,
        env: { ...baseEnv, ...spec.env },
      });
    },
  };
}

/** Signals by which a process crashes by itself (not the watchdog's or a timeout's SIGKILL). */
const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT', 'SIGTRAP']);

/** The crash signal of a start that failed because its process died of one, else undefined. */
function crashSignal(err: unknown): string | undefined {
  if (!KindlingError.is(err) || err.code !== 'KINDLING_INIT_FAILED') return undefined;
  const signal = (err.details as { signal?: unknown } | undefined)?.signal;
  return typeof signal === 'string' && CRASH_SIGNALS.has(signal) ? signal : undefined;
}

/**
 * A start from `blob` that failed for the blob's sake: its restore crashed (`signal`; `start`
 * discards the blob) or the blob was deleted before the process opened it. Either way `start`
 * starts again without snapshots.
 */
class SnapshotStartFailed extends Error {
  constructor(
    readonly blob: string,
    readonly signal: string | undefined,
    cause: unknown,
  ) {
    super(signal ? `restoring ${blob} crashed (${signal})` : `${blob} was gone before it was restored`, {
      cause,
    });
  }
}

/** Rejects specs the tier cannot run, with the fix in the message; returns the entry's absolute path. */
function checkSpec(spec: InstanceSpec): string {
  const inside = checkInstanceSpec(
    spec,
    'process',
    MIN_MEMORY_MB,
    ' (an idle Node process alone uses ~40 MiB)',
  );
  return resolve(spec.codeDir, inside);
}

/** The runtime's fault-in settings for a spec whose image is still arriving. */
function faultInOf(spec: InstanceSpec): { faultIn?: FaultInConfig } {
  return spec.pending
    ? { faultIn: { root: spec.codeDir, listPath: join(spec.codeDir, spec.pending.listFile) } }
    : {};
}
