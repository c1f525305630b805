/**
 * One invocation in flight on a process instance, host side: its deadline, its abort listener, its
 * log capture, and its result while raw output it wrote is still being read from the pipes.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import type { InvokeOutcome, InvokeRequest } from '../tier.js';
import type { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { LogCapture } from './log-capture.js';
import { encodeFrame, MAX_FRAME_BYTES } from './protocol.cjs';

/** How an invocation ended, before logs and timings are attached. */
export type Settled = { ok: true; result: unknown } | { ok: false; error: KindlingError };

/** The instance an invocation runs on, as the invocation reports to it. */
export interface InvocationOwner {
  /** The instance's invocation deadlines (one timer for all of them). */
  readonly deadlines: DeadlineQueue;
  /** `p` ran past its timeout without an answer (called once). */
  timedOut(p: Invocation): void;
  /** `p`'s signal aborted before the answer (called once). */
  aborted(p: Invocation): void;
}

// A result waits at most this long for raw output the runtime counted but the host never receives
// (e.g. a function that replaced process.stdout.write with something that does not write).
const DRAIN_GRACE_MS = 2000;

/** An invocation in flight. `finish` answers it, once. */
export class Invocation implements DeadlineEntry {
  /** {@inheritDoc DeadlineEntry.deadline} */
  deadline = 0;
  /** {@inheritDoc DeadlineEntry.prevDeadline} */
  prevDeadline: DeadlineEntry | undefined = undefined;
  /** {@inheritDoc DeadlineEntry.nextDeadline} */
  nextDeadline: DeadlineEntry | undefined = undefined;
  private logs: LogCapture | undefined;
  private readonly startedAt: number;
  private drainTimer: TimerHandle | undefined;
  private settled: Settled | undefined;
  private execMs: number | undefined;
  private awaitOut: readonly [number, number] | undefined;
  private readonly onAbort: (() => void) | undefined;
  private finished = false;

  /**
   * Starts the timeout and listens for the abort.
   * @param resolve answers the caller of `SandboxInstance.invoke`; called once, by `finish`.
   */
  constructor(
    readonly requestId: string,
    private readonly clock: Clock,
    private readonly logLimitBytes: number,
    private readonly resolve: (outcome: InvokeOutcome) => void,
    /** Milliseconds the handler may run. */
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly owner: InvocationOwner,
  ) {
    this.startedAt = clock.monotonic();
    owner.deadlines.add(this, timeoutMs);
    if (signal) {
      this.onAbort = () => owner.aborted(this);
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /**
   * Its console and raw output, within the spec's `logLimitBytes`. Made on first use: most
   * invocations print nothing.
   */
  get capture(): LogCapture {
    return (this.logs ??= new LogCapture(this.logLimitBytes));
  }

  /** The capture, if anything has been captured (without making one). */
  get captureIfAny(): LogCapture | undefined {
    return this.logs;
  }

  /** {@inheritDoc DeadlineEntry.expire} */
  expire(): void {
    this.owner.timedOut(this);
  }

  /**
   * The runtime's answer arrived. It is held until the host has read `out` bytes of stdout/stderr (so
   * raw output lands on the invocation that wrote it), but no longer than a grace period.
   * @param onGraceOver called if the bytes never come; it should `finish(this.result)`.
   */
  settle(settled: Settled, out: readonly [number, number], onGraceOver: () => void): void {
    this.execMs = this.clock.monotonic() - this.startedAt;
    // The handler is done: waiting for its output to be read must not count against its timeout.
    this.owner.deadlines.remove(this);
    this.settled = settled;
    this.awaitOut = out;
    this.drainTimer = this.clock.setTimer(onGraceOver, DRAIN_GRACE_MS);
  }

  /** The held answer, if the runtime has sent it. */
  get result(): Settled | undefined {
    return this.settled;
  }

  /** True when the answer is held only for output that `covers` now says has been read. */
  readyWhen(covers: (out: readonly [number, number]) => boolean): boolean {
    return this.awaitOut !== undefined && covers(this.awaitOut);
  }

  /** Answers the caller with `settled` plus logs and timing. Idempotent. */
  finish(settled: Settled): void {
    if (this.finished) return;
    this.finished = true;
    this.owner.deadlines.remove(this);
    if (this.drainTimer !== undefined) this.clock.clearTimer(this.drainTimer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    const execMs = this.execMs ?? this.clock.monotonic() - this.startedAt;
    const taken = this.logs?.take();
    const logs = taken ? taken.logs : [];
    const logsDroppedBytes = taken ? taken.droppedBytes : 0;
    // Built field by field (not spread from `settled`): this runs once per invocation.
    this.resolve(
      settled.ok
        ? { ok: true, result: settled.result, execMs, logs, logsDroppedBytes }
        : { ok: false, error: settled.error, execMs, logs, logsDroppedBytes },
    );
  }
}

/** The invoke frame, or why the request cannot be sent (an event that is not JSON, or too big). */
export function encodeInvoke(req: InvokeRequest): Buffer | KindlingError {
  let frame: Buffer;
  try {
    frame = encodeFrame({
      type: 'invoke',
      requestId: req.requestId,
      event: req.event,
      timeoutMs: req.timeoutMs,
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return new KindlingError('KINDLING_INVALID_JSON', `the event cannot be serialised to JSON: ${reason}`);
  }
  const size = frame.length - 4;
  if (size <= MAX_FRAME_BYTES) return frame;
  return new KindlingError(
    'KINDLING_PAYLOAD_TOO_LARGE',
    `the event is ${size} bytes serialised, over the limit of ${MAX_FRAME_BYTES} bytes; send less`,
  );
}
