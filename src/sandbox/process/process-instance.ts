/**
 * One running process-tier instance, host side: the child process, its fd-3 channel, its in-flight
 * invocations, and the limits the host enforces on it (timeouts, the RSS watchdog, log budgets).
 *
 * Failures are decided in two places. When the host kills the process (timeout, memory, stop, abort,
 * a corrupt channel) it knows why at once, so in-flight work is answered immediately. When the process
 * ends by itself (process.exit, an uncaught exception, V8 out of memory) the host waits for the pipes to
 * close so the last stderr lines and frames are read, then answers from what it saw.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import type {
  ExitInfo,
  InstanceSpec,
  InvokeOutcome,
  InvokeRequest,
  LogLine,
  SandboxInstance,
  StartPath,
  StartTimings,
} from '../tier.js';
import {
  abortError,
  collateralError,
  crashError,
  describeExit,
  exitReason,
  heapLimitError,
  initTimeoutError,
  invokeRefusal,
  lastLines,
  rssLimitError,
  spawnFailedError,
  timeoutError,
} from './instance-errors.js';
import type { ExitFacts, InstanceLabel, KillReason } from './instance-errors.js';
import { DeadlineQueue } from './deadline-queue.js';
import { encodeInvoke, Invocation } from './invocation.js';
import type { InvocationOwner, Settled } from './invocation.js';
import { LogCapture } from './log-capture.js';
import { readRssBytes, RssWatchdog } from './memory.js';
import { RawOutput } from './raw-output.js';
import type { StreamIndex } from './raw-output.js';
import { encodeFrame, FAULT_FD, FrameDecoder, FrameWriter } from './protocol.cjs';
import type { FatalMessage, ResultMessage, RuntimeMessage, SpecializeMessage } from './protocol.cjs';

/** The parts an instance receives from its tier. */
export interface InstanceParts {
  clock: Clock;
  /** How often the RSS watchdog samples; 0 disables it (the V8 heap limit still applies). */
  rssCheckIntervalMs: number;
  /** How long to wait for the pipes to close after the process exited (a grandchild may hold them). */
  exitGraceMs: number;
  /** The V8 heap share of memoryMb, for messages. */
  heapMb: number;
  /** How the process came to be: spawned for this instance (`plain`) or taken from the stem-cell pool. */
  startPath?: StartPath;
}

/** A process-tier instance. Created by the tier; `waitReady` settles the start. */
export class ProcessInstance implements SandboxInstance {
  /** {@inheritDoc SandboxInstance.tier} */
  readonly tier = 'process' as const;
  /** {@inheritDoc SandboxInstance.id} */
  readonly id: string;
  /** {@inheritDoc SandboxInstance.pid} */
  readonly pid: number | undefined;
  /** {@inheritDoc SandboxInstance.exited} */
  readonly exited: Promise<ExitInfo>;
  /** {@inheritDoc SandboxInstance.timings} (all zero until the instance is ready). */
  timings: StartTimings = { sandboxMs: 0, runtimeMs: 0, initMs: 0, startPath: 'plain' };
  /** Which export was taken as the handler (`default`, `handler`, `default.handler`, `main`, `default.main`). */
  handlerShape: string | undefined;

  private phase: 'starting' | 'ready' | 'ended' = 'starting';
  private killReason: KillReason | undefined;
  private fatal: FatalMessage | undefined;
  private exitStatus: { code: number | null; signal: string | null } | undefined;
  private spawnError: Error | undefined;
  private channelError: Error | undefined;
  private readonly pending = new Map<string, Invocation>();
  private readonly instanceLogs: LogCapture;
  private readonly raw: RawOutput;
  private readonly watchdog: RssWatchdog | undefined;
  private exitTimer: TimerHandle | undefined;
  private startWaiter: { resolve: () => void; reject: (err: KindlingError) => void } | undefined;
  private readonly at = { spawnCalled: 0, spawned: 0, runtimeReady: 0, runtimeReadyUptime: -1 };
  private resolveExited!: (info: ExitInfo) => void;
  /** Invoke frames leave in one write per event-loop turn. */
  private readonly writer: FrameWriter;
  private readonly label: InstanceLabel;
  /** What the in-flight invocations report to: their deadlines (one timer), timeouts and aborts. */
  private readonly owner: InvocationOwner;

  /**
   * @param child the spawned process, with stdio `['ignore', 'pipe', 'pipe', 'pipe', 'pipe']` (fd 3
   *   the channel, fd 4 fault requests; without fd 4 an instance cannot read files on demand).
   * @param spawnCalledAt `clock.monotonic()` just before `spawn()`, the start of `sandboxMs`.
   */
  constructor(
    private readonly child: ChildProcess,
    private readonly spec: InstanceSpec,
    private readonly parts: InstanceParts,
    spawnCalledAt: number,
  ) {
    this.id = spec.instanceId;
    this.pid = child.pid;
    this.label = {
      instanceId: spec.instanceId,
      functionName: spec.functionName,
      memoryMb: spec.memoryMb,
      heapMb: parts.heapMb,
    };
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.owner = {
      deadlines: new DeadlineQueue(parts.clock),
      timedOut: (p) => {
        const why = `invocation ${p.requestId} on the same instance exceeded its timeout of ${p.timeoutMs} ms`;
        this.kill('timeout', (q) =>
          q === p ? timeoutError(this.label, p.requestId, p.timeoutMs) : collateralError(this.label, why),
        );
      },
      aborted: (p) => {
        const err = abortError(
          p.signal?.reason,
          `invocation ${p.requestId} was aborted; the instance was killed`,
        );
        const why = `invocation ${p.requestId} on the same instance was aborted`;
        this.kill('stopped', (q) => (q === p ? err : collateralError(this.label, why)));
      },
    };
    this.instanceLogs = new LogCapture(spec.logLimitBytes);
    this.raw = new RawOutput(() => parts.clock.now(), spec.logLimitBytes);
    this.at.spawnCalled = spawnCalledAt;
    this.at.spawned = spawnCalledAt;
    const [, stdout, stderr, channel] = child.stdio as unknown as [null, Readable, Readable, Socket];
    this.writer = new FrameWriter(channel);
    const decoder = new FrameDecoder(
      (message) => this.onFrame(message),
      (reason) => this.killCorrupt(reason),
    );
    channel.on('data', (chunk: Buffer) => decoder.push(chunk));
    // A socketpair only fails when the child's end is gone (EPIPE, ECONNRESET): the exit path reports
    // the death; the error is kept for its details.
    channel.on('error', (err) => (this.channelError = err));
    stdout.on('data', (chunk: Buffer) => this.onRaw(0, chunk));
    stderr.on('data', (chunk: Buffer) => this.onRaw(1, chunk));
    const faults = child.stdio[FAULT_FD] as Readable | null | undefined;
    if (faults) readFaultRequests(faults, (paths) => void spec.pending?.fetch(paths));
    child.once('spawn', () => (this.at.spawned = parts.clock.monotonic()));
    child.on('error', (err) => (this.spawnError = err));
    child.once('exit', (code, signal) => this.onExit(code, signal));
    child.once('close', () => this.finalize());
    if (this.pid !== undefined) {
      this.watchdog = new RssWatchdog(
        parts.clock,
        this.pid,
        parts.rssCheckIntervalMs,
        spec.memoryMb * 1024 * 1024,
        (rss) => {
          const err = rssLimitError(this.label, rss);
          this.kill('memory', () => err, err);
        },
      );
    }
  }

  /** Tells a stem-cell process which function it now is (it then loads the code and reports `ready`). */
  specialize(msg: SpecializeMessage): void {
    this.writer.writeNow(encodeFrame(msg));
  }

  /** {@inheritDoc SandboxInstance.alive} */
  get alive(): boolean {
    return this.phase === 'ready' && this.killReason === undefined;
  }

  /** {@inheritDoc SandboxInstance.inflight} */
  get inflight(): number {
    return this.pending.size;
  }

  /** Resolves when the handler is ready; rejects (and the tier then stops the instance) otherwise. */
  waitReady(initTimeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = this.parts.clock.setTimer(() => {
        const err = initTimeoutError(this.label, initTimeoutMs);
        this.kill('timeout', () => err, err);
      }, initTimeoutMs);
      const onAbort = () => {
        const err = abortError(signal?.reason, `start of instance ${this.id} was aborted`);
        this.kill('stopped', () => err, err);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        this.parts.clock.clearTimer(timer);
        signal?.removeEventListener('abort', onAbort);
        this.startWaiter = undefined;
      };
      this.startWaiter = {
        resolve: () => (done(), resolve()),
        reject: (err) => (done(), reject(err)),
      };
    });
  }

  /** {@inheritDoc SandboxInstance.invoke} */
  invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    const refusal =
      invokeRefusal(this.label, this.alive, this.pending.has(req.requestId)) ??
      (req.signal?.aborted
        ? abortError(req.signal.reason, `invocation ${req.requestId} was aborted`)
        : undefined);
    const frame = refusal ?? encodeInvoke(req);
    if (KindlingError.is(frame)) {
      return Promise.resolve({ ok: false, error: frame, execMs: 0, logs: [], logsDroppedBytes: 0 });
    }
    return new Promise((resolve) => {
      const p = new Invocation(
        req.requestId,
        this.parts.clock,
        this.spec.logLimitBytes,
        resolve,
        req.timeoutMs,
        req.signal,
        this.owner,
      );
      this.pending.set(req.requestId, p);
      this.writer.write(frame);
    });
  }

  /** {@inheritDoc SandboxInstance.stop} */
  async stop(): Promise<void> {
    const err = new KindlingError('KINDLING_UNAVAILABLE', `instance ${this.id} was stopped while starting`);
    this.kill('stopped', () => collateralError(this.label, 'the instance was stopped'), err);
    await this.exited;
  }

  /** {@inheritDoc SandboxInstance.memoryBytes} */
  memoryBytes(): number | undefined {
    return this.phase !== 'ended' && this.pid !== undefined ? readRssBytes(this.pid) : undefined;
  }

  /**
   * Output that belongs to no single invocation (module top-level code, timers while several or no
   * invocations run), within the same byte budget; returns it and starts a new budget.
   */
  takeInstanceLogs(): { logs: LogLine[]; droppedBytes: number } {
    return this.instanceLogs.take();
  }

  private onFrame(message: unknown): void {
    // The child runs user code that can write to fd 3 too: a malformed frame ends the instance, never the host.
    try {
      this.handleFrame(message as RuntimeMessage);
    } catch (err) {
      this.killCorrupt(`unexpected frame (${(err as Error).message})`);
    }
  }

  private handleFrame(msg: RuntimeMessage): void {
    const clock = this.parts.clock;
    switch (msg.type) {
      case 'runtime-ready':
        this.at.runtimeReady = clock.monotonic();
        this.at.runtimeReadyUptime = msg.uptimeMs;
        return;
      case 'ready': {
        if (this.phase !== 'starting' || this.killReason) return;
        const readyAt = clock.monotonic();
        const runtimeReady = this.at.runtimeReady || readyAt;
        // The child's own clock splits runtime from init best: both frames often arrive in one read
        // (a small module loads in well under a millisecond), which would put all of it in `runtime`.
        const childInit = msg.uptimeMs - this.at.runtimeReadyUptime;
        const afterSpawn = readyAt - this.at.spawned;
        const initMs =
          this.at.runtimeReadyUptime >= 0 && childInit >= 0
            ? Math.min(childInit, afterSpawn)
            : readyAt - runtimeReady;
        this.timings = {
          sandboxMs: this.at.spawned - this.at.spawnCalled,
          runtimeMs: afterSpawn - initMs,
          initMs,
          startPath: this.parts.startPath ?? 'plain',
        };
        this.handlerShape = msg.shape;
        this.phase = 'ready';
        this.startWaiter?.resolve();
        return;
      }
      case 'init-error':
        this.startWaiter?.reject(KindlingError.fromJSON(msg.error));
        return;
      case 'log': {
        const capture = this.pending.get(msg.requestId)?.capture ?? this.instanceLogs;
        for (const [t, level, text] of msg.lines) capture.add(t, level, String(text));
        return;
      }
      case 'result':
        return this.onResult(msg);
      case 'fatal':
        this.fatal = msg;
        return;
      default:
        throw new TypeError(`unknown frame type ${JSON.stringify((msg as { type?: unknown }).type)}`);
    }
  }

  private onResult(msg: ResultMessage): void {
    const p = this.pending.get(msg.requestId);
    if (!p) return;
    const dropped = Number(msg.droppedBytes) || 0;
    if (dropped > 0) p.capture.addDropped(dropped);
    const settled: Settled = msg.ok
      ? { ok: true, result: msg.result }
      : { ok: false, error: KindlingError.fromJSON(msg.error) };
    // Usually the output is already read: answer at once, without arming the grace timer.
    if (this.coversOut(msg.out)) return this.complete(p, settled);
    p.settle(settled, msg.out, () => this.complete(p, settled));
    if (p.readyWhen(this.coversOut)) this.complete(p, settled);
  }

  private readonly coversOut = (out: readonly [number, number]) => this.raw.covers(out);

  private onRaw(index: StreamIndex, chunk: Buffer): void {
    // Raw bytes carry no request id: they belong to the invocation only when it is the only one running.
    const only = this.pending.size === 1 ? this.pending.values().next().value : undefined;
    this.raw.push(index, chunk, only ? only.capture : this.instanceLogs);
    for (const p of this.pending.values()) {
      if (p.result && p.readyWhen(this.coversOut)) this.complete(p, p.result);
    }
  }

  /** Answers one invocation and forgets it. */
  private complete(p: Invocation, settled: Settled): void {
    if (!this.pending.delete(p.requestId)) return;
    const capture = p.captureIfAny;
    if (capture) this.raw.flushOwnedBy(capture);
    p.finish(settled);
  }

  /**
   * Ends the instance on the host's decision: SIGKILL to its process group (taking any processes the
   * function spawned along), and every in-flight invocation answered now with `errorFor(it)`.
   */
  private kill(
    reason: KillReason,
    errorFor: (p: Invocation) => KindlingError,
    startError?: KindlingError,
  ): void {
    if (this.phase === 'ended' || this.killReason) return;
    this.killReason = reason;
    if (this.pid !== undefined && this.exitStatus === undefined) {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        // The group is gone or was never formed: fall back to the process itself.
        this.child.kill('SIGKILL');
      }
    }
    for (const p of [...this.pending.values()]) this.complete(p, { ok: false, error: errorFor(p) });
    if (this.startWaiter) {
      this.startWaiter.reject(
        startError ?? new KindlingError('KINDLING_INIT_FAILED', `${this.id} was killed`),
      );
    }
  }

  private killCorrupt(reason: string): void {
    const why = `its runtime sent a corrupt frame on the host channel (${reason})`;
    const err = collateralError(this.label, why);
    this.kill('crashed', () => err, new KindlingError('KINDLING_INIT_FAILED', `instance ${this.id}: ${why}`));
  }

  private onExit(code: number | null, signal: string | null): void {
    this.exitStatus = { code, signal };
    this.watchdog?.stop();
    // 'close' follows once the pipes have drained; a grandchild holding them open must not stall us.
    this.exitTimer = this.parts.clock.setTimer(() => this.finalize(), this.parts.exitGraceMs);
  }

  /** The process is gone and its pipes are drained (or the grace ran out): answer everything left. */
  private finalize(): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    const clock = this.parts.clock;
    this.watchdog?.stop();
    if (this.exitTimer !== undefined) clock.clearTimer(this.exitTimer);
    this.raw.flushAll();
    const facts: ExitFacts = {
      code: this.exitStatus?.code ?? null,
      signal: this.exitStatus?.signal ?? null,
      killReason: this.killReason,
      fatal: this.fatal,
      stderrTail: this.raw.stderrTail(),
      channelError: this.channelError?.message,
    };
    const reason = exitReason(facts);
    const idle = this.pending.size === 0 && !this.startWaiter;
    const oom =
      reason === 'memory' && !this.killReason
        ? heapLimitError(this.label, this.watchdog?.peakBytes ?? 0)
        : undefined;
    for (const p of [...this.pending.values()]) {
      this.complete(p, p.result ?? { ok: false, error: oom ?? crashError(this.label, facts, 'invocation') });
    }
    if (this.startWaiter) {
      const spawnFailed = this.spawnError !== undefined && this.pid === undefined;
      this.startWaiter.reject(
        spawnFailed
          ? spawnFailedError(this.label, this.spec.codeDir, this.spawnError)
          : (oom ?? crashError(this.label, facts, 'start')),
      );
    }
    this.owner.deadlines.clear();
    for (const stream of this.child.stdio) stream?.destroy();
    this.resolveExited({
      reason,
      code: facts.code,
      signal: facts.signal,
      stderrTail: lastLines(facts.stderrTail, 20),
      description: describeExit(facts),
      idle,
    });
  }
}

/** Longest fault request line kept (a runtime sends one JSON array of paths per line). */
const FAULT_LINE_LIMIT = 1024 * 1024;

/**
 * Reads the runtime's fault requests ({@link FAULT_FD}): one JSON array of image paths per line.
 * Anything else (user code may write to the descriptor too) is dropped.
 */
function readFaultRequests(stream: Readable, onPaths: (paths: string[]) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > FAULT_LINE_LIMIT) partial = '';
    for (const line of lines) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (Array.isArray(parsed)) onPaths(parsed.filter((p): p is string => typeof p === 'string'));
    }
  });
  // The runtime's end closing it is normal; errors end with the process, reported elsewhere.
  stream.on('error', () => {});
}
