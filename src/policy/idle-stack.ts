/**
 * Idle times per instance, measured the way the pool hands out work, from the two events a
 * {@link KeepAlivePolicy} hears: an instance going idle (`onIdle`) pushes its idle start; an
 * arrival (`onInvocation`) pops the most recent one, exactly as the pool (and the simulator) give an
 * arrival the most recently used idle instance. The popped gap is the idle time that instance had,
 * or would have had if it had been kept: the samples depend on the workload only, not on what a
 * policy evicted, so a policy that learns from them has no feedback loop.
 *
 * Why per instance and not per function: with several instances (a function whose invocations
 * overlap, at the pool's default concurrency of 1), the gap between a function's arrivals is not
 * the idle time of any instance. Fourteen invocations a few seconds apart every five minutes have
 * arrival gaps of seconds, but each of the fourteen instances idles for three to five minutes; a
 * window sized from the arrival gaps evicts them all. With one instance per function (the model of
 * Shahrad et al.) the two definitions agree, except that an arrival while the instance is busy
 * ends no idle period and yields no sample.
 */

/** One ended idle period. */
export interface IdleSample {
  /** How long the instance was (or would have been) idle, ms. */
  idleMs: number;
  /** How many other idle instances were under it on the stack when it went idle. */
  depth: number;
}

/** Open idle periods remembered by default; beyond that the oldest (deepest) are dropped. */
export const DEFAULT_IDLE_STACK_LIMIT = 4096;

/** The idle periods of one function's instances; see the file comment. */
export class IdleStack {
  private readonly starts: number[] = [];
  private readonly depths: number[] = [];

  constructor(private readonly limit = DEFAULT_IDLE_STACK_LIMIT) {}

  /** Instances idle now (or that would be, had none been evicted). */
  get size(): number {
    return this.starts.length;
  }

  /** An instance went idle at `now`; returns its depth (idle instances under it). */
  push(now: number): number {
    const depth = this.starts.length;
    this.starts.push(now);
    this.depths.push(depth);
    if (this.starts.length > this.limit) {
      this.starts.shift();
      this.depths.shift();
    }
    return depth;
  }

  /**
   * An arrival at `now` takes the most recently idle instance; returns its idle period, or
   * undefined when none is idle (every instance busy: the arrival needs a new one).
   */
  pop(now: number): IdleSample | undefined {
    const start = this.starts.pop();
    const depth = this.depths.pop();
    if (start === undefined || depth === undefined) return undefined;
    return { idleMs: Math.max(0, now - start), depth };
  }
}
