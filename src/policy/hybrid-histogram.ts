/**
 * The hybrid histogram keep-alive and pre-warm policy of Shahrad et al., "Serverless in the Wild:
 * Characterizing and Optimizing the Serverless Workload at a Large Cloud Provider" (USENIX ATC'20),
 * §4.2, kept per function key here (the paper keeps it per application).
 *
 * For each function it records idle times in an {@link IdleHistogram} (4 hours of 1-minute bins)
 * and, each time an instance becomes idle, picks one of three modes:
 * - `histogram`: the distribution is representative. Pre-warm at the head (5th percentile, minus a
 *   10% margin) and keep warm until the tail (99th percentile, plus a 10% margin): the paper's
 *   observation is that most functions' idle times cluster, so an instance unloaded right after
 *   execution and loaded just before the head catches almost every next invocation at a fraction of
 *   the memory a fixed 10-minute window wastes.
 * - `time-series`: most idle times fall beyond the 4-hour range, where the histogram is blind. The
 *   paper predicts the next idle time with ARIMA; here an exponentially weighted moving average of
 *   the out-of-range idle times does (see {@link HybridHistogramOptions.ewmaAlpha}): it needs O(1)
 *   state, no fitting, and such functions are rare (invoked less than every 4 hours) so a cruder
 *   predictor costs little. Pre-warm at the prediction minus 15%, keep until the prediction plus
 *   15% (the paper's margin for this mode).
 * - `fallback`: too few samples, or the bin counts' coefficient of variation is below 2 (idle times
 *   spread evenly, so no window is better than another). Keep warm for a fixed window, with no
 *   pre-warm. The brief and the live platform use the function's configured keep-alive (10 minutes
 *   by default); the paper falls back to the whole histogram range (4 hours): pass
 *   `fallbackKeepAliveMs: 4 * 3_600_000` to reproduce that.
 *
 * Idle time is measured as the paper defines it, from the end of an execution to the start of the
 * next one on the same instance: per instance, the way the pool reuses instances ({@link IdleStack}:
 * an instance going idle pushes its start, an arrival pops the most recent). The paper keeps one
 * image per application, so its idle time is that of the only instance; with several instances (a
 * function whose invocations overlap, at the pool's default concurrency of 1) the gap between a
 * function's arrivals is not the idle time of any instance, and windows sized from it evict the
 * extra instances of a bursty function between bursts (see {@link IdleStack}). `idleFrom:
 * 'arrival'` keeps the arrival-to-arrival gap, for comparison.
 *
 * Windows: `keepAliveMs` is measured from the moment the instance becomes idle (so a pool that does
 * not pre-warm stays correct), and `prewarmMs` says when, after that moment, the instance needs to
 * be loaded again. (The paper's "keep-alive window" counts from the pre-warm load; it equals
 * `keepAliveMs − prewarmMs`.) Each window also covers its whole bin, so that rounding an idle time
 * into a bin never loses it: head = min(bin·(1 − margin), bin − ½), tail = max(bin·(1 + margin), bin + ½).
 */
import { KindlingError } from '../core/errors.js';
import type { IdleHistogramSnapshot } from './idle-histogram.js';
import { IdleHistogram } from './idle-histogram.js';
import { IdleStack } from './idle-stack.js';
import type { KeepAlivePolicy, PolicyFunction } from './keep-alive.js';

/** Tunables; the defaults are the paper's. */
export interface HybridHistogramOptions {
  /** Bin width, ms. Default 1 minute. */
  binMs?: number;
  /** Histogram range, ms. Default 4 hours. */
  rangeMs?: number;
  /** Head percentile, 0..1. Default 0.05. */
  headPercentile?: number;
  /** Tail percentile, 0..1. Default 0.99. */
  tailPercentile?: number;
  /** Margin taken off the head and added to the tail, 0..1. Default 0.1. */
  margin?: number;
  /** Fewer idle times than this and the histogram is not representative. Default 10. */
  minSamples?: number;
  /** Bin-count coefficient of variation below which the histogram is not representative. Default 2. */
  cvThreshold?: number;
  /** Fixed keep-alive when not representative, ms. Default: the function's configured keep-alive. */
  fallbackKeepAliveMs?: number;
  /** Share of idle times beyond the range above which the time-series mode is used. Default 0.5. */
  outOfRangeThreshold?: number;
  /**
   * Weight of the newest out-of-range idle time in the moving average, 0 < α ≤ 1. Default 0.5:
   * these functions yield a sample every few hours at most, so the average must follow a change
   * within two or three samples rather than smooth over a day's worth.
   */
  ewmaAlpha?: number;
  /** Margin around the time-series prediction, 0..1. Default 0.15. */
  timeSeriesMargin?: number;
  /**
   * Where an idle time starts: `end` (default, as the paper defines it: the end of the execution
   * of the instance that takes the arrival, reported through `onIdle`; see the file comment) or
   * `arrival` (the function's previous arrival, whatever instance served it).
   */
  idleFrom?: 'arrival' | 'end';
}

/** Which rule produced a decision. */
export type HybridMode = 'histogram' | 'time-series' | 'fallback';

/** A decision for an instance that has just become idle. Windows in ms from that moment. */
export interface HybridDecision {
  mode: HybridMode;
  /** Unload now and load again after this long; 0 = keep warm from now. */
  prewarmMs: number;
  /** Evict after this long (measured from now, not from the pre-warm). */
  keepAliveMs: number;
  /** Why this mode, for logs and the dashboard. */
  reason: string;
}

/** The hybrid histogram policy: a `KeepAlivePolicy` plus inspection. */
export interface HybridHistogramPolicy extends KeepAlivePolicy {
  /** The full decision for an instance of `fn` that becomes idle at `now`. */
  decide(fn: PolicyFunction, now: number): HybridDecision;
  /** The idle-time histogram of a function, or undefined if it was never invoked. */
  histogram(key: string): IdleHistogramSnapshot | undefined;
  /** The current out-of-range prediction for a function, ms, if any. */
  prediction(key: string): number | undefined;
  /** Drops a function's state (deleted function, or to bound memory). */
  forget(key: string): void;
}

interface FunctionState {
  /** The previous arrival (`idleFrom: 'arrival'`). */
  lastArrival: number | undefined;
  /** Idle periods of the function's instances (`idleFrom: 'end'`). */
  idle: IdleStack;
  hist: IdleHistogram;
  ewma: number | undefined;
}

function fraction(name: string, v: number, allowZero: boolean): number {
  if (!(allowZero ? v >= 0 : v > 0) || v > 1)
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `hybrid-histogram option ${name} must be in ${allowZero ? '[0' : '(0'}, 1], got ${v}`,
    );
  return v;
}

/** Creates a hybrid histogram policy; see the file comment for what it decides and why. */
export function hybridHistogram(options: HybridHistogramOptions = {}): HybridHistogramPolicy {
  const binMs = options.binMs ?? 60_000;
  const rangeMs = options.rangeMs ?? 4 * 3_600_000;
  if (!(binMs > 0) || !(rangeMs >= binMs))
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `hybrid-histogram needs binMs > 0 and rangeMs ≥ binMs, got binMs=${binMs}, rangeMs=${rangeMs}`,
    );
  const bins = Math.round(rangeMs / binMs);
  const head = fraction('headPercentile', options.headPercentile ?? 0.05, false);
  const tail = fraction('tailPercentile', options.tailPercentile ?? 0.99, false);
  const margin = fraction('margin', options.margin ?? 0.1, true);
  const minSamples = options.minSamples ?? 10;
  const cvThreshold = options.cvThreshold ?? 2;
  const oobThreshold = fraction('outOfRangeThreshold', options.outOfRangeThreshold ?? 0.5, true);
  const alpha = fraction('ewmaAlpha', options.ewmaAlpha ?? 0.5, false);
  const tsMargin = fraction('timeSeriesMargin', options.timeSeriesMargin ?? 0.15, true);
  const fallbackMs = options.fallbackKeepAliveMs;
  const fromEnd = (options.idleFrom ?? 'end') === 'end';
  if (options.idleFrom !== undefined && options.idleFrom !== 'arrival' && options.idleFrom !== 'end')
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `hybrid-histogram idleFrom must be "arrival" or "end", got ${JSON.stringify(options.idleFrom)}`,
    );
  if (head > tail)
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `hybrid-histogram headPercentile (${head}) must not exceed tailPercentile (${tail})`,
    );
  if (!(minSamples >= 1) || !(cvThreshold >= 0) || (fallbackMs !== undefined && !(fallbackMs >= 0)))
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `hybrid-histogram needs minSamples ≥ 1, cvThreshold ≥ 0 and fallbackKeepAliveMs ≥ 0, got ` +
        `${minSamples}, ${cvThreshold}, ${fallbackMs}`,
    );
  const state = new Map<string, FunctionState>();
  const stateOf = (key: string): FunctionState => {
    let s = state.get(key);
    if (!s)
      state.set(
        key,
        (s = {
          lastArrival: undefined,
          idle: new IdleStack(),
          hist: new IdleHistogram(binMs, bins),
          ewma: undefined,
        }),
      );
    return s;
  };

  const fallback = (fn: PolicyFunction, reason: string): HybridDecision => ({
    mode: 'fallback',
    prewarmMs: 0,
    keepAliveMs: fallbackMs ?? fn.configuredKeepAliveMs,
    reason,
  });

  const decide = (fn: PolicyFunction): HybridDecision => {
    const s = state.get(fn.key);
    const hist = s?.hist;
    if (!s || !hist || hist.total < minSamples)
      return fallback(fn, `${hist?.total ?? 0} idle times, fewer than ${minSamples}`);
    if (hist.outOfRange > oobThreshold * hist.total && s.ewma !== undefined)
      return {
        mode: 'time-series',
        prewarmMs: Math.round(s.ewma * (1 - tsMargin)),
        keepAliveMs: Math.round(s.ewma * (1 + tsMargin)),
        reason: `${hist.outOfRange} of ${hist.total} idle times beyond ${rangeMs} ms; predicted ${Math.round(s.ewma)} ms`,
      };
    const cv = hist.cv();
    if (cv < cvThreshold) return fallback(fn, `bin-count CV ${cv.toFixed(2)} below ${cvThreshold}`);
    const headBin = hist.percentileBin(head) ?? 0;
    const tailBin = hist.percentileBin(tail) ?? 0;
    const prewarm = Math.max(0, Math.min(headBin * (1 - margin), headBin - 0.5)) * binMs;
    const keep = Math.max(tailBin * (1 + margin), tailBin + 0.5) * binMs;
    return {
      mode: 'histogram',
      prewarmMs: Math.round(prewarm),
      keepAliveMs: Math.round(keep),
      reason: `head bin ${headBin}, tail bin ${tailBin}, CV ${cv.toFixed(2)}`,
    };
  };

  return {
    name: 'hybrid-histogram',
    onInvocation(fn, now) {
      const s = stateOf(fn.key);
      let idle: number | undefined;
      if (fromEnd) idle = s.idle.pop(now)?.idleMs;
      else if (s.lastArrival !== undefined) idle = Math.max(0, now - s.lastArrival);
      s.lastArrival = now;
      // No idle period ended: the first arrival, or every instance was busy.
      if (idle === undefined) return;
      if (!s.hist.add(idle)) s.ewma = s.ewma === undefined ? idle : alpha * idle + (1 - alpha) * s.ewma;
    },
    onIdle(fn, now) {
      if (fromEnd) stateOf(fn.key).idle.push(now);
    },
    keepAliveMs: (fn) => decide(fn).keepAliveMs,
    prewarmMs: (fn) => decide(fn).prewarmMs,
    decide,
    histogram: (key) => state.get(key)?.hist.snapshot(),
    prediction: (key) => state.get(key)?.ewma,
    forget: (key) => void state.delete(key),
  };
}
