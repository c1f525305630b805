import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { greedyDualKeepAlive } from '../../src/policy/catalog.js';
import { GreedyDualCache } from '../../src/policy/greedy-dual.js';
import { fixedKeepAlive, type KeepAlivePolicy } from '../../src/policy/keep-alive.js';
import { simulateKeepAlive, type SimWorkload } from '../../src/sim/keepalive-sim.js';
import { peakBusyMemoryMb } from '../../src/sim/workload.js';

const MIN = 60_000;

function workload(
  fns: { key: string; memoryMb?: number; starts: number[]; dur?: number }[],
  horizonMs: number,
): SimWorkload {
  return {
    horizonMs,
    functions: fns.map((f) => ({
      key: f.key,
      memoryMb: f.memoryMb ?? 1024,
      startsMs: f.starts,
      durationMs: () => f.dur ?? 0,
    })),
  };
}

/** A policy with a fixed schedule, to check the simulator's side exactly. */
function scheduled(intervals: [number, number][]): KeepAlivePolicy {
  return {
    name: 'scripted',
    onInvocation() {},
    keepAliveMs: () => intervals[intervals.length - 1]?.[1] ?? 0,
    schedule: () => intervals,
  };
}

const MBMS_PER_GIBH = 1024 * 3_600_000;

describe('keep-alive simulation', () => {
  it('fixed keep-alive: warm within the window, cold after it; waste = memory × idle time', () => {
    // Arrivals at 0, 5, 20 minutes; keep-alive 10 minutes; no execution or start time.
    const w = workload([{ key: 'a', starts: [0, 5 * MIN, 20 * MIN] }], 30 * MIN);
    const r = simulateKeepAlive(w, {
      policy: fixedKeepAlive(),
      configuredKeepAliveMs: 10 * MIN,
      coldStartMs: 0,
    });
    assert.equal(r.invocations, 3);
    assert.equal(r.coldStarts, 2); // 0 and 20
    assert.deepEqual([...r.cold], [1, 0, 1]);
    // Idle: 0→5 (5 min), 5→15 (10 min, evicted), 20→30 (10 min, end of trace) = 25 GiB-minutes.
    assert.equal(r.wastedMbMs, 25 * MIN * 1024);
    assert.equal(r.wastedMbMs / MBMS_PER_GIBH, 25 / 60);
  });

  it('overlapping invocations need one instance each, and busy time is not waste', () => {
    const w = workload([{ key: 'a', starts: [0, 1000, 2000], dur: 5000 }], 10_000);
    const r = simulateKeepAlive(w, { policy: fixedKeepAlive(), configuredKeepAliveMs: 0, coldStartMs: 0 });
    assert.equal(r.coldStarts, 3);
    assert.equal(r.wastedMbMs, 0);
    assert.equal(r.peakMemoryMb, 3072);
    assert.equal(peakBusyMemoryMb(w), 3072);
  });

  it('with unbounded instance concurrency one instance serves overlapping invocations (the paper model)', () => {
    const w = workload([{ key: 'a', starts: [0, 1000, 2000, 30_000], dur: 5000 }], 40_000);
    const r = simulateKeepAlive(w, {
      policy: fixedKeepAlive(),
      configuredKeepAliveMs: 10_000,
      coldStartMs: 0,
      concurrency: Number.POSITIVE_INFINITY,
    });
    // One instance busy 0→7 s, idle 7→17 s (evicted), cold again at 30 s, idle 35→40 s.
    assert.deepEqual([...r.cold], [1, 0, 0, 1]);
    assert.equal(r.peakMemoryMb, 1024);
    assert.equal(r.wastedMbMs, 15_000 * 1024);
  });

  it('pre-warm: unloads at once, loads again at the window start; an early arrival is cold and cancels it', () => {
    // Window [8, 12] minutes after each idle start.
    const policy = scheduled([[8 * MIN, 12 * MIN]]);
    // 0: cold; 10: in window (warm); 15: idle since 10 → window [18, 22]: early → cold.
    const w = workload([{ key: 'a', starts: [0, 10 * MIN, 15 * MIN] }], 40 * MIN);
    const r = simulateKeepAlive(w, { policy, configuredKeepAliveMs: 10 * MIN, coldStartMs: 0 });
    assert.deepEqual([...r.cold], [1, 0, 1]);
    // Loaded idle: 8→10 (2 min), then after 15: window [23, 27] (4 min) within the horizon.
    assert.equal(r.wastedMbMs, 6 * MIN * 1024);
    assert.equal(r.prewarms, 2);
  });

  it('two windows: keep for the short mode, unload, pre-warm for the long one', () => {
    const policy = scheduled([
      [0, 1 * MIN],
      [9 * MIN, 11 * MIN],
    ]);
    // 0 cold; 0.5 warm (short mode); 10.5 warm via the pre-warm (idle since 0.5: window [9.5, 11.5]).
    const w = workload([{ key: 'a', starts: [0, 0.5 * MIN, 10.5 * MIN] }], 10.5 * MIN);
    const r = simulateKeepAlive(w, { policy, configuredKeepAliveMs: 10 * MIN, coldStartMs: 0 });
    assert.deepEqual([...r.cold], [1, 0, 0]);
    // Idle loaded: 0→0.5, 0.5→1.5, 9.5→10.5 = 2.5 minutes.
    assert.equal(r.wastedMbMs, 2.5 * MIN * 1024);
  });

  it('a pre-warmed instance stands in for the instance that went idle: arrivals rank it by that idle start', () => {
    const SEC = 1000;
    // Two overlapping invocations (0 and 1 s, 500 ms cold start) leave instances idle at 10 s (A)
    // and 20 s (B). The policy gives A the window [65, 400] s and B [50, 100] s after their idle
    // starts: A loads at 75 s, B at 70 s. The arrival at 100 s is the one B's idle period was for
    // (the most recently idle instance takes the next arrival); the one at 300 s is A's.
    const policy: KeepAlivePolicy = {
      name: 'per-instance',
      onInvocation() {},
      keepAliveMs: () => 0,
      schedule: (_fn, now) =>
        now === 10 * SEC ? [[65 * SEC, 400 * SEC]] : now === 20 * SEC ? [[50 * SEC, 100 * SEC]] : [],
    };
    const w: SimWorkload = {
      horizonMs: 500 * SEC,
      functions: [
        {
          key: 'a',
          memoryMb: 1024,
          startsMs: [0, 1 * SEC, 100 * SEC, 300 * SEC],
          durationMs: (i) => [9.5, 18.5, 0, 0][i]! * SEC,
        },
      ],
    };
    const r = simulateKeepAlive(w, { policy, configuredKeepAliveMs: 10 * MIN, coldStartMs: 500 });
    // Taking the most recently loaded instance (A) at 100 s would leave B to expire at 120 s and
    // make the arrival at 300 s cold.
    assert.deepEqual([...r.cold], [1, 1, 0, 0]);
  });

  it('greedy-dual: keeps everything until memory is needed, then evicts the lowest priority', () => {
    // Budget for two 1 GiB instances. a is used twice (frequency 2), b once; c's start must evict b.
    // Cold starts cost 1 s (priority = frequency × 1000 / 1024) and keep the instance busy for it.
    const w = workload(
      [
        { key: 'a', starts: [0, 1000, 5000] },
        { key: 'b', starts: [2000, 6000] },
        { key: 'c', starts: [3000] },
      ],
      10_000,
    );
    const r = simulateKeepAlive(w, {
      policy: greedyDualKeepAlive(),
      configuredKeepAliveMs: 10 * MIN,
      warmCache: new GreedyDualCache(2048),
      memoryMb: 2048,
      coldStartMs: 1000,
    });
    // a:0 cold, a:1000 warm, b:2000 cold, c:3000 cold (evicts b), a:5000 warm, b:6000 cold (evicts c).
    assert.deepEqual(
      r.functions.map((f) => [f.key, f.coldStarts]),
      [
        ['a', 1],
        ['b', 2],
        ['c', 1],
      ],
    );
    assert.equal(r.overcommits, 0);
    assert.equal(r.peakMemoryMb, 2048);
  });

  it('greedy-dual over-commits rather than refusing when every instance is busy', () => {
    const w = workload(
      [
        { key: 'a', starts: [0], dur: 5000 },
        { key: 'b', starts: [100], dur: 5000 },
      ],
      10_000,
    );
    const r = simulateKeepAlive(w, {
      policy: greedyDualKeepAlive(),
      configuredKeepAliveMs: 0,
      warmCache: new GreedyDualCache(1024),
      memoryMb: 1024,
      coldStartMs: 0,
    });
    assert.equal(r.coldStarts, 2);
    assert.equal(r.overcommits, 1);
  });
});
