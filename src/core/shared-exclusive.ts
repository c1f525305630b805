/**
 * A lock of two kinds in one process: any number of shared holders at once, or one exclusive holder
 * alone. An exclusive request waits for the shared holders inside to leave and keeps new ones out
 * until it is done, so it cannot starve. The registry's writes hold it shared and its garbage
 * collection exclusive, so a collection never sees half of a push.
 */
export class SharedExclusiveLock {
  private holders = 0;
  private exclusive: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  /** Runs `work` holding the lock shared. */
  async shared<T>(work: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    this.holders++;
    try {
      return await work();
    } finally {
      if (--this.holders === 0) this.drained?.();
    }
  }

  /** Runs `work` holding the lock alone, once the shared holders already inside have left. */
  async exclusively<T>(work: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let release!: () => void;
    this.exclusive = new Promise<void>((resolve) => (release = resolve));
    try {
      while (this.holders > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      this.drained = undefined;
      return await work();
    } finally {
      this.exclusive = undefined;
      release();
    }
  }
}
