/**
 * Deadlines of the invocations in flight on one instance, on a single timer.
 *
 * A timer per invocation (allocate, link into Node's timer list, unlink) is measurable at tens of
 * thousands of warm invocations a second, and almost every one is cleared unfired. The invocations of
 * an instance share a timeout, so their deadlines arrive in order: an intrusive list kept sorted by
 * deadline (appended at the tail in the usual case) plus one timer for the earliest deadline does the
 * same job with a few pointer writes per invocation. When the head finishes first (or the queue
 * empties) the timer is left armed; it fires for nothing and is re-armed for the new head, if any.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

/** What the queue holds: an entry knows its deadline and what to do when it passes. */
export interface DeadlineEntry {
  /** `clock.monotonic()` value at which `expire` is due; set by {@link DeadlineQueue.add}. */
  deadline: number;
  /** Neighbours in the queue; owned by the queue. */
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  /** Called once, when the deadline passes while the entry is still queued. */
  expire(): void;
}

/** A deadline-ordered list of entries with one timer, armed for the earliest. */
export class DeadlineQueue {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: TimerHandle | undefined;
  /** When the armed timer fires (clock.monotonic()). */
  private timerAt = Infinity;
  private count = 0;

  constructor(private readonly clock: Clock) {}

  /** Entries queued. */
  get size(): number {
    return this.count;
  }

  /** Queues `entry` to expire `ms` from now. The entry must not be queued already. */
  add(entry: DeadlineEntry, ms: number): void {
    const deadline = this.clock.monotonic() + ms;
    entry.deadline = deadline;
    // Walk back from the tail to the last entry due no later than this one (usually the tail itself).
    let before = this.tail;
    while (before !== undefined && before.deadline > deadline) before = before.prevDeadline;
    const after = before === undefined ? this.head : before.nextDeadline;
    entry.prevDeadline = before;
    entry.nextDeadline = after;
    if (before === undefined) this.head = entry;
    else before.nextDeadline = entry;
    if (after === undefined) this.tail = entry;
    else after.prevDeadline = entry;
    this.count++;
    if (entry === this.head && deadline < this.timerAt) this.arm(ms);
  }

  /** Takes `entry` out (its work finished); a no-op when it is not queued. */
  remove(entry: DeadlineEntry): void {
    const { prevDeadline: prev, nextDeadline: next } = entry;
    if (prev === undefined && this.head !== entry) return;
    if (prev === undefined) this.head = next;
    else prev.nextDeadline = next;
    if (next === undefined) this.tail = prev;
    else next.prevDeadline = prev;
    entry.prevDeadline = undefined;
    entry.nextDeadline = undefined;
    this.count--;
  }

  /** Drops every entry without expiring any, and the timer. */
  clear(): void {
    while (this.head !== undefined) this.remove(this.head);
    this.disarm();
  }

  private arm(ms: number): void {
    this.disarm();
    this.timerAt = this.clock.monotonic() + ms;
    this.timer = this.clock.setTimer(() => this.fire(), ms);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Expires every entry that is due, then re-arms for the next one. */
  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.monotonic();
    for (let e = this.head; e !== undefined && e.deadline <= now; e = this.head) {
      this.remove(e);
      e.expire();
    }
    if (this.head !== undefined && this.timer === undefined)
      this.arm(Math.max(0, this.head.deadline - this.clock.monotonic()));
  }
}
