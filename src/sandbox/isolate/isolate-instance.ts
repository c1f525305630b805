/**
 * One isolate instance: a V8 isolate (isolated-vm) in the host process, with the user's module
 * loaded and Kindling's globals installed. The host ends it by disposing the isolate, which stops
 * even a `while (true) {}` on the isolate's thread.
 */
import type ivm from 'isolated-vm';
import { KindlingError } from '../../core/errors.js';
import type {
  ExitInfo,
  InvokeOutcome,
  InvokeRequest,
  LogLine,
  SandboxInstance,
  StartTimings,
} from '../tier.js';
import type { DriverInvokeResult, DriverLogs, DriverTimerResult } from './runtime/bootstrap.js';
import {
  abortError,
  collateralError,
  fromDriver,
  memoryLimitError,
  notRunningError,
  timeoutError,
} from './isolate-errors.js';
import type { IsolateLabel } from './isolate-errors.js';

/** Why the host ended an isolate. */
type EndReason = ExitInfo['reason'];

interface Pending {
  requestId: string;
  settle: (outcome: InvokeOutcome) => void;
  started: number;
}

/** Everything an instance is built from (made by the tier's start sequence). */
export interface IsolateParts {
  isolate: ivm.Isolate;
  context: ivm.Context;
  invokeRef: ivm.Reference;
  fireRef: ivm.Reference;
  label: IsolateLabel;
  logLimitBytes: number;
  /** Called once the instance has ended (the tier forgets it). */
  onEnd: () => void;
}

/** The isolate tier's SandboxInstance. */
export class IsolateInstance implements SandboxInstance {
  readonly tier = 'isolate' as const;
  readonly pid = undefined;
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  private resolveExit!: (info: ExitInfo) => void;
  private ending = false;
  private readonly pending = new Map<string, Pending>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private instanceLines: LogLine[] = [];
  private instanceUsed = 0;
  private instanceDropped = 0;
  private heapBytes: number | undefined;
  private startTimings: StartTimings | undefined;
  /** Why the instance ended; undefined while it runs. */
  endReason: EndReason | undefined;

  constructor(private readonly parts: IsolateParts) {
    this.id = parts.label.instanceId;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.refreshMemory();
  }

  /** Where the start's time went; set by the tier once the module has loaded. */
  get timings(): StartTimings {
    if (!this.startTimings)
      throw new KindlingError('KINDLING_INTERNAL', `instance ${this.id} has not started yet`);
    return this.startTimings;
  }

  /** Records the start's timings (the instance is handed out only after this). */
  ready(timings: StartTimings): void {
    this.startTimings = timings;
  }

  get inflight(): number {
    return this.pending.size;
  }

  get alive(): boolean {
    return !this.ending;
  }

  /**
   * Heap in use plus ArrayBuffers, from the last reading. Read asynchronously after each invocation:
   * a synchronous read would wait for the isolate's lock, and a spinning handler never releases it.
   */
  memoryBytes(): number | undefined {
    return this.heapBytes;
  }

  /** Output of module top-level code, timers and console calls no single invocation owned. */
  takeInstanceLogs(): { logs: LogLine[]; droppedBytes: number } {
    const out = { logs: this.instanceLines, droppedBytes: this.instanceDropped };
    this.instanceLines = [];
    this.instanceUsed = 0;
    this.instanceDropped = 0;
    return out;
  }

  /** Adds lines the driver kept for the instance, within the same budget as one invocation. */
  addInstanceLogs(logs: DriverLogs): void {
    this.instanceDropped += logs.dropped;
    for (const line of logs.lines) {
      const bytes = Buffer.byteLength(line.msg) + 1;
      if (this.instanceUsed + bytes > this.parts.logLimitBytes) this.instanceDropped += bytes;
      else {
        this.instanceLines.push(line);
        this.instanceUsed += bytes;
      }
    }
  }

  invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    const label = this.parts.label;
    const refuse = (error: KindlingError): Promise<InvokeOutcome> =>
      Promise.resolve({ ok: false, error, execMs: 0, logs: [], logsDroppedBytes: 0 });
    if (this.ending) return refuse(notRunningError(label));
    if (this.pending.has(req.requestId)) {
      return refuse(
        new KindlingError('KINDLING_CONFLICT', `a request with this id is already running on ${this.id}`),
      );
    }
    if (req.signal?.aborted)
      return refuse(abortError(req.signal.reason, `invocation ${req.requestId} was aborted`));
    return new Promise<InvokeOutcome>((resolve) => {
      const started = performance.now();
      const onAbort = (): void => {
        const err = abortError(
          req.signal?.reason,
          `invocation ${req.requestId} was aborted; the instance was disposed`,
        );
        this.end('stopped', (p) =>
          p === entry ? err : collateralError(label, `invocation ${req.requestId} was aborted`),
        );
      };
      const entry: Pending = {
        requestId: req.requestId,
        started,
        settle: (outcome) => {
          if (this.pending.get(req.requestId) !== entry) return;
          this.pending.delete(req.requestId);
          clearTimeout(timer);
          req.signal?.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
      };
      this.pending.set(req.requestId, entry);
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => {
        const err = timeoutError(label, req.requestId, req.timeoutMs);
        const why = `invocation ${req.requestId} on the same instance hit its timeout of ${req.timeoutMs} ms`;
        this.end('timeout', (p) => (p === entry ? err : collateralError(label, why)));
      }, req.timeoutMs);
      const deadline = Date.now() + req.timeoutMs;
      this.parts.invokeRef
        .apply(undefined, [req.requestId, JSON.stringify(req.event ?? null), deadline], {
          result: { promise: true, copy: true },
        })
        .then(
          (raw: unknown) => this.finish(entry, raw as DriverInvokeResult),
          (err: unknown) => this.lost(entry, err),
        );
    });
  }

  /** Turns the driver's answer into an outcome; an ArrayBuffer refused at the limit ends the instance. */
  private finish(entry: Pending, result: DriverInvokeResult): void {
    this.addInstanceLogs(result.instance);
    const execMs = performance.now() - entry.started;
    const logs: LogLine[] = result.logs;
    if (!result.ok && result.memory) {
      const err = memoryLimitError(this.parts.label, this.heapBytes);
      this.end('memory', (p) =>
        p === entry ? err : collateralError(this.parts.label, 'another invocation reached the memory limit'),
      );
      return;
    }
    entry.settle(
      result.ok
        ? {
            ok: true,
            result: JSON.parse(result.json) as unknown,
            execMs,
            logs,
            logsDroppedBytes: result.dropped,
          }
        : {
            ok: false,
            error: fromDriver(result, this.parts.label),
            execMs,
            logs,
            logsDroppedBytes: result.dropped,
          },
    );
    this.refreshMemory();
  }

  /** The call into the isolate failed: isolated-vm disposed it (memory limit), or we did. */
  private lost(entry: Pending, err: unknown): void {
    if (this.ending) return; // already settled by end()
    if (this.parts.isolate.isDisposed) {
      const error = memoryLimitError(this.parts.label, undefined);
      this.end('memory', (p) =>
        p === entry
          ? error
          : collateralError(this.parts.label, 'another invocation reached the memory limit'),
      );
      return;
    }
    const error = new KindlingError(
      'KINDLING_INTERNAL',
      `the isolate tier could not run invocation ${entry.requestId}: ${err instanceof Error ? err.message : String(err)}`,
      { instanceId: this.id },
      { cause: err },
    );
    entry.settle({
      ok: false,
      error,
      execMs: performance.now() - entry.started,
      logs: [],
      logsDroppedBytes: 0,
    });
  }

  /** Bridge: the isolate asked for a timer; it runs on the host's event loop. */
  schedule(id: number, ms: number): void {
    if (this.ending) return;
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.fire(id);
    }, ms);
    this.timers.set(id, timer);
  }

  /** Bridge: the isolate cleared a timer. */
  cancel(id: number): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private fire(id: number): void {
    if (this.ending) return;
    this.parts.fireRef.apply(undefined, [id], { result: { copy: true } }).then(
      (raw: unknown) => {
        const result = raw as DriverTimerResult;
        this.addInstanceLogs(result.instance);
        if (!result.error) return;
        const { error } = result;
        if (error.memory) {
          this.end('memory', () => collateralError(this.parts.label, 'a timer reached the memory limit'));
          return;
        }
        const text = `Uncaught ${error.errorType}: ${error.message}${error.stack ? `\n${error.stack}` : ''}`;
        const why = `a timer callback threw an uncaught ${error.errorType}: ${error.message}`;
        this.end('crashed', () => collateralError(this.parts.label, why), text);
      },
      () => {
        if (this.ending) return;
        const why = 'the isolate reached its memory limit while a timer ran';
        if (this.parts.isolate.isDisposed) this.end('memory', () => collateralError(this.parts.label, why));
      },
    );
  }

  private refreshMemory(): void {
    if (this.ending) return;
    this.parts.isolate.getHeapStatistics().then(
      (stats) => {
        this.heapBytes = stats.used_heap_size + stats.externally_allocated_size;
      },
      () => undefined, // disposed meanwhile: the last reading stands
    );
  }

  async stop(): Promise<void> {
    this.end('stopped', () => collateralError(this.parts.label, 'the instance was stopped'));
    await this.exited;
  }

  /**
   * Ends the instance once: fails what is in flight (each with `errorFor`), clears its timers and
   * disposes the isolate, which stops any code running in it.
   */
  end(reason: EndReason, errorFor: (p: Pending) => KindlingError, stderrTail = ''): void {
    if (this.ending) return;
    this.ending = true;
    this.endReason = reason;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const p of [...this.pending.values()]) {
      p.settle({
        ok: false,
        error: errorFor(p),
        execMs: performance.now() - p.started,
        logs: [],
        logsDroppedBytes: 0,
      });
    }
    if (!this.parts.isolate.isDisposed) {
      try {
        this.parts.isolate.dispose();
      } catch (err) {
        // Disposing twice throws; isDisposed was checked, so anything else is worth a line.
        stderrTail += `${stderrTail ? '\n' : ''}dispose failed: ${String(err)}`;
      }
    }
    this.parts.onEnd();
    this.resolveExit({ reason, code: null, signal: null, stderrTail });
  }
}
