/**
 * Coalesces calls made in the same tick into one batched call: the fetcher's lanes each ask for one
 * block's sources, and the control plane sees a single request for all of them.
 */

/** Collects items until the current microtasks have run, then calls `flush` once with all of them. */
export class MicrotaskBatcher<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];

  /** `flush` gets the items in call order and answers one result per item, in the same order. */
  constructor(private readonly flush: (items: T[]) => Promise<R[]>) {}

  /** Adds `item` to the current batch; resolves with its result. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.pending.length === 0) queueMicrotask(() => void this.run());
      this.pending.push({ item, resolve, reject });
    });
  }

  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const results = await this.flush(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i] as R));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
