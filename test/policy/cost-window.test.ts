import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { costWindow, depthLevel } from '../../src/policy/cost-window.js';
import { DecayingLogHistogram, logBinEdges, logBinOf } from '../../src/policy/log-histogram.js';
import { hybridRefined } from '../../src/policy/catalog.js';
import { hybridHistogram } from '../../src/policy/hybrid-histogram.js';
import { optimalWindow, scheduleOutcome } from '../../src/policy/optimal-schedule.js';
import { idleSchedule, type KeepAlivePolicy, type PolicyFunction } from '../../src/policy/keep-alive.js';

const MIN = 60_000;
const fn: PolicyFunction = { key: 't/f', configuredKeepAliveMs: 10 * MIN, memoryMb: 128 };

describe('cost-window: optimal window', () => {
  it('keeps warm just past idle times that are short and steady', () => {
    const d = optimalWindow(Array(20).fill(30_000), 10 * MIN, 0.05, 1000);
    // Window [0, 31.5 s]: pre-warming at 28.5 s is cheaper still (1.5 s idle instead of 30 s).
    assert.deepEqual(d.schedule, [[28_500, 31_500]]);
    assert.equal(d.coldProbability, 0);
  });

  it('pre-warms ahead of a steady long idle time instead of keeping warm through it', () => {
    const d = optimalWindow(Array(20).fill(17 * MIN), 10 * MIN, 0.05, 1000);
    assert.deepEqual(d.schedule, [[Math.round(17 * MIN * 0.95), Math.round(17 * MIN * 1.05)]]);
  });

  it('keeps nothing when idle times are spread so widely that no window pays for itself', () => {
    // One idle time per hour of a day: any window catching k of 24 costs more than k cold starts of 10 minutes.
    const spread = Array.from({ length: 24 }, (_, i) => (i + 1) * 60 * MIN);
    const d = optimalWindow(spread, 10 * MIN, 0.05, 1000);
    assert.deepEqual(d.schedule, []);
    assert.equal(d.coldProbability, 1);
  });

  it('splits a bimodal distribution: keep for the short mode, pre-warm for the long one', () => {
    // Bursts of 4 s gaps, then a 13-minute pause: 10 short, 1 long, repeated.
    const xs = [...Array(50).fill(4000), ...Array(5).fill(13 * MIN)];
    const d = optimalWindow(xs, 10 * MIN, 0.05, 1000);
    assert.equal(d.schedule.length, 2);
    assert.deepEqual(d.schedule[0], [0, 5000]);
    assert.deepEqual(d.schedule[1], [Math.round(13 * MIN * 0.95), Math.round(13 * MIN * 1.05)]);
    assert.equal(d.coldProbability, 0);
  });
});

describe('cost-window: never unloads for less than the minimum gap', () => {
  it('keeps warm through idle times too short to unload and start again', () => {
    // 1.5 s idle times: a pre-warm at 0.5 s would save half a second of idle memory per period at
    // the price of stopping and starting an instance; the schedule keeps it instead.
    const d = optimalWindow(Array(20).fill(1500), 10 * MIN, 0.05, 1000);
    assert.deepEqual(d.schedule, [[0, 2500]]);
    // The same between two windows: no gap shorter than 1 s between keep and pre-warm.
    const xs = [...Array(20).fill(2000), ...Array(20).fill(4000)];
    const s = optimalWindow(xs, 10 * MIN, 0.05, 1000).schedule;
    for (let i = 0; i < s.length; i++) {
      const from = s[i]![0];
      const prevEnd = i > 0 ? s[i - 1]![1] : 0;
      assert.ok(from === 0 || from - prevEnd >= 1000, `schedule ${JSON.stringify(s)}`);
    }
  });
});

describe('decaying log histogram', () => {
  it('bins idle times in 10 % log steps with exact means', () => {
    assert.equal(logBinOf(50), 0);
    const b = logBinOf(60_000);
    const [from, to] = logBinEdges(b);
    assert.ok(from <= 60_000 && 60_000 < to && Math.abs(to / from - 1.1) < 1e-9);
    const h = new DecayingLogHistogram(1000);
    h.add(60_000);
    h.add(60_500);
    h.add(4000);
    const bins = h.bins();
    assert.equal(h.count, 3);
    assert.equal(bins.length, 2);
    assert.ok(Math.abs(bins[1]!.meanMs - 60_250) < 1, String(bins[1]!.meanMs)); // weights differ by 2^(1/1000)
    assert.ok(Math.abs(bins[0]!.weight + bins[1]!.weight - 1) < 1e-12);
  });

  it('lets old samples fade with the half-life', () => {
    const h = new DecayingLogHistogram(10);
    h.add(1000);
    for (let i = 0; i < 10; i++) h.add(100_000);
    // The old sample has half the weight of a new one: 0.5 / (0.5 + Σ of 10 newer weights).
    const old = h.bins()[0]!.weight;
    let newer = 0;
    for (let i = 1; i <= 10; i++) newer += Math.pow(2, (i - 10) / 10);
    assert.ok(Math.abs(old - 0.5 / (0.5 + newer)) < 1e-9, String(old));
  });

  it('smooths a few spread samples widely and many steady ones not at all (Silverman bandwidth)', () => {
    const spread = [2, 3, 5, 8, 13].map((m) => m * MIN);
    const few = new DecayingLogHistogram(1000);
    for (const x of spread) few.add(x);
    const many = new DecayingLogHistogram(1000);
    for (let i = 0; i < 400; i++) for (const x of spread) many.add(x);
    const beyond = (h: DecayingLogHistogram) =>
      h
        .smoothedBins()
        .filter((b) => b.fromMs > 13 * MIN * 1.1)
        .reduce((sum, b) => sum + b.weight, 0);
    const sum = (h: DecayingLogHistogram) => h.smoothedBins().reduce((s, b) => s + b.weight, 0);
    assert.ok(Math.abs(sum(few) - 1) < 1e-9 && Math.abs(sum(many) - 1) < 1e-9);
    // Five samples say little about where the sixth falls: some mass lies past the largest.
    assert.ok(beyond(few) > 0.02, String(beyond(few)));
    assert.ok(beyond(many) < beyond(few) / 2, `${beyond(many)} vs ${beyond(few)}`);
    // One steady idle time stays one bin.
    const steady = new DecayingLogHistogram(1000);
    for (let i = 0; i < 50; i++) steady.add(30_000);
    assert.deepEqual(steady.smoothedBins(), steady.bins());
  });
});

describe('cost-window policy', () => {
  it('falls back to the configured keep-alive until it has minSamples idle times', () => {
    const p = costWindow({ minSamples: 3 });
    p.onInvocation(fn, 0);
    p.onIdle!(fn, 1000);
    assert.deepEqual(idleSchedule(p, fn, 1000), [[0, 10 * MIN]]);
    for (let i = 1; i <= 3; i++) {
      p.onInvocation(fn, i * 5 * MIN);
      p.onIdle!(fn, i * 5 * MIN + 1000);
    }
    assert.deepEqual(
      p.idleBins('t/f').map((b) => [b.meanMs, b.weight]),
      [[5 * MIN - 1000, 1]],
    );
    const s = idleSchedule(p, fn, 15 * MIN + 1000);
    assert.equal(s.length, 1);
    // A pre-warm window around the bin holding 4:59, widened by 5 %.
    assert.ok(s[0]![0] > 4 * MIN && s[0]![1] < 6 * MIN, `window ${JSON.stringify(s)}`);
  });

  it('measures idle time per instance, most recently idle first, at the depth it went idle at', () => {
    const p = costWindow();
    // Two instances go idle at 0 (depth 0) and 10 s (depth 1 → level 1).
    p.onIdle!(fn, 0);
    p.onIdle!(fn, 10_000);
    // The next arrival takes the most recent (10 s) one, the one after that the older one.
    p.onInvocation(fn, 15_000);
    p.onInvocation(fn, 60_000);
    assert.deepEqual(
      p.idleBins('t/f', depthLevel(0)).map((b) => b.meanMs),
      [60_000],
    );
    assert.deepEqual(
      p.idleBins('t/f', depthLevel(1)).map((b) => b.meanMs),
      [5000],
    );
    // A third arrival with nothing idle (all busy) records nothing.
    p.onInvocation(fn, 61_000);
    assert.equal(p.idleBins('t/f').length, 1);
    assert.deepEqual([0, 1, 2, 3, 4, 7, 8].map(depthLevel), [0, 1, 2, 2, 3, 3, 4]);
  });

  it('prices a cold start per function too: a rarely invoked function is kept through its gaps', () => {
    // Idle times cycle through 20, 30, 40, 50, 60 minutes. At 10 minutes a cold start is cheaper
    // than keeping an instance through any of them; adding the mean gap (40 min) to the price
    // makes keeping worth it, so that function stops going cold.
    const decide = (functionWeight: number) => {
      const p = costWindow({ functionWeight });
      let t = 0;
      for (let i = 0; i < 30; i++) {
        p.onInvocation(fn, t);
        p.onIdle!(fn, t);
        t += (20 + 10 * (i % 5)) * MIN;
      }
      return p.decide(fn);
    };
    const perInvocation = decide(0);
    const perFunction = decide(1);
    assert.ok(perInvocation.coldProbability > 0.5, JSON.stringify(perInvocation));
    assert.ok(perFunction.coldProbability < 0.1, JSON.stringify(perFunction));
    assert.ok(perFunction.keepAliveMs >= 60 * MIN, JSON.stringify(perFunction));
  });

  it('rejects bad options with the value and the limit', () => {
    for (const bad of [
      { halfLife: 0 },
      { minSamples: 0.5 },
      { margin: 1 },
      { breakEvenMs: 0 },
      { slackMs: -1 },
      { functionWeight: -1 },
    ])
      assert.throws(
        () => costWindow(bad),
        (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_INVALID_CONFIG',
        JSON.stringify(bad),
      );
  });
});

describe('hybrid-refined: cost-window bounded by a reference schedule', () => {
  const points = (xs: number[]) => xs.map((x) => ({ x, w: 1, from: x, to: x }));
  const warm = (s: readonly (readonly [number, number])[], x: number) => s.some(([a, b]) => a <= x && x <= b);

  it('unloads between the modes a wide reference window keeps, warm wherever the reference is', () => {
    // Bursts: 13 idle times of 3 s, then one of 59 minutes; the hybrid keeps [0, 65 min].
    const xs = [...Array(130).fill(3000), ...Array(10).fill(59 * MIN)];
    const reference = [[0, 65 * MIN]] as const;
    const d = optimalWindow(xs, 10 * MIN, 0.05, 1000, reference);
    assert.ok(d.feasible);
    assert.equal(d.schedule.length, 2, JSON.stringify(d.schedule));
    for (const x of xs) assert.ok(warm(d.schedule, x), `${x} ms cold in ${JSON.stringify(d.schedule)}`);
    const mine = scheduleOutcome(points(xs), d.schedule);
    const theirs = scheduleOutcome(points(xs), reference);
    assert.equal(mine.coldProbability, 0);
    assert.ok(mine.idleMs < theirs.idleMs / 5, `${mine.idleMs} vs ${theirs.idleMs}`);
  });

  it('stays warm where the reference is even when a cold start would be cheaper', () => {
    // One idle time per hour of a day: unbounded, it keeps nothing (see above); bounded by a
    // reference that keeps 25 hours, every idle time stays warm, for no more idle time.
    const spread = Array.from({ length: 24 }, (_, i) => (i + 1) * 60 * MIN);
    assert.deepEqual(optimalWindow(spread, 10 * MIN, 0.05, 1000).schedule, []);
    const reference = [[0, 25 * 60 * MIN]] as const;
    const d = optimalWindow(spread, 10 * MIN, 0.05, 1000, reference);
    assert.ok(d.feasible);
    assert.equal(d.coldProbability, 0);
    assert.ok(
      scheduleOutcome(points(spread), d.schedule).idleMs <= scheduleOutcome(points(spread), reference).idleMs,
    );
  });

  it('says so when no candidate is as good as the reference, and the policy then keeps the reference', () => {
    const d = optimalWindow(Array(20).fill(30_000), 10 * MIN, 0.05, 1000, [[29_900, 30_100]]);
    assert.equal(d.feasible, false);
    const tight: KeepAlivePolicy = {
      name: 'tight',
      onInvocation() {},
      keepAliveMs: () => 30_100,
      schedule: () => [[29_900, 30_100]],
    };
    const p = costWindow({ baseline: tight });
    for (let i = 0; i < 20; i++) {
      p.onInvocation(fn, i * 30_000);
      p.onIdle!(fn, i * 30_000);
    }
    const decision = p.decide(fn, 19 * 30_000);
    assert.deepEqual(decision.schedule, [[29_900, 30_100]]);
    assert.equal(decision.fromBaseline, true);
  });

  it('follows the hybrid while learning, then refines its window for a bursty function', () => {
    const p = hybridRefined();
    const hybrid = hybridHistogram();
    assert.equal(p.name, 'hybrid-refined');
    const step = (t: number) => {
      for (const q of [p, hybrid]) {
        q.onInvocation(fn, t);
        q.onIdle!(fn, t + 100);
      }
    };
    // Bursts of 14 invocations 3 s apart, every hour.
    const burst = (h: number) => {
      for (let i = 0; i < 14; i++) step(h * 60 * MIN + i * 3000);
    };
    // Three arrivals, two idle times: too few for either; both keep the configured 10 minutes.
    for (let i = 0; i < 3; i++) step(i * 3000);
    assert.deepEqual(idleSchedule(p, fn, 6100), [[0, 10 * MIN]]);
    assert.deepEqual(idleSchedule(hybrid, fn, 6100), [[0, 10 * MIN]]);
    for (let h = 1; h < 24; h++) burst(h);
    const now = 23 * 60 * MIN + 39_100;
    const theirs = idleSchedule(hybrid, fn, now);
    const mine = idleSchedule(p, fn, now);
    // The hybrid keeps through the hour (its 5th percentile is in the first bin); the refined
    // schedule keeps seconds, unloads, and pre-warms ahead of the next burst.
    assert.equal(theirs.length, 1);
    assert.equal(theirs[0]![0], 0);
    assert.ok(theirs[0]![1] > 60 * MIN, JSON.stringify(theirs));
    assert.equal(mine.length, 2, JSON.stringify(mine));
    assert.ok(mine[0]![1] < MIN && warm(mine, 2900) && warm(mine, 60 * MIN - 39_100), JSON.stringify(mine));
    const loaded = (s: readonly (readonly [number, number])[]) => s.reduce((a, [x, y]) => a + y - x, 0);
    // (The smoothed distribution spreads the single long mode widely, so the pre-warm opens well
    // ahead of it; still less loaded time than the hybrid's.)
    assert.ok(loaded(mine) < loaded(theirs), `${JSON.stringify(mine)} vs ${JSON.stringify(theirs)}`);
  });
});
