import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { hybridHistogram } from '../../src/policy/hybrid-histogram.js';
import { IdleHistogram } from '../../src/policy/idle-histogram.js';
import type { KeepAlivePolicy, PolicyFunction } from '../../src/policy/keep-alive.js';
import { fixedKeepAlive } from '../../src/policy/keep-alive.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const fn: PolicyFunction = { key: 't/f@1', configuredKeepAliveMs: 10 * MIN, memoryMb: 128 };

/** Feeds arrivals at the given times, each an instantaneous execution; returns the time of the last one. */
function arrive(policy: KeepAlivePolicy, times: number[]): number {
  for (const t of times) {
    policy.onInvocation(fn, t);
    policy.onIdle?.(fn, t);
  }
  return times[times.length - 1] ?? 0;
}

describe('idle histogram', () => {
  it('rounds into bins, counts out-of-range idle times and computes percentiles and CV', () => {
    const h = new IdleHistogram(MIN, 240);
    assert.equal(h.binOf(5 * MIN - 2000), 5);
    assert.equal(h.binOf(5 * MIN + 29_000), 5);
    for (let i = 0; i < 10; i++) h.add(5 * MIN);
    assert.equal(h.add(240 * MIN), false);
    assert.equal(h.total, 11);
    assert.equal(h.outOfRange, 1);
    assert.equal(h.percentileBin(0.05), 5);
    // One tall bin among 240: CV = √239.
    assert.ok(Math.abs(h.cv() - Math.sqrt(239)) < 1e-9);
    assert.equal(h.snapshot().counts[5], 10);
  });
});

describe('hybrid histogram policy (Serverless in the Wild)', () => {
  it('a function invoked every 5 minutes: pre-warm 4.5 min, keep-alive 5.5 min', () => {
    const p = hybridHistogram();
    // ±2 s of jitter must not move the windows.
    const now = arrive(
      p,
      Array.from({ length: 20 }, (_, i) => i * 5 * MIN + (i % 2 ? 2000 : -2000)),
    );
    const d = p.decide(fn, now);
    assert.equal(d.mode, 'histogram');
    assert.equal(d.prewarmMs, 4.5 * MIN);
    assert.equal(d.keepAliveMs, 5.5 * MIN);
    assert.equal(p.keepAliveMs(fn, now), 5.5 * MIN);
    assert.equal(p.prewarmMs?.(fn, now), 4.5 * MIN);
    assert.equal(p.histogram(fn.key)?.counts[5], 19);
  });

  it('head and tail come from the 5th and 99th percentiles, each widened to cover its bin', () => {
    const p = hybridHistogram();
    // 90 idle times of 1 minute, 10 of 30 minutes.
    const times = [0];
    for (let i = 0; i < 100; i++) times.push(times[times.length - 1]! + (i % 10 === 9 ? 30 * MIN : MIN));
    const d = p.decide(fn, arrive(p, times));
    assert.equal(d.mode, 'histogram');
    assert.equal(d.prewarmMs, 0.5 * MIN); // min(1·0.9, 1 − ½) minutes
    assert.equal(d.keepAliveMs, 33 * MIN); // max(30·1.1, 30 + ½) minutes
  });

  it('falls back to the configured keep-alive with too few samples', () => {
    const p = hybridHistogram();
    assert.deepEqual(
      { ...p.decide(fn, 0), reason: '' },
      { mode: 'fallback', prewarmMs: 0, keepAliveMs: 10 * MIN, reason: '' },
    );
    const now = arrive(
      p,
      [0, 5, 10, 15].map((m) => m * MIN),
    );
    assert.equal(p.decide(fn, now).mode, 'fallback');
    assert.match(p.decide(fn, now).reason, /3 idle times, fewer than 10/);
    const q = hybridHistogram({ fallbackKeepAliveMs: 4 * HOUR });
    assert.equal(q.keepAliveMs(fn, arrive(q, [0, MIN])), 4 * HOUR);
    assert.equal(fixedKeepAlive().prewarmMs, undefined);
  });

  it('falls back when the bin counts are too even (CV < 2)', () => {
    const p = hybridHistogram();
    // One idle time in each bin 1..239 minutes: CV ≈ 0.06.
    const times = [0];
    for (let m = 1; m < 240; m++) times.push(times[times.length - 1]! + m * MIN);
    const d = p.decide(fn, arrive(p, times));
    assert.equal(d.mode, 'fallback');
    assert.equal(d.keepAliveMs, 10 * MIN);
    assert.ok(p.histogram(fn.key)!.cv < 2);
  });

  it('predicts out-of-range idle times with an EWMA (α = ½)', () => {
    const p = hybridHistogram({ minSamples: 3 });
    // Idle times 5 h, 6 h, 6 h → EWMA 5 h, 5.5 h, 5.75 h.
    const d = p.decide(fn, arrive(p, [0, 5 * HOUR, 11 * HOUR, 17 * HOUR]));
    assert.equal(p.prediction(fn.key), 5.75 * HOUR);
    assert.equal(d.mode, 'time-series');
    assert.equal(d.prewarmMs, Math.round(5.75 * HOUR * 0.85));
    assert.equal(d.keepAliveMs, Math.round(5.75 * HOUR * 1.15));
  });

  it('measures idle time from the end of the execution, as the paper does (idleFrom "arrival": the arrival gap)', () => {
    const byEnd = hybridHistogram();
    const byArrival = hybridHistogram({ idleFrom: 'arrival' });
    // Arrivals every 10 minutes, each running 4 minutes: arrival gaps are 10 minutes, idle times 6.
    for (let i = 0; i < 12; i++) {
      for (const p of [byArrival, byEnd]) {
        p.onInvocation(fn, i * 10 * MIN);
        p.onIdle!(fn, i * 10 * MIN + 4 * MIN);
      }
    }
    assert.equal(byArrival.histogram(fn.key)?.counts[10], 11);
    assert.equal(byEnd.histogram(fn.key)?.counts[6], 11);
    assert.throws(
      () => hybridHistogram({ idleFrom: 'start' as 'end' }),
      (err: unknown) => KindlingError.is(err) && err.code === 'KINDLING_INVALID_CONFIG',
    );
  });

  it('measures idle time per instance: overlapping invocations are not idle gaps', () => {
    // Every 5 minutes a burst of 3 invocations 10 s apart, each running 60 s, so 3 instances. The
    // arrival gaps are 10 s (2 of 3) and 280 s; each instance idles 220 to 260 s.
    const p = hybridHistogram();
    for (let b = 0; b < 5; b++) {
      const t0 = b * 5 * MIN;
      for (let i = 0; i < 3; i++) p.onInvocation(fn, t0 + i * 10_000);
      for (let i = 0; i < 3; i++) p.onIdle!(fn, t0 + i * 10_000 + MIN);
    }
    const h = p.histogram(fn.key)!;
    assert.equal(h.total, 12);
    assert.equal(h.counts[4], 12);
    // An arrival with every instance busy ends no idle period.
    for (let i = 0; i < 4; i++) p.onInvocation(fn, 26 * MIN + i);
    assert.equal(p.histogram(fn.key)!.total, 15);
  });

  it('keeps functions apart, forgets on request and rejects bad options', () => {
    const p = hybridHistogram();
    p.onInvocation(fn, 0);
    assert.equal(p.histogram('other'), undefined);
    assert.equal(p.histogram(fn.key)?.total, 0);
    p.forget(fn.key);
    assert.equal(p.histogram(fn.key), undefined);
    const invalid = (err: unknown) => KindlingError.is(err) && err.code === 'KINDLING_INVALID_CONFIG';
    assert.throws(() => hybridHistogram({ margin: 1.5 }), invalid);
    assert.throws(() => hybridHistogram({ headPercentile: 0.9, tailPercentile: 0.5 }), invalid);
    assert.throws(() => hybridHistogram({ binMs: 0 }), invalid);
  });
});
