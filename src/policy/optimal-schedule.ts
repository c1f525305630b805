/**
 * The decision core of the `cost-window` policy: the load schedule of an idle instance that
 * minimises, over a weighted idle-time distribution,
 *
 *     P(cold) · breakEven + E[idle loaded time]
 *
 * An idle time I is served warm when it falls in a loaded window; idle memory accrues while loaded
 * and before the arrival (nothing before a pre-warm). Candidates:
 * - keep nothing (every next arrival cold, no idle memory);
 * - keep-alive `[0, k]`;
 * - pre-warm `[p, k]`;
 * - keep for a short mode, then pre-warm for a long one: `[0, k₁], [p₂, k₂]`, with `k₁` at one of
 *   the `MAX_SPLITS` widest gaps where consecutive idle times differ by at least `MODE_RATIO`×.
 * Window ends are the points' own `from`/`to` (a point's value widened by the caller's margins), so
 * every candidate covers whole points. O(n² log n) for n points.
 */
import type { IdleInterval } from './keep-alive.js';

/** One point of the idle-time distribution. */
export interface WeightedPoint {
  /** Idle time, ms (points sorted by it). */
  x: number;
  /** Weight (probability mass, any scale). */
  w: number;
  /** Pre-warm time that covers this point. */
  from: number;
  /** Keep-alive end that covers this point. */
  to: number;
}

/** A schedule and its expected cold-start probability. */
export interface OptimalSchedule {
  schedule: IdleInterval[];
  coldProbability: number;
  /**
   * False when a `reference` was given and no candidate met it (the schedule is then empty, and
   * the caller should keep the reference).
   */
  feasible: boolean;
}

/** What a schedule costs over a distribution, per idle period. */
export interface ScheduleOutcome {
  /** Share of the weight that arrives while nothing is loaded. */
  coldProbability: number;
  /** Expected idle loaded time before the arrival, ms. */
  idleMs: number;
}

/**
 * Evaluates any schedule over `pts` with the rules {@link optimalSchedule} uses: an idle time x is
 * warm when some window [a, b] has a ≤ x ≤ b, and idle memory accrues in every window up to x.
 */
export function scheduleOutcome(
  pts: readonly WeightedPoint[],
  schedule: readonly IdleInterval[],
): ScheduleOutcome {
  let total = 0;
  let cold = 0;
  let idle = 0;
  for (const { x, w } of pts) {
    total += w;
    let warm = false;
    for (const [a, b] of schedule) {
      if (a <= x && x <= b) warm = true;
      idle += w * Math.max(0, Math.min(b, x) - a);
    }
    if (!warm) cold += w;
  }
  return total > 0
    ? { coldProbability: cold / total, idleMs: idle / total }
    : { coldProbability: 1, idleMs: 0 };
}

/** Most candidate splits between a short and a long idle mode. */
const MAX_SPLITS = 3;
/** Two idle modes must be at least this factor apart to be kept and pre-warmed separately. */
const MODE_RATIO = 2;

/** Index of the first point with x ≥ v. */
function lowerBound(pts: readonly WeightedPoint[], v: number): number {
  let lo = 0;
  let hi = pts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pts[mid]!.x < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The cheapest schedule for `pts` (sorted by x) at `breakEvenMs` per cold start; see the file
 * comment. An instance is never unloaded for less than `minGapMs`: a pre-warm starts at least that
 * long after the idle period begins or the previous window ends. With a `reference` schedule, the
 * cheapest of the candidates that are warm for **every point the reference is warm for** and hold
 * no more expected idle time than it: never worse on either axis, point by point, under `pts`.
 */
export function optimalSchedule(
  pts: readonly WeightedPoint[],
  breakEvenMs: number,
  minGapMs = 1000,
  reference?: readonly IdleInterval[],
): OptimalSchedule {
  const n = pts.length;
  const W = new Float64Array(n + 1);
  const X = new Float64Array(n + 1);
  // Weight of the points the reference is warm for, as a prefix sum.
  const R = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const { x, w } = pts[i]!;
    W[i + 1] = W[i]! + w;
    X[i + 1] = X[i]! + w * x;
    R[i + 1] = R[i]! + (reference?.some(([a, b]) => a <= x && x <= b) ? w : 0);
  }
  const total = W[n]!;
  const eps = 1e-9 * total;
  const mustCover = R[n]! - eps;
  const maxIdle = reference ? scheduleOutcome(pts, reference).idleMs * total * (1 + 1e-9) + eps : Infinity;
  const within = (covered: number, idle: number) => !reference || (covered >= mustCover && idle <= maxIdle);
  // Costs are kept as totals (× total weight); "keep nothing" makes every arrival cold.
  let feasible = within(0, 0);
  let bestCost = feasible ? breakEvenMs * total : Number.POSITIVE_INFINITY;
  let best: IdleInterval[] = [];
  let bestCold = total;
  /** A candidate costing `cost`, cold for `cold` of the weight, warm for `covered` of the reference's. */
  const consider = (cost: number, schedule: IdleInterval[], cold: number, covered: number) => {
    if (cost < bestCost - 1e-9 * total && within(covered, cost - cold * breakEvenMs)) {
      bestCost = cost;
      best = schedule;
      bestCold = cold;
      feasible = true;
    }
  };
  const upTo = (k: number) => lowerBound(pts, k + 1e-9);
  // Keep-alive only: points beyond k₁ cost k₁ of idle memory and a cold start.
  for (let j = 0; j < n; j++) {
    const k1 = pts[j]!.to;
    const h1 = upTo(k1);
    consider(X[h1]! + (total - W[h1]!) * (k1 + breakEvenMs), [[0, k1]], total - W[h1]!, R[h1]!);
  }
  /**
   * Best pre-warm window [p, k] for the points from `from` on, p ≥ `after` + minGapMs, each
   * already costing `base`; the head before them costs `headCost` and covers `headCovered` of the
   * reference's weight.
   */
  const tail = (
    from: number,
    after: number,
    base: number,
    headCost: number,
    head: IdleInterval[],
    headCovered: number,
  ) => {
    const rest = total - W[from]!;
    for (let i = from; i < n; i++) {
      const p = pts[i]!.from;
      // Unloading for less than minGapMs saves nothing worth a stop and a start.
      if (p < after + minGapMs) continue;
      const lo = lowerBound(pts, p);
      for (let j = Math.max(lo, i); j < n; j++) {
        const k = pts[j]!.to;
        const hi = upTo(k);
        const warm = W[hi]! - W[lo]!;
        const cold = rest - warm;
        const idle = rest * base + X[hi]! - X[lo]! - warm * p + (total - W[hi]!) * (k - p);
        consider(
          headCost + idle + cold * breakEvenMs,
          [...head, [p, k]],
          cold,
          headCovered + R[hi]! - R[lo]!,
        );
      }
    }
  };
  tail(0, 0, 0, 0, [], 0);
  const gaps: number[] = [];
  for (let j = 0; j + 1 < n; j++)
    if (pts[j + 1]!.x >= MODE_RATIO * Math.max(pts[j]!.x, minGapMs)) gaps.push(j);
  gaps.sort((a, b) => pts[b + 1]!.x / Math.max(pts[b]!.x, 1) - pts[a + 1]!.x / Math.max(pts[a]!.x, 1));
  for (const j of gaps.slice(0, MAX_SPLITS)) {
    const k1 = pts[j]!.to;
    const h1 = upTo(k1);
    if (h1 < n) tail(h1, k1, k1, X[h1]!, [[0, k1]], R[h1]!);
  }
  return {
    schedule: best.map(([a, b]) => [Math.round(a), Math.round(b)] as const),
    coldProbability: total > 0 ? bestCold / total : 1,
    feasible,
  };
}

/**
 * {@link optimalSchedule} for raw idle times, each widened by `margin` (relative) or `slackMs`
 * (absolute), whichever is more; optionally bounded by a `reference` schedule.
 */
export function optimalWindow(
  samples: readonly number[],
  breakEvenMs: number,
  margin: number,
  slackMs: number,
  reference?: readonly IdleInterval[],
): OptimalSchedule {
  const pts = [...samples]
    .sort((a, b) => a - b)
    .map((x) => ({
      x,
      w: 1,
      from: Math.max(0, Math.min(x * (1 - margin), x - slackMs)),
      to: Math.max(x * (1 + margin), x + slackMs),
    }));
  return optimalSchedule(pts, breakEvenMs, slackMs, reference);
}
