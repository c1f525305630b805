/**
 * The simulator's virtual clock: a {@link Clock} whose timers are events in an {@link EventQueue}.
 * Policy, pool and tree code written against `Clock` runs on it unchanged; time only moves when
 * the simulation runs the next event, so a day of trace takes as long as its events take to process.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import { EventQueue, type SimEvent } from './event-queue.js';

/** A virtual clock driving a discrete-event simulation. */
export class SimClock implements Clock {
  private current: number;
  private readonly queue = new EventQueue();
  private processed = 0;

  /** @param start virtual time at which the simulation begins, ms */
  constructor(start = 0) {
    if (!Number.isFinite(start))
      throw new KindlingError('KINDLING_INVALID_CONFIG', `SimClock start must be finite, got ${start}`);
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    if (Number.isNaN(ms)) throw new KindlingError('KINDLING_BAD_REQUEST', 'SimClock.setTimer: delay is NaN');
    return this.queue.push(this.current + Math.max(0, ms), fn) as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle): void {
    this.queue.cancel(handle as unknown as SimEvent);
  }

  /** Schedules `fn` at absolute virtual time `at` (not before now). */
  at(at: number, fn: () => void): TimerHandle {
    return this.setTimer(fn, at - this.current);
  }

  /** Virtual time of the next pending event, or undefined when none is left (for drivers that
   * interleave events with promise continuations, like the distribution simulation). */
  nextEventAt(): number | undefined {
    return this.queue.peekTime();
  }

  /** Events still pending. */
  get pending(): number {
    return this.queue.size;
  }

  /** Events run so far. */
  get eventsProcessed(): number {
    return this.processed;
  }

  /**
   * Runs events in time order until none is left or the next one is after `until` (then the clock
   * stops at `until`). Returns the number of events run.
   */
  run(until = Number.POSITIVE_INFINITY): number {
    let n = 0;
    for (;;) {
      const t = this.queue.peekTime();
      if (t === undefined || t > until) break;
      const ev = this.queue.pop()!;
      this.current = ev.at;
      ev.fn();
      n++;
    }
    if (Number.isFinite(until) && until > this.current) this.current = until;
    this.processed += n;
    return n;
  }
}
