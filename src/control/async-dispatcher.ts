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

  /** Wakes the dispatcher after an enqueue. */
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
  }

  private async run(job: NonNullable<ReturnType<InvocationStore['claimNext']>>): Promise<void> {
    const { invocations, functions, invoker, clock } = this.deps;
    const startedAt = clock.now();
    try {
      const version = functions.getVersion(job.tenant, job.functionName, job.version);
      const created = invocations.get(job.id)?.createdAt ?? startedAt;
      const res = await invoker.execute({
        id: job.id,
        version,
        event: JSON.parse(job.payload) as unknown,
        mode: 'async',
        queuedMs: Math.max(0, startedAt - created),
      });
      invocations.complete(job.id, res.completion);
    } catch (err) {
      const error = toKindlingError(err);
      if (error.code === 'KINDLING_TOO_MANY_REQUESTS') {
        invocations.requeue(job.id);
        this.backOff();
        return;
      }
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
