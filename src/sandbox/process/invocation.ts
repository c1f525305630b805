/**
 * One invocation in flight on a process instance, host side: its timeout timer, its abort listener,
 * its log capture, and its result while raw output it wrote is still being read from the pipes.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import type { InvokeOutcome, InvokeRequest } from '../tier.js';
import { LogCapture } from './log-capture.js';
import { encodeFrame, MAX_FRAME_BYTES } from './protocol.cjs';

/** How an invocation ended, before logs and timings are attached. */
export type Settled = { ok: true; result: unknown } | { ok: false; error: KindlingError };

/** What an invocation reacts to besides its result. */
export interface InvocationHooks {
  timeoutMs: number;
  /** Called once when `timeoutMs` passes without an answer. */
  onTimeout: () => void;
  signal: AbortSignal | undefined;
  /** Called once when `signal` aborts before the answer. */
  onAbort: () => void;
}

// A result waits at most this long for raw output the runtime counted but the host never receives
// (e.g. a function that replaced process.stdout.write with something that does not write).
const DRAIN_GRACE_MS = 2000;

/** An invocation in flight. `finish` answers it, once. */
export class Invocation {
  /** Its console and raw output, within the spec's `logLimitBytes`. */
  readonly capture: LogCapture;
  private readonly startedAt: number;
  private readonly timer: TimerHandle;
  private drainTimer: TimerHandle | undefined;
  private settled: Settled | undefined;
  private execMs: number | undefined;
  private awaitOut: readonly [number, number] | undefined;
  private readonly detach: () => void;
  private finished = false;

  /**
   * Starts the timeout and listens for the abort.
   * @param resolve answers the caller of `SandboxInstance.invoke`; called once, by `finish`.
   */
  constructor(
    readonly requestId: string,
    private readonly clock: Clock,
    logLimitBytes: number,
    private readonly resolve: (outcome: InvokeOutcome) => void,
    hooks: InvocationHooks,
  ) {
    this.capture = new LogCapture(logLimitBytes);
    this.startedAt = clock.monotonic();
    this.timer = clock.setTimer(hooks.onTimeout, hooks.timeoutMs);
    hooks.signal?.addEventListener('abort', hooks.onAbort, { once: true });
    this.detach = () => hooks.signal?.removeEventListener('abort', hooks.onAbort);
  }

  /**
   * The runtime's answer arrived. It is held until the host has read `out` bytes of stdout/stderr (so
   * raw output lands on the invocation that wrote it), but no longer than a grace period.
   * @param onGraceOver called if the bytes never come; it should `finish(this.result)`.
   */
  settle(settled: Settled, out: readonly [number, number], onGraceOver: () => void): void {
    this.execMs = this.clock.monotonic() - this.startedAt;
    // The handler is done: waiting for its output to be read must not count against its timeout.
    this.clock.clearTimer(this.timer);
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
    this.clock.clearTimer(this.timer);
    if (this.drainTimer !== undefined) this.clock.clearTimer(this.drainTimer);
    this.detach();
    const { logs, droppedBytes } = this.capture.take();
    const execMs = this.execMs ?? this.clock.monotonic() - this.startedAt;
    this.resolve({ ...settled, execMs, logs, logsDroppedBytes: droppedBytes });
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
