/**
 * Time, injected. Scheduler, pool and policy code take a Clock instead of calling `Date.now()` or
 * `setTimeout`, so the simulator can run the same code on virtual time and tests run exactly.
 */
export interface Clock {
  /** Milliseconds since the epoch (wall clock for the system clock, virtual time in the simulator). */
  now(): number;
  /** Monotonic high-resolution milliseconds, for measuring durations. */
  monotonic(): number;
  /** Runs `fn` after `ms`; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Opaque timer handle. */
export interface TimerHandle {
  readonly __timer: unique symbol;
}

/** The real clock. Timers are unref'd so they never keep a process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t as unknown as TimerHandle;
  },
  clearTimer(handle) {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};

/** A clock that only moves when told to; for tests and the simulator. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.current + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as unknown as number);
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers)
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.current = next[1].at;
      next[1].fn();
    }
    this.current = target;
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.timers.size;
  }
}
