/**
 * A simulated host: a memory budget that instances are placed into, and (when the scenario has a
 * network) the id of its NIC in the {@link Network}.
 */
import { KindlingError } from '../core/errors.js';

/** Options of a simulated host. */
export interface SimHostOptions {
  id: string;
  /** Memory available to instances, MiB (> 0; Infinity for an unbounded host). */
  memoryMb: number;
}

/** A host with memory accounting. */
export class SimHost {
  readonly id: string;
  readonly memoryMb: number;
  private used = 0;
  private peak = 0;

  constructor(opts: SimHostOptions) {
    if (!(opts.memoryMb > 0))
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `host ${opts.id}: memoryMb must be > 0, got ${opts.memoryMb}`,
      );
    this.id = opts.id;
    this.memoryMb = opts.memoryMb;
  }

  /** Memory held now, MiB. */
  get usedMb(): number {
    return this.used;
  }

  /** Highest memory held so far, MiB (may exceed the budget when the caller over-commits). */
  get peakMb(): number {
    return this.peak;
  }

  /** Memory still free, MiB (negative when over-committed). */
  get freeMb(): number {
    return this.memoryMb - this.used;
  }

  /** True when `mb` more fits in the budget. */
  fits(mb: number): boolean {
    return this.used + mb <= this.memoryMb;
  }

  /** Takes `mb`; the caller decides whether over-committing is allowed (check {@link fits} first). */
  allocate(mb: number): void {
    this.used += mb;
    if (this.used > this.peak) this.peak = this.used;
  }

  /** Gives back `mb`. */
  free(mb: number): void {
    if (mb > this.used + 1e-6)
      throw new KindlingError(
        'KINDLING_INTERNAL',
        `host ${this.id}: freeing ${mb} MiB but only ${this.used} MiB held`,
      );
    this.used = Math.max(0, this.used - mb);
  }
}
