/**
 * A binary min-heap of timed events, ordered by time and then by insertion order, so events at the
 * same instant run first-scheduled first: a simulation run is deterministic. Cancelling is lazy (a
 * flag checked when the event reaches the top) so it is O(1), which matters when policies re-arm
 * keep-alive timers on every invocation.
 */

/** One scheduled event. */
export interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Min-heap of {@link SimEvent}s. */
export class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seq = 0;
  private live = 0;

  /** Events scheduled and not yet run or cancelled. */
  get size(): number {
    return this.live;
  }

  /** Schedules `fn` at time `at`. */
  push(at: number, fn: () => void): SimEvent {
    const ev: SimEvent = { at, seq: this.seq++, fn, cancelled: false };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(ev, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = ev;
    this.live++;
    return ev;
  }

  /** Cancels an event that has not run yet (no effect on one that has). */
  cancel(ev: SimEvent): void {
    if (ev.cancelled) return;
    ev.cancelled = true;
    this.live--;
  }

  /** Time of the next live event, or undefined when there is none. */
  peekTime(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Removes and returns the next live event. */
  pop(): SimEvent | undefined {
    this.dropCancelled();
    const top = this.heap[0];
    if (!top) return undefined;
    this.removeTop();
    this.live--;
    // Marked so a later cancel() of an event that already ran does not miscount.
    top.cancelled = true;
    return top;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.removeTop();
  }

  private removeTop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[child]!, last)) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
