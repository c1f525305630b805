/**
 * Whether a function's snapshot still pays for itself. A snapshot skips the function's init but
 * restores the heap that init built, and restoring grows with the heap: a function whose init
 * fills 39 MiB of Buffers was ready in ~155 ms restored from its 45 MB snapshot, against ~90 ms
 * started plain (measured 2026-12-06, an idle 2-core machine), and during a trace replay's bursts
 * its restores took 2 to 4 s each. So the process tier keeps, per function entry, what its last cold starts
 * cost from the snapshot and without it (spawn, runtime boot and init: everything a snapshot can
 * change), and gives the snapshot up once it has been tried a few times and was not the cheaper.
 */

/** What the medians of the two kinds of start were when the snapshot lost. */
export interface SnapshotLoss {
  snapshotMs: number;
  withoutMs: number;
  /** Starts from the snapshot the verdict rests on. */
  samples: number;
}

/** How many starts of each kind are remembered per entry. */
const WINDOW = 8;

/** Per function entry: start costs with and without its snapshot (see the module comment). */
export class SnapshotVerdicts {
  private readonly costs = new Map<string, { snapshot: number[]; without: number[] }>();

  /** @param minSnapshotStarts starts from the snapshot before it can be judged (default 3). */
  constructor(private readonly minSnapshotStarts = 3) {}

  /** Records one cold start of `entry`: `fromSnapshot` or not, costing `ms`. */
  record(entry: string, fromSnapshot: boolean, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    let c = this.costs.get(entry);
    if (!c) this.costs.set(entry, (c = { snapshot: [], without: [] }));
    const list = fromSnapshot ? c.snapshot : c.without;
    list.push(ms);
    if (list.length > WINDOW) list.shift();
  }

  /**
   * The loss, when `entry`'s snapshot has been tried enough and its median start was not cheaper
   * than the median start without it; undefined while it wins or cannot be judged yet.
   */
  loss(entry: string): SnapshotLoss | undefined {
    const c = this.costs.get(entry);
    if (!c || c.snapshot.length < this.minSnapshotStarts || c.without.length === 0) return undefined;
    const snapshotMs = median(c.snapshot);
    const withoutMs = median(c.without);
    return snapshotMs >= withoutMs ? { snapshotMs, withoutMs, samples: c.snapshot.length } : undefined;
  }

  /** Forgets `entry` (its snapshot was given up, or the function is gone). */
  forget(entry: string): void {
    this.costs.delete(entry);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
