/**
 * The `cost-window` keep-alive and pre-warm policy (Kindling's own): per function, choose the load
 * schedule of an idle instance that minimises the **expected cost** of its idle period under the
 * function's idle-time distribution, where a cold start is priced, as in the rent-or-buy view of
 * keep-alive, at `breakEvenMs` of idle instance time (default: the function's configured keep-alive,
 * 10 minutes — the price at which the fixed 10-minute window is the classic 2-competitive answer)
 * **plus `functionWeight` × the function's mean inter-arrival gap**. The second term weighs cold
 * starts per function rather than per invocation: one cold start is a larger share of a rarely
 * invoked function's invocations, in proportion to its gap, and the per-function cold-start rate
 * (the 75th percentile of Shahrad et al.'s Fig. 15) is what users of rare functions see. With
 * weight 1 a function's cold-start share and the share of its time an idle instance is loaded count
 * alike; with weight 0 every invocation's cold start costs the same.
 * The decision itself is {@link optimalSchedule}: keep nothing, keep `[0, k]`, pre-warm `[p, k]`,
 * or keep for a short mode and pre-warm for a long one `[0, k₁], [p₂, k₂]`.
 *
 * Where it differs from the hybrid histogram (Shahrad et al., ATC'20):
 * 1. **Relative, not absolute, resolution.** Idle times go into a {@link DecayingLogHistogram}:
 *    10 %-wide log bins from 100 ms to 7 days, each with its exact mean, counts decaying with a
 *    half-life of `halfLife` samples. A function idle 4 s is kept ~5 s, not the 30 s of a 1-minute
 *    bin; one idle 17 minutes is pre-warmed seconds, not a minute and a half, before it is due; and
 *    a rare long gap is remembered for about a thousand idle periods rather than forgotten.
 * 2. **Windows from a cost, not fixed percentiles.** One rule covers the hybrid policy's histogram,
 *    fallback and out-of-range modes: when idle times are spread so that no window pays for itself
 *    it keeps nothing (every invocation would be cold anyway, so idle memory would be pure waste);
 *    when they are long it pre-warms at whatever range they have (no 4-hour limit, so no ARIMA/EWMA
 *    mode is needed); when they are bimodal it keeps for the short mode and pre-warms the long one.
 * 3. **Idle times per instance, counted the way the pool reuses instances** ({@link IdleStack}).
 *    An instance going idle ({@link KeepAlivePolicy.onIdle}) pushes its idle start on a stack; an
 *    arrival pops the most recent one, exactly as the pool hands work to the most recently used
 *    idle instance. So samples are the idle times instances would have had if kept, independent of
 *    what this policy evicted (no feedback loop). Each sample is filed under the depth the instance
 *    went idle at (0, 1, 2–3, 4–7, …) and an instance is decided from its own depth's histogram, so
 *    the fourth instance of a bursty function learns its own, longer idle times, not the
 *    inter-arrival gap.
 * 4. **Few samples are read humbly.** The distribution is smoothed in log time with a kernel whose
 *    width follows Silverman's rule (wide for a handful of spread idle times, negligible for
 *    thousands of steady ones; {@link DecayingLogHistogram.smoothedBins}), so ten samples do not
 *    yield windows that fit exactly between them and miss the eleventh.
 *
 * **With a `baseline`** (the `hybrid-refined` policy: the hybrid histogram as baseline) the price
 * stops deciding alone: the baseline hears the same invocations and idle periods, and for each
 * instance going idle its schedule becomes a bound. Only candidates that are warm for every point
 * of this policy's distribution the baseline's schedule is warm for, and hold no more expected
 * idle time than it, count; the cheapest of those at the price wins, and where none exists (or
 * this policy has fewer than `minSamples` at the depth) the baseline's own schedule is used. So no
 * decision is worse than the baseline's on either axis under this policy's distribution: what
 * it takes away is loaded time between modes and beyond the samples inside the baseline's
 * coarse windows, and what it adds is coverage the price pays for. Bounding point by point
 * rather than by the total cold-start probability matters: a schedule with the same expected
 * coldness but tighter edges than the hybrid's minute bins missed more of the unseen idle times
 * just past them (on the 2019 sample, 421 against the hybrid's 394 cold starts in the
 * one-instance model, where the point-by-point bound gives 384).
 *
 * Window ends are widened by `margin` (relative) or `slackMs` (absolute) beyond the bin edges. With
 * fewer than `minSamples` idle times at a depth it keeps the configured keep-alive (the fallback of
 * the hybrid policy too). A decision costs O(b² log b) for b non-empty bins (at most 166) and is
 * reused until an eighth of the samples (at most 8) are new.
 */
import { KindlingError } from '../core/errors.js';
import { idleSchedule, type IdleInterval, type KeepAlivePolicy, type PolicyFunction } from './keep-alive.js';
import { IdleStack } from './idle-stack.js';
import { DecayingLogHistogram, type LogBin } from './log-histogram.js';
import { optimalSchedule, scheduleOutcome } from './optimal-schedule.js';

/** Tunables of {@link costWindow}. */
export interface CostWindowOptions {
  /** Samples after which an idle time counts half. Default 1000. */
  halfLife?: number;
  /** Fewer idle times than this at a depth: fixed fallback. Default 4. */
  minSamples?: number;
  /** Price of a cold start in ms of idle instance time. Default: the function's configured keep-alive. */
  breakEvenMs?: number;
  /**
   * Per-function weight of a cold start: its price is `breakEvenMs` plus this × the function's
   * mean inter-arrival gap (see the file comment). Default 1; 0 prices every invocation alike.
   */
  functionWeight?: number;
  /** Smooth the idle-time distribution before deciding ({@link DecayingLogHistogram.smoothedBins}). Default true. */
  smooth?: boolean;
  /** Relative widening of a window's ends beyond the bin edges, 0..1. Default 0.05. */
  margin?: number;
  /** Absolute widening, ms (timer and start jitter). Default 1000. */
  slackMs?: number;
  /**
   * A reference policy this one must not do worse than: it hears every invocation and idle
   * period too, and each decision is the cheapest schedule that, under this policy's distribution
   * for the instance, is warm for every idle time the reference's schedule for the same instance
   * is warm for **and** holds no more expected idle time; when no candidate is, or this policy
   * has too few samples, the reference's own schedule. See the file comment.
   */
  baseline?: KeepAlivePolicy & { forget?(key: string): void };
}

/** A decision. */
export interface CostWindowDecision {
  /** When the instance is loaded, ms after it became idle (see {@link KeepAlivePolicy.schedule}). */
  schedule: IdleInterval[];
  /** Start of the first window (0 = keep warm from now). */
  prewarmMs: number;
  /** End of the last window (0 = evict at once): a caller that ignores the schedule keeps this long. */
  keepAliveMs: number;
  /** Expected cold-start probability of the next idle period under the distribution (NaN: fallback). */
  coldProbability: number;
  /** Idle times the decision was made from (0 = fallback). */
  samples: number;
  /** With a baseline: true when this is the baseline's own schedule (no candidate bettered it). */
  fromBaseline?: boolean;
}

/** The policy with inspection. */
export interface CostWindowPolicy extends KeepAlivePolicy {
  decide(fn: PolicyFunction, now?: number): CostWindowDecision;
  /** The idle-time distribution of a function at a depth level (default 0, the top). */
  idleBins(key: string, level?: number): LogBin[];
  forget(key: string): void;
}

/** The idle times of instances that went idle at one depth of the idle stack. */
interface Level {
  hist: DecayingLogHistogram;
  /** New samples since the last decision. */
  fresh: number;
  decision: CostWindowDecision | undefined;
  /** The baseline schedule the decision was bounded by, as a key. */
  baselineKey: string | undefined;
}

interface FnState {
  /** Idle periods not yet ended by an arrival. */
  idle: IdleStack;
  levels: Level[];
  /** Arrivals seen, and the first and last, for the mean inter-arrival gap. */
  arrivals: number;
  firstArrival: number;
  lastArrival: number;
}

/** Depth levels: 0, 1, 2–3, 4–7, …, the last one open-ended. */
const LEVELS = 12;

/** Level of an instance that goes idle with `depth` other idle instances under it. */
export function depthLevel(depth: number): number {
  return depth <= 0 ? 0 : Math.min(LEVELS - 1, Math.floor(Math.log2(depth)) + 1);
}

function invalid(message: string): KindlingError {
  return new KindlingError('KINDLING_INVALID_CONFIG', `cost-window ${message}`);
}

/** Creates the policy; see the file comment. */
export function costWindow(options: CostWindowOptions = {}): CostWindowPolicy {
  const halfLife = options.halfLife ?? 1000;
  const minSamples = options.minSamples ?? 4;
  const margin = options.margin ?? 0.05;
  const slack = options.slackMs ?? 1000;
  const functionWeight = options.functionWeight ?? 1;
  const smooth = options.smooth ?? true;
  if (!(halfLife >= 1) || !Number.isFinite(halfLife))
    throw invalid(`halfLife must be a number ≥ 1, got ${halfLife}`);
  if (!Number.isInteger(minSamples) || minSamples < 1)
    throw invalid(`minSamples must be an integer ≥ 1, got ${minSamples}`);
  if (!(margin >= 0 && margin < 1)) throw invalid(`margin must be in [0, 1), got ${margin}`);
  if (!(slack >= 0)) throw invalid(`slackMs must be ≥ 0, got ${slack}`);
  if (!(functionWeight >= 0) || !Number.isFinite(functionWeight))
    throw invalid(`functionWeight must be a number ≥ 0, got ${functionWeight}`);
  if (options.breakEvenMs !== undefined && !(options.breakEvenMs > 0))
    throw invalid(`breakEvenMs must be > 0, got ${options.breakEvenMs}`);
  const state = new Map<string, FnState>();
  const stateOf = (key: string): FnState => {
    let s = state.get(key);
    if (!s)
      state.set(
        key,
        (s = { idle: new IdleStack(), levels: [], arrivals: 0, firstArrival: 0, lastArrival: 0 }),
      );
    return s;
  };
  const levelOf = (s: FnState, i: number): Level =>
    (s.levels[i] ??= {
      hist: new DecayingLogHistogram(halfLife),
      fresh: 0,
      decision: undefined,
      baselineKey: undefined,
    });
  const baseline = options.baseline;
  const asDecision = (schedule: IdleInterval[], coldProbability: number, samples: number) => {
    const first = schedule[0];
    const last = schedule[schedule.length - 1];
    return {
      schedule,
      prewarmMs: first ? first[0] : 0,
      keepAliveMs: last ? last[1] : 0,
      coldProbability,
      samples,
    };
  };

  const decide = (fn: PolicyFunction, now = 0): CostWindowDecision => {
    const s = stateOf(fn.key);
    // The instance that just went idle is on top of the stack; its level is its depth there.
    const l = levelOf(s, depthLevel(s.idle.size - 1));
    const n = l.hist.count;
    const reference = baseline ? idleSchedule(baseline, fn, now) : undefined;
    if (n < minSamples)
      return reference
        ? { ...asDecision(reference, Number.NaN, 0), fromBaseline: true }
        : asDecision([[0, fn.configuredKeepAliveMs]], Number.NaN, 0);
    const referenceKey = reference && JSON.stringify(reference);
    if (l.decision && l.baselineKey === referenceKey && l.fresh < Math.min(8, Math.ceil(n / 8)))
      return l.decision;
    l.fresh = 0;
    l.baselineKey = referenceKey;
    const pts = (smooth ? l.hist.smoothedBins() : l.hist.bins()).map((b) => ({
      x: b.meanMs,
      w: b.weight,
      from: Math.max(0, Math.min(b.fromMs * (1 - margin), b.meanMs - slack)),
      to: Math.max(b.toMs * (1 + margin), b.meanMs + slack),
    }));
    // The mean gap over the function's whole history: a per-function weight should not swing
    // with a burst.
    const meanGap = s.arrivals > 1 ? (s.lastArrival - s.firstArrival) / (s.arrivals - 1) : 0;
    const price = (options.breakEvenMs ?? fn.configuredKeepAliveMs) + functionWeight * meanGap;
    // Without a reference every candidate is feasible.
    const best = optimalSchedule(pts, price, slack, reference);
    l.decision =
      best.feasible || !reference
        ? asDecision(best.schedule, best.coldProbability, n)
        : {
            ...asDecision(reference, scheduleOutcome(pts, reference).coldProbability, n),
            fromBaseline: true,
          };
    return l.decision;
  };

  return {
    name: 'cost-window',
    onInvocation(fn, now) {
      baseline?.onInvocation(fn, now);
      const s = stateOf(fn.key);
      if (s.arrivals++ === 0) s.firstArrival = now;
      s.lastArrival = now;
      const sample = s.idle.pop(now);
      if (!sample) return; // every instance busy: this arrival needs a new one
      const l = levelOf(s, depthLevel(sample.depth));
      l.hist.add(sample.idleMs);
      l.fresh++;
    },
    onIdle(fn, now) {
      baseline?.onIdle?.(fn, now);
      stateOf(fn.key).idle.push(now);
    },
    keepAliveMs: (fn, now) => decide(fn, now).keepAliveMs,
    prewarmMs: (fn, now) => decide(fn, now).prewarmMs,
    schedule: (fn, now) => decide(fn, now).schedule,
    decide,
    idleBins: (key, level = 0) => state.get(key)?.levels[level]?.hist.bins() ?? [],
    forget: (key) => {
      state.delete(key);
      baseline?.forget?.(key);
    },
  };
}
