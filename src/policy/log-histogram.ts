/**
 * An idle-time histogram with log-spaced bins and exponentially decaying counts, the memory of the
 * `cost-window` policy. Log bins give the same relative precision at every scale (10 %: a 4 s idle
 * time is known to ±0.2 s, a 6-hour one to ±18 minutes) from 100 ms to 7 days in 166 bins; decay
 * (a sample's weight halves after `halfLife` newer samples) lets a function's pattern change
 * without forgetting rare long gaps as fast as a window of recent samples would. Each bin also keeps
 * the weighted sum of its idle times, so its mean is exact rather than the bin's centre.
 */
import { KindlingError } from '../core/errors.js';

/** Lower edge of bin 1, ms (bin 0 holds [0, 100 ms)). */
const FIRST_EDGE_MS = 100;
/** Ratio between consecutive bin edges. */
const RATIO = 1.1;
const LOG_RATIO = Math.log(RATIO);
/** Bins up to 7 days; longer idle times fall in the last one. */
export const LOG_BINS = 1 + Math.ceil(Math.log((7 * 86_400_000) / FIRST_EDGE_MS) / LOG_RATIO);

/** A non-empty bin, for decisions and inspection. */
export interface LogBin {
  /** Weighted mean idle time of the bin, ms. */
  meanMs: number;
  /** Share of the (decayed) total weight, 0..1. */
  weight: number;
  /** Bin edges, ms. */
  fromMs: number;
  toMs: number;
}

/** Bin of an idle time. */
export function logBinOf(idleMs: number): number {
  if (idleMs < FIRST_EDGE_MS) return 0;
  return Math.min(LOG_BINS - 1, 1 + Math.floor(Math.log(idleMs / FIRST_EDGE_MS) / LOG_RATIO));
}

/** Edges [from, to) of bin `b`, ms. */
export function logBinEdges(b: number): [number, number] {
  if (b === 0) return [0, FIRST_EDGE_MS];
  return [FIRST_EDGE_MS * Math.pow(RATIO, b - 1), FIRST_EDGE_MS * Math.pow(RATIO, b)];
}

/** See the file comment. */
export class DecayingLogHistogram {
  private readonly w = new Float64Array(LOG_BINS);
  private readonly wx = new Float64Array(LOG_BINS);
  /** Weight of the next sample; grows instead of decaying every old one (renormalised when large). */
  private scale = 1;
  private readonly growth: number;
  private n = 0;

  /** @param halfLife samples after which a sample counts half */
  constructor(halfLife = 1000) {
    if (!(halfLife > 0))
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `histogram halfLife must be > 0 samples, got ${halfLife}`,
      );
    this.growth = Math.pow(2, 1 / halfLife);
  }

  /** Idle times recorded (undecayed count). */
  get count(): number {
    return this.n;
  }

  /** Records one idle time, ms. */
  add(idleMs: number): void {
    const x = Math.max(0, idleMs);
    this.scale *= this.growth;
    const b = logBinOf(x);
    this.w[b]! += this.scale;
    this.wx[b]! += this.scale * x;
    this.n++;
    if (this.scale > 1e100) {
      for (let i = 0; i < LOG_BINS; i++) {
        this.w[i]! /= this.scale;
        this.wx[i]! /= this.scale;
      }
      this.scale = 1;
    }
  }

  /**
   * Effective number of samples behind the weights: the count, or for a long history the
   * (Σw)²/Σw² of the decay, about 2.9 × the half-life.
   */
  get effectiveCount(): number {
    return Math.min(this.n, (1 + 1 / this.growth) / (1 - 1 / this.growth));
  }

  /**
   * The distribution smoothed by a Gaussian kernel over bin indices (that is, in log time) with
   * Silverman's rule-of-thumb bandwidth 0.9 · min(σ, IQR / 1.34) · n^(−1/5), n the effective
   * sample count: a few samples say little about where the next idle time falls, so they are
   * spread wide; many samples of a steady function keep their shape. Bins that receive only
   * smoothed mass are represented by their geometric centre. Weights sum to 1.
   */
  smoothedBins(): LogBin[] {
    const raw: { b: number; w: number }[] = [];
    let total = 0;
    for (let b = 0; b < LOG_BINS; b++) {
      const w = this.w[b]!;
      if (w <= 0) continue;
      raw.push({ b, w });
      total += w;
    }
    if (raw.length <= 1) return this.bins();
    let mean = 0;
    for (const r of raw) mean += (r.w / total) * r.b;
    let varSum = 0;
    for (const r of raw) varSum += (r.w / total) * (r.b - mean) ** 2;
    const quantile = (q: number): number => {
      let c = 0;
      for (const r of raw) if ((c += r.w / total) >= q) return r.b;
      return raw[raw.length - 1]!.b;
    };
    const iqr = (quantile(0.75) - quantile(0.25)) / 1.34;
    const sigma = Math.sqrt(varSum);
    // As R's bw.nrd0: σ when the quartiles coincide (most mass in one bin).
    const spread = Math.min(sigma, iqr) || sigma;
    const h = 0.9 * spread * Math.pow(this.effectiveCount, -0.2);
    // Below a third of a bin the kernel leaves the bins as they are.
    if (!(h > 1 / 3)) return this.bins();
    const reach = Math.ceil(3 * h);
    const sw = new Float64Array(LOG_BINS);
    for (const r of raw) {
      let norm = 0;
      const lo = Math.max(0, r.b - reach);
      const hi = Math.min(LOG_BINS - 1, r.b + reach);
      for (let j = lo; j <= hi; j++) norm += Math.exp(-0.5 * ((j - r.b) / h) ** 2);
      for (let j = lo; j <= hi; j++) sw[j]! += (r.w / total / norm) * Math.exp(-0.5 * ((j - r.b) / h) ** 2);
    }
    const out: LogBin[] = [];
    for (let b = 0; b < LOG_BINS; b++) {
      const w = sw[b]!;
      if (w <= 0) continue;
      const [fromMs, toMs] = logBinEdges(b);
      const own = this.w[b]!;
      out.push({
        meanMs: own > 0 ? this.wx[b]! / own : b === 0 ? fromMs : Math.sqrt(fromMs * toMs),
        weight: w,
        fromMs,
        toMs,
      });
    }
    return out;
  }

  /** The non-empty bins, shortest idle times first, weights summing to 1. */
  bins(): LogBin[] {
    let total = 0;
    for (let b = 0; b < LOG_BINS; b++) total += this.w[b]!;
    const out: LogBin[] = [];
    for (let b = 0; b < LOG_BINS; b++) {
      const w = this.w[b]!;
      if (w <= 0) continue;
      const [fromMs, toMs] = logBinEdges(b);
      out.push({ meanMs: this.wx[b]! / w, weight: w / total, fromMs, toMs });
    }
    return out;
  }
}
