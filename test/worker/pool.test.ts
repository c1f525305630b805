import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { parseFunctionConfig } from '../../src/control/function-config.js';
import { hybridHistogram } from '../../src/policy/hybrid-histogram.js';
import { fixedKeepAlive, type KeepAlivePolicy } from '../../src/policy/keep-alive.js';
import { FunctionPool, type Lease } from '../../src/worker/pool.js';
import { FakeTier, settle } from '../helpers/fake-tier.js';
import { testSpec } from './instance-spec.js';

function makePool(config: Record<string, unknown> = {}, policy: KeepAlivePolicy = fixedKeepAlive()) {
  const tier = new FakeTier();
  const clock = new ManualClock(1_000_000);
  const errors: KindlingError[] = [];
  let prepares = 0;
  let n = 0;
  const pool = new FunctionPool({
    key: 't/f@1',
    config: parseFunctionConfig(config),
    tier,
    clock,
    policy,
    prepare: async () => {
      prepares++;
      return {
        codeDir: '/code',
        entry: 'index.mjs',
        fetch: { bytesFromSource: 10, bytesFromCache: 0, source: 'registry' },
      };
    },
    spec: testSpec('f'),
    newInstanceId: () => `i-${++n}`,
    onBackgroundError: (e) => errors.push(e),
  });
  return { pool, tier, clock, errors, prepares: () => prepares };
}

describe('FunctionPool', () => {
  it('starts an instance for the first request (cold) and reuses it for the next (warm)', async () => {
    const { pool, tier } = makePool();
    const first = await pool.acquire();
    assert.equal(first.cold, true);
    assert.deepEqual(
      { sandbox: first.start?.sandboxMs, runtime: first.start?.runtimeMs, init: first.start?.initMs },
      { sandbox: 1, runtime: 2, init: 3 },
    );
    first.release();
    const second = await pool.acquire();
    assert.equal(second.cold, false);
    assert.equal(second.instance, first.instance);
    assert.equal(tier.instances.length, 1);
    second.release();
  });

  it('starts a new instance when the warm one is busy, up to maxInstances, then queues, then refuses with 429', async () => {
    const { pool, tier } = makePool({ maxInstances: 2, maxQueue: 1 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    assert.equal(tier.instances.length, 2);
    assert.notEqual(a.instance, b.instance);
    let queued: Lease | undefined;
    const waiting = pool.acquire().then((l) => (queued = l));
    await assert.rejects(
      pool.acquire(),
      (err: unknown) => KindlingError.is(err) && err.code === 'KINDLING_TOO_MANY_REQUESTS',
    );
    await settle();
    assert.equal(queued, undefined, 'the third request waits while both instances are busy');
    a.release();
    await waiting;
    assert.equal(queued!.cold, false);
    assert.equal(queued!.instance, a.instance, 'the queued request gets the instance that freed up');
    assert.equal(tier.instances.length, 2);
    b.release();
    queued!.release();
  });

  it('packs requests onto one instance up to its concurrency', async () => {
    const { pool, tier } = makePool({ concurrency: 3 });
    const leases = [await pool.acquire(), await pool.acquire(), await pool.acquire()];
    assert.equal(tier.instances.length, 1);
    assert.equal(pool.counts().busy, 1);
    const fourth = await pool.acquire();
    assert.equal(tier.instances.length, 2, 'the fourth concurrent request needs a second instance');
    for (const l of [...leases, fourth]) l.release();
  });

  it('evicts an idle instance when its keep-alive expires, and not before', async () => {
    const { pool, tier, clock } = makePool({ keepAliveMs: 60_000 });
    const lease = await pool.acquire();
    lease.release();
    clock.advance(59_999);
    assert.equal(tier.alive.length, 1);
    clock.advance(1);
    await settle();
    assert.equal(tier.alive.length, 0);
    const next = await pool.acquire();
    assert.equal(next.cold, true, 'after eviction the next request is cold');
    next.release();
  });

  it('a request resets the idle timer', async () => {
    const { pool, tier, clock } = makePool({ keepAliveMs: 1000 });
    (await pool.acquire()).release();
    clock.advance(900);
    (await pool.acquire()).release();
    clock.advance(900);
    await settle();
    assert.equal(tier.alive.length, 1);
    clock.advance(100);
    await settle();
    assert.equal(tier.alive.length, 0);
  });

  it('keeps minWarm instances ready, never evicts below it, and replaces a crashed one', async () => {
    const { pool, tier, clock } = makePool({ minWarm: 2, keepAliveMs: 1000 });
    pool.keepWarm(2);
    await settle();
    assert.equal(tier.alive.length, 2);
    const lease = await pool.acquire();
    assert.equal(lease.cold, false, 'a pre-warmed instance serves the first request');
    lease.release();
    clock.advance(10_000);
    await settle();
    assert.equal(tier.alive.length, 2, 'minWarm instances are not evicted');
    tier.alive[0]!.crash();
    await settle();
    assert.equal(tier.alive.length, 2, 'a crashed instance is replaced');
    assert.equal(tier.instances.length, 3);
  });

  it('removes a crashed instance and serves the next request with a new one', async () => {
    const { pool, tier } = makePool();
    const lease = await pool.acquire();
    (lease.instance as unknown as { crash(): void }).crash();
    lease.release();
    await settle();
    const next = await pool.acquire();
    assert.equal(next.cold, true);
    assert.equal(tier.instances.length, 2);
    next.release();
  });

  it('a failed start is reported to its request and frees its capacity', async () => {
    const { pool, tier } = makePool({ maxInstances: 1 });
    tier.failNext = new KindlingError('KINDLING_INIT_FAILED', 'top-level code threw');
    await assert.rejects(
      pool.acquire(),
      (err: unknown) => KindlingError.is(err) && err.code === 'KINDLING_INIT_FAILED',
    );
    const ok = await pool.acquire();
    assert.equal(ok.cold, true);
    ok.release();
  });

  it('close refuses queued requests and stops every instance', async () => {
    const { pool, tier } = makePool({ maxInstances: 1 });
    const a = await pool.acquire();
    const waiting = pool.acquire();
    await pool.close();
    await assert.rejects(
      waiting,
      (err: unknown) => KindlingError.is(err) && err.code === 'KINDLING_UNAVAILABLE',
    );
    assert.equal(tier.alive.length, 0);
    a.release();
  });

  it('follows the hybrid-histogram policy: unloads after each call and pre-warms just before the next', async () => {
    const { pool, tier, clock } = makePool({ keepAliveMs: 600_000 }, hybridHistogram());
    const MIN = 60_000;
    // Calls 5 minutes apart. The first 10 idle times are too few for the histogram: the fixed
    // 10-minute fallback keeps the one instance warm. Then the window is [4.5, 5.5] minutes.
    const cold: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      const lease = await pool.acquire();
      cold.push(lease.cold);
      lease.release();
      await settle();
      if (i === 19) break;
      clock.advance(4.5 * MIN);
      await settle(); // lets a pre-warm start finish
      clock.advance(0.5 * MIN);
    }
    assert.deepEqual(cold, [true, ...Array(19).fill(false)], 'every call after the first is warm');
    assert.ok(tier.instances.length > 5, 'pre-warmed instances replaced the unloaded ones');
    assert.equal(tier.alive.length, 0, 'unloaded right after the call');
    clock.advance(4.5 * MIN);
    await settle();
    assert.equal(tier.alive.length, 1, 'pre-warmed at 4.5 minutes');
    clock.advance(1 * MIN - 1);
    await settle();
    assert.equal(tier.alive.length, 1, 'still warm just before 5.5 minutes');
    clock.advance(2);
    await settle();
    assert.equal(tier.alive.length, 0, 'evicted at 5.5 minutes, where the fixed policy would wait 10');
  });

  it('follows a two-window schedule; an arrival between the windows is cold and cancels the pre-warm', async () => {
    const policy: KeepAlivePolicy = {
      name: 'scripted',
      onInvocation() {},
      keepAliveMs: () => 10_000,
      schedule: () => [
        [0, 1000],
        [8000, 10_000],
      ],
    };
    const { pool, tier, clock } = makePool({}, policy);
    (await pool.acquire()).release();
    clock.advance(999);
    assert.equal(tier.alive.length, 1, 'kept through the first window');
    clock.advance(1);
    await settle();
    assert.equal(tier.alive.length, 0, 'unloaded between the windows');
    clock.advance(7000);
    await settle();
    assert.equal(tier.alive.length, 1, 'pre-warmed at 8 s');
    const warm = await pool.acquire();
    assert.equal(warm.cold, false);
    warm.release();
    // Next idle period: arrive at 3 s, between the windows: cold, and no pre-warm follows.
    clock.advance(3000);
    await settle();
    const cold = await pool.acquire();
    assert.equal(cold.cold, true);
    assert.equal(pool.pendingPrewarms, 0, 'the pending pre-warm was for this arrival');
    cold.release();
    // A superseded version drops its scheduled pre-warms.
    clock.advance(2000);
    await settle();
    assert.equal(pool.pendingPrewarms, 1);
    pool.cancelPrewarms();
    clock.advance(60_000);
    await settle();
    assert.equal(tier.alive.length, 0, 'nothing was pre-warmed');
  });

  it('ranks a pre-warmed instance by the idle start it stands in for, as the simulator does', async () => {
    const SEC = 1000;
    const T0 = 1_000_000;
    // Instances A and B go idle at +10 s and +20 s. A's window is [65, 400] s after that (loaded
    // at +75 s), B's [50, 100] s (loaded at +70 s). The arrival at +100 s is the one B's idle
    // period was for; taking A (the later pre-warm) would leave B to expire at +120 s and make the
    // arrival at +300 s cold.
    const policy: KeepAlivePolicy = {
      name: 'per-instance',
      onInvocation() {},
      keepAliveMs: () => 0,
      schedule: (_fn, now) =>
        now === T0 + 10 * SEC
          ? [[65 * SEC, 400 * SEC]]
          : now === T0 + 20 * SEC
            ? [[50 * SEC, 100 * SEC]]
            : [],
    };
    const { pool, clock } = makePool({}, policy);
    const step = async (to: number) => {
      while (clock.now() < T0 + to) {
        clock.advance(Math.min(SEC, T0 + to - clock.now()));
        await settle();
      }
    };
    const a = await pool.acquire();
    const b = await pool.acquire();
    await step(10 * SEC);
    a.release();
    await step(20 * SEC);
    b.release();
    await step(100 * SEC);
    const first = await pool.acquire();
    assert.equal(first.cold, false);
    first.release();
    await step(300 * SEC);
    const second = await pool.acquire();
    assert.equal(second.cold, false, 'the instance pre-warmed for this arrival is still loaded');
    second.release();
    await pool.close();
  });

  it('never unloads below minWarm, whatever the pre-warm schedule says', async () => {
    const policy: KeepAlivePolicy = {
      name: 'scripted',
      onInvocation() {},
      keepAliveMs: () => 5000,
      prewarmMs: () => 4000,
    };
    const { pool, tier, clock } = makePool({ minWarm: 1 }, policy);
    pool.keepWarm(1);
    await settle();
    assert.equal(tier.alive.length, 1);
    const a = await pool.acquire();
    const b = await pool.acquire();
    assert.equal(tier.alive.length, 2);
    a.release();
    b.release();
    await settle();
    // One of the two is unloaded for its pre-warm, the other stays: minWarm is 1.
    assert.equal(tier.alive.length, 1);
    clock.advance(4000);
    await settle();
    assert.equal(tier.alive.length, 2, 'the unloaded one was pre-warmed');
    clock.advance(1000);
    await settle();
    assert.equal(tier.alive.length, 1, 'and let go at the end of its window, down to minWarm');
    clock.advance(60 * 60_000);
    await settle();
    assert.equal(tier.alive.length, 1, 'minWarm stays');
  });

  it('pre-warms one instance for a known arrival, holds it apart from the policy, and not when one is loaded', async () => {
    const idles: number[] = [];
    const policy: KeepAlivePolicy = { ...fixedKeepAlive(), onIdle: (_fn, now) => idles.push(now) };
    const { pool, tier, clock } = makePool({ keepAliveMs: 1_000 }, policy);
    pool.prewarmFor(15_000);
    pool.prewarmFor(15_000); // already starting: one instance
    await settle();
    assert.equal(tier.alive.length, 1);
    assert.deepEqual(idles, [], 'waiting for the tick is no idle time the function showed');
    clock.advance(10_000); // past the function's 1 s keep-alive, within the hold
    await settle();
    const tick = await pool.acquire();
    assert.equal(tick.cold, false, 'the tick finds it warm');
    tick.release();
    await settle();
    assert.equal(idles.length, 1, 'after serving, the policy decides');
    clock.advance(500);
    pool.prewarmFor(15_000);
    await settle();
    assert.equal(tier.instances.length, 1, 'an instance is loaded: no second one');
    clock.advance(1_000);
    await settle();
    assert.equal(tier.alive.length, 1, 'its keep-alive would end before the arrival: held for it');
    clock.advance(14_000);
    await settle();
    assert.equal(tier.alive.length, 0, 'until the hold ends');

    // Held and never used: unloaded when the hold ends.
    pool.prewarmFor(15_000);
    await settle();
    assert.equal(tier.alive.length, 1);
    clock.advance(14_999);
    await settle();
    assert.equal(tier.alive.length, 1);
    clock.advance(1);
    await settle();
    assert.equal(tier.alive.length, 0);
  });

  it('holds a loaded instance for a known arrival when its keep-alive would end before it', async () => {
    const { pool, tier, clock } = makePool({ keepAliveMs: 595_000 });
    const first = await pool.acquire();
    first.release();
    await settle();
    clock.advance(590_000); // the next tick is at 600 s; the keep-alive ends at 595 s
    pool.prewarmFor(70_000);
    await settle();
    assert.equal(tier.instances.length, 1, 'no second instance');
    clock.advance(10_000);
    await settle();
    assert.equal(tier.alive.length, 1, 'held past its keep-alive, for the tick');
    const tick = await pool.acquire();
    assert.equal(tick.cold, false);
    tick.release();
  });
});
