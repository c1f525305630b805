import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { parseFunctionConfig } from '../../src/control/function-config.js';
import { hybridHistogram } from '../../src/policy/hybrid-histogram.js';
import { fixedKeepAlive, type KeepAlivePolicy } from '../../src/policy/keep-alive.js';
import { FunctionPool, type Lease } from '../../src/worker/pool.js';
import { FakeTier, settle } from '../helpers/fake-tier.js';

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
    spec: (instanceId, code) => ({
      instanceId,
      functionName: 'f',
      functionVersion: 1,
      codeDir: code.codeDir,
      entry: code.entry,
      env: {},
      memoryMb: 128,
      concurrency: 1,
      logLimitBytes: 1024,
    }),
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

  it('follows the hybrid-histogram policy: a function called every 5 minutes is kept ~5.5 minutes, not 10', async () => {
    const { pool, tier, clock } = makePool({ keepAliveMs: 600_000 }, hybridHistogram());
    // Twenty calls, 5 minutes apart: the instance stays warm between them (5 min < both windows).
    for (let i = 0; i < 20; i++) {
      (await pool.acquire()).release();
      if (i < 19) clock.advance(5 * 60_000);
    }
    assert.equal(tier.instances.length, 1, 'one instance served every call');
    clock.advance(5.5 * 60_000 - 1);
    await settle();
    assert.equal(tier.alive.length, 1, 'still warm just before the 99th-percentile window (+10%) ends');
    clock.advance(2);
    await settle();
    assert.equal(tier.alive.length, 0, 'evicted at 5.5 minutes, where the fixed policy would wait 10');
  });
});
