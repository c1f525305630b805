/**
 * One container-tier instance, host side. The process tier's host logic (`ProcessInstance`: the fd-3
 * channel, invocations, timeouts, log capture) runs unchanged on the `crun run` child: crun passes fd 3
 * into the container (`--preserve-fds 2`: the channel and the fault-request descriptor) and the container's stdout/stderr are crun's. This class adds
 * what only a container has: its timings, the memory cgroup's verdict, and tearing the container down.
 *
 * Killing crun does not kill the container (its init is in another PID namespace), so whenever crun
 * exits (normally, or SIGKILLed by the process logic on a timeout, stop or abort) the container is
 * killed and deleted with `crun kill` + `crun delete -f`, and its cgroups and config file removed;
 * `exited` resolves only after that.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Clock } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import type { ProcessInstance } from '../process/process-instance.js';
import { FrameDecoder } from '../process/protocol.cjs';
import type {
  ExitInfo,
  InvokeOutcome,
  InvokeRequest,
  LogLine,
  SandboxInstance,
  StartTimings,
  StartPath,
} from '../tier.js';
import { currentMemoryBytes, peakMemoryBytes, removeInstanceCgroups } from './cgroups.js';
import type { InstanceCgroup } from './cgroups.js';
import type { Crun } from './crun.js';

const MIB = 1024 * 1024;

/** What the tier hands an instance besides the process logic. */
export interface ContainerParts {
  clock: Clock;
  crun: Crun;
  containerId: string;
  instanceId: string;
  cgroup: InstanceCgroup;
  /** The tier's cgroup prefix, removed when the last instance is gone. */
  cgroupPrefix: string;
  /** The per-instance config file, removed at the end. */
  configPath: string;
  functionName: string;
  memoryMb: number;
  startPath: StartPath;
  /** `clock.monotonic()` just before crun was spawned. */
  spawnCalledAt: number;
  /** Runs after the container is deleted (a stem cell unmounts the function's code). */
  afterTeardown?: () => Promise<void>;
  /** A stem cell: the time spent mounting the function's code into it (part of `sandboxMs`). */
  cellMountMs?: number;
}

/** A container-tier instance; see the module comment. */
export class ContainerInstance implements SandboxInstance {
  /** {@inheritDoc SandboxInstance.tier} */
  readonly tier = 'container' as const;
  /** {@inheritDoc SandboxInstance.exited} */
  readonly exited: Promise<ExitInfo>;
  /** Set when the memory cgroup, not the host, ended the container. */
  private oomError: KindlingError | undefined;
  /** Node's own bootstrap time inside the container, from its `runtime-ready` frame. */
  private runtimeUptimeMs: number | undefined;
  private runtimeReadyAt: number | undefined;
  private cleanup: Promise<void> | undefined;
  /** cgroup dirs that could not be removed (reported, never silently kept). */
  leftovers: string[] | undefined;

  constructor(
    child: ChildProcess,
    private readonly inner: ProcessInstance,
    private readonly parts: ContainerParts,
  ) {
    this.tapRuntimeReady(child.stdio[3] as Socket);
    child.once('exit', (code, signal) => this.onCrunExit(code, signal));
    // If crun never started (spawn error), 'exit' may not come: 'close' still does.
    child.once('close', () => this.teardown());
    this.exited = inner.exited.then(async (info) => {
      await this.teardown();
      return this.oomError && (info.reason === 'crashed' || info.reason === 'exited')
        ? { ...info, reason: 'memory' }
        : info;
    });
  }

  /** {@inheritDoc SandboxInstance.id} */
  get id(): string {
    return this.inner.id;
  }
  /** The pid of `crun run` on the host (the container's processes are in its PID namespace). */
  get pid(): number | undefined {
    return this.inner.pid;
  }
  /** {@inheritDoc SandboxInstance.inflight} */
  get inflight(): number {
    return this.inner.inflight;
  }
  /** {@inheritDoc SandboxInstance.alive} */
  get alive(): boolean {
    return this.inner.alive;
  }
  /** The crun container id (as `crun list` shows it). */
  get containerId(): string {
    return this.parts.containerId;
  }

  /**
   * `sandboxMs`: from spawning crun until node runs inside the container (crun's whole create path);
   * `runtimeMs`: node's own bootstrap up to the shim being ready (its `process.uptime()` then);
   * `initMs`: loading the user's module, as the process tier measures it.
   */
  get timings(): StartTimings {
    const t = this.inner.timings;
    // A stem cell's container and node were up before the request: the process logic's own
    // timings (from the specialisation on) are the ones that were on the critical path.
    if (this.parts.startPath === 'stem-cell') {
      return { ...t, sandboxMs: t.sandboxMs + (this.parts.cellMountMs ?? 0), startPath: 'stem-cell' };
    }
    if (this.runtimeUptimeMs === undefined || this.runtimeReadyAt === undefined) {
      return { ...t, startPath: this.parts.startPath };
    }
    const toRuntimeReady = this.runtimeReadyAt - this.parts.spawnCalledAt;
    const runtimeMs = Math.min(this.runtimeUptimeMs, toRuntimeReady);
    return {
      sandboxMs: toRuntimeReady - runtimeMs,
      runtimeMs,
      initMs: t.initMs,
      startPath: this.parts.startPath,
    };
  }

  /** {@inheritDoc SandboxInstance.invoke} */
  async invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    const outcome = await this.inner.invoke(req);
    if (!outcome.ok && outcome.error.code === 'KINDLING_INSTANCE_CRASHED' && this.oomError) {
      return { ...outcome, error: this.oomError };
    }
    return outcome;
  }

  /** {@inheritDoc SandboxInstance.stop} */
  async stop(): Promise<void> {
    await this.inner.stop();
    await this.exited;
  }

  /** Memory charged to the container's cgroup (every process in it, plus its /tmp). */
  memoryBytes(): number | undefined {
    return currentMemoryBytes(this.parts.cgroup);
  }

  /** {@inheritDoc SandboxInstance.takeInstanceLogs} */
  takeInstanceLogs(): { logs: LogLine[]; droppedBytes: number } {
    return this.inner.takeInstanceLogs();
  }

  /** The error to report when a start failed because the memory cgroup killed the container. */
  startError(err: unknown): unknown {
    return this.oomError && KindlingError.is(err) && err.code === 'KINDLING_INIT_FAILED'
      ? this.oomError
      : err;
  }

  /** Reads frames alongside the process logic until `runtime-ready`, for its `uptimeMs`. */
  private tapRuntimeReady(channel: Socket | undefined): void {
    if (!channel) return;
    const onData = (chunk: Buffer) => decoder.push(chunk);
    const decoder = new FrameDecoder(
      (message) => {
        const msg = message as { type?: unknown; uptimeMs?: unknown };
        if (msg.type !== 'runtime-ready') return;
        this.runtimeReadyAt = this.parts.clock.monotonic();
        if (typeof msg.uptimeMs === 'number') this.runtimeUptimeMs = msg.uptimeMs;
        channel.off('data', onData);
      },
      // The process logic sees the same bytes and handles a corrupt stream; the tap just stops.
      () => channel.off('data', onData),
    );
    channel.on('data', onData);
  }

  /**
   * crun exits with the container's exit status (128 + n for a signal). A SIGKILL the host did not
   * send, with the container's memory at its limit, is the memory cgroup's OOM killer. Read now,
   * synchronously, before the process logic answers anyone.
   */
  private onCrunExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (signal === null && code === 128 + 9) {
      const peak = peakMemoryBytes(this.parts.cgroup) ?? 0;
      const limit = this.parts.memoryMb * MIB;
      if (peak >= limit - 2 * MIB) this.oomError = cgroupOomError(this.parts, peak);
    }
    void this.teardown();
  }

  /** Kills and deletes the container, removes its cgroups and config file. Runs once. */
  private teardown(): Promise<void> {
    this.cleanup ??= (async () => {
      const { crun, containerId } = this.parts;
      // After a normal exit `crun run` has deleted the container already; both then fail harmlessly.
      await crun.exec(['kill', containerId, 'KILL'], 5000);
      await crun.exec(['delete', '-f', containerId], 10_000);
      const left = await removeInstanceCgroups(this.parts.cgroup, this.parts.cgroupPrefix);
      if (left.length > 0) this.leftovers = left;
      await unlink(this.parts.configPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await this.parts.afterTeardown?.();
    })();
    return this.cleanup;
  }
}

/** KINDLING_MEMORY_LIMIT when the container's memory cgroup killed it. */
function cgroupOomError(parts: ContainerParts, peakBytes: number): KindlingError {
  const usedMb = Math.ceil(peakBytes / MIB);
  return new KindlingError(
    'KINDLING_MEMORY_LIMIT',
    `function "${parts.functionName}" used ${usedMb} MiB, reaching its memory limit of ${parts.memoryMb} MiB, and ` +
      `the container's memory cgroup killed it; raise memoryMb or use less memory (Buffers, other off-heap ` +
      `memory and files in /tmp count too). Instance ${parts.instanceId} ended and will be replaced.`,
    { usedMb, limitMb: parts.memoryMb, kind: 'cgroup', instanceId: parts.instanceId },
  );
}
