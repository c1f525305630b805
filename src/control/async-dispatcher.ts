/**
 * Runs async invocations from the durable SQLite queue. On start it puts back in the queue whatever
 * was running when the platform last died, so an accepted invocation is completed at least once.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { toKindlingError } from '../core/errors.js';
import type { FunctionStore } from './functions.js';
import type { InvocationStore } from './invocations.js';
import type { Invoker } from './invoker.js';

/** Delay before retrying when the function's pool refused (429). */
const BUSY_RETRY_MS = 200;

export class AsyncDispatcher {
  /**
   * When each invocation accepted by this process arrived (`clock.monotonic()`), until it has run:
   * its `queue` phase is measured from there to its dispatch, at the monotonic clock's resolution.
   * One accepted before a restart is measured from its durable `createdAt` (wall clock, whole ms).
   */
  private readonly acceptedAt = new Map<string, number>();
  private running = 0;
  private stopped = true;
  private retry: TimerHandle | undefined;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly deps: {
      invocations: InvocationStore;
      functions: FunctionStore;
      invoker: Invoker;
      clock: Clock;
      /** Async invocations run at once, across all functions. */
      concurrency: number;
      onError(err: unknown): void;
    },
  ) {}

  /** Requeues interrupted work and starts dispatching. Returns how many invocations were requeued. */
  start(): number {
    this.stopped = false;
    const requeued = this.deps.invocations.requeueInterrupted();
    this.notify();
    return requeued;
  }

  /**
   * Takes note of an invocation just enqueued, which arrived at `arrivedAt` (on `clock.monotonic()`'s
   * scale: the gateway's `performance.now()` at the request's arrival), and wakes the dispatcher.
   */
  accepted(id: string, arrivedAt: number): void {
    this.acceptedAt.set(id, arrivedAt);
    this.notify();
  }

  /** Wakes the dispatcher (after an enqueue, or when capacity frees up). */
  notify(): void {
    // While backing off after a 429, claiming again would only spin on the same busy function.
    if (this.retry) return;
    while (!this.stopped && this.running < this.deps.concurrency) {
      const job = this.deps.invocations.claimNext(this.deps.clock.now());
      if (!job) break;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        if (this.running === 0) for (const fn of this.idle) fn();
        this.notify();
      });
    }
  }

  /** Stops taking new work and waits for what is running. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) this.deps.clock.clearTimer(this.retry);
    if (this.running > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
    // What is still queued runs after the next start, measured from its createdAt.
    this.acceptedAt.clear();
  }

  private async run(job: NonNullable<ReturnType<InvocationStore['claimNext']>>): Promise<void> {
    const { invocations, functions, invoker, clock } = this.deps;
    const startedAt = clock.now();
    const arrived = this.acceptedAt.get(job.id);
    const queuedMs =
      arrived !== undefined ? clock.monotonic() - arrived : Math.max(0, startedAt - job.createdAt);
    try {
      const version = functions.getVersion(job.tenant, job.functionName, job.version);
      const res = await invoker.execute({
        id: job.id,
        version,
        event: JSON.parse(job.payload) as unknown,
        mode: 'async',
        queuedMs,
      });
      invocations.complete(job.id, res.completion);
      this.acceptedAt.delete(job.id);
    } catch (err) {
      const error = toKindlingError(err);
      if (error.code === 'KINDLING_TOO_MANY_REQUESTS') {
        // Back in the queue, still measured from its arrival.
        invocations.requeue(job.id);
        this.backOff();
        return;
      }
      this.acceptedAt.delete(job.id);
      if (error.isUserError === false) this.deps.onError(error);
      invocations.complete(job.id, {
        status: 'failed',
        error: error.toJSON().error,
        logs: [],
        logsDroppedBytes: 0,
        startedAt,
        finishedAt: clock.now(),
      });
    }
  }

  private backOff(): void {
    if (this.retry || this.stopped) return;
    this.retry = this.deps.clock.setTimer(() => {
      this.retry = undefined;
      this.notify();
    }, BUSY_RETRY_MS);
  }
}
