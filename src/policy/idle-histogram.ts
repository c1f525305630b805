/**
 * A histogram of idle times, the data structure behind the hybrid-histogram policy of Shahrad et
 * al., "Serverless in the Wild" (USENIX ATC'20), §4.2: a fixed number of fixed-width bins (240 bins
 * of 1 minute = 4 hours by default) plus a count of idle times beyond the range. Memory per
 * function is constant, which is why the paper chose it over keeping raw samples.
 */
import { KindlingError } from '../core/errors.js';

/** A copy of a histogram's state, for inspection (the dashboard draws `counts`). */
export interface IdleHistogramSnapshot {
  /** Width of one bin in ms. */
  binMs: number;
  /** `counts[i]` = idle times that round to `i` bins, i.e. lie in [(i − ½)·binMs, (i + ½)·binMs). */
  counts: number[];
  /** Idle times at or beyond the last bin (the range end). */
  outOfRange: number;
  /** All idle times recorded. */
  total: number;
  /** Coefficient of variation of the in-range bin counts (0 when there are none). */
  cv: number;
}

/** Fixed-width bins of idle times; see the file comment. */
export class IdleHistogram {
  private readonly counts: number[];
  private inRangeCount = 0;
  private oob = 0;

  /**
   * @param binMs width of a bin (1 minute in the paper)
   * @param bins number of bins (240 in the paper: a 4-hour range)
   */
  constructor(
    readonly binMs = 60_000,
    readonly bins = 240,
  ) {
    if (!(binMs > 0) || !Number.isInteger(bins) || bins < 1)
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `idle histogram needs binMs > 0 and an integer bins ≥ 1, got binMs=${binMs}, bins=${bins}`,
      );
    this.counts = new Array<number>(bins).fill(0);
  }

  /**
   * Bin of an idle time. Bins are centred on whole multiples of the bin width (rounding, not
   * flooring) so that an arrival pattern with a period of exactly k minutes, give or take a few
   * milliseconds of timer jitter, always lands in bin k rather than flipping between k−1 and k.
   */
  binOf(idleMs: number): number {
    return Math.round(Math.max(0, idleMs) / this.binMs);
  }

  /** Records one idle time; returns true when it was within the range. */
  add(idleMs: number): boolean {
    const bin = this.binOf(idleMs);
    if (bin >= this.bins) {
      this.oob++;
      return false;
    }
    this.counts[bin]! += 1;
    this.inRangeCount++;
    return true;
  }

  /** Idle times recorded in total. */
  get total(): number {
    return this.inRangeCount + this.oob;
  }

  /** Idle times within the range. */
  get inRange(): number {
    return this.inRangeCount;
  }

  /** Idle times beyond the range. */
  get outOfRange(): number {
    return this.oob;
  }

  /**
   * The bin of the `p`-quantile (0 < p ≤ 1) of the in-range idle times: the smallest bin whose
   * cumulative count reaches `p` of them. Undefined when no idle time is in range.
   */
  percentileBin(p: number): number | undefined {
    if (this.inRangeCount === 0) return undefined;
    const target = p * this.inRangeCount;
    let cumulative = 0;
    for (let i = 0; i < this.bins; i++) {
      cumulative += this.counts[i]!;
      if (cumulative >= target && cumulative > 0) return i;
    }
    return this.bins - 1;
  }

  /**
   * Coefficient of variation (population standard deviation / mean) of the bin counts. The paper
   * uses it as a test of whether the histogram has a shape worth trusting: a few tall bins give a
   * high CV, idle times smeared evenly over the range a low one.
   */
  cv(): number {
    if (this.inRangeCount === 0) return 0;
    const mean = this.inRangeCount / this.bins;
    let sq = 0;
    for (const c of this.counts) sq += (c - mean) ** 2;
    return Math.sqrt(sq / this.bins) / mean;
  }

  /** A copy of the state, for inspection. */
  snapshot(): IdleHistogramSnapshot {
    return {
      binMs: this.binMs,
      counts: [...this.counts],
      outOfRange: this.oob,
      total: this.total,
      cv: this.cv(),
    };
  }
}
