import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { parseFunctionConfig } from '../../src/control/function-config.js';
import { greedyDualKeepAlive } from '../../src/policy/catalog.js';
import { GreedyDualCache } from '../../src/policy/greedy-dual.js';
import { CacheMemory } from '../../src/worker/cache-memory.js';
import { FunctionPool } from '../../src/worker/pool.js';
import { FakeTier, settle } from '../helpers/fake-tier.js';
import { testSpec } from './instance-spec.js';

/** Pools of three functions sharing one Greedy-Dual budget of two 128 MiB instances. */
function setup() {
  const clock = new ManualClock(0);
  const tier = new FakeTier();
  const memory = new CacheMemory(new GreedyDualCache(256));
  let n = 0;
  const pool = (name: string) =>
    new FunctionPool({
      key: `t/${name}@1`,
      policyKey: `t/${name}`,
      config: parseFunctionConfig({ memoryMb: 128 }),
      tier,
      clock,
      policy: greedyDualKeepAlive(),
      memory: memory.forPool({ fnKey: `t/${name}`, memoryMb: 128 }),
      prepare: async () => ({
        codeDir: '/code',
        entry: 'index.mjs',
        fetch: { bytesFromSource: 0, bytesFromCache: 0, source: 'cache' },
      }),
      spec: testSpec(name),
      newInstanceId: () => `${name}-${++n}`,
      onBackgroundError: (e) => {
        throw e;
      },
    });
  return { clock, tier, memory, a: pool('a'), b: pool('b'), c: pool('c') };
}

describe('greedy-dual on the live pool (host memory budget)', () => {
  it('keeps idle instances without a timer and evicts the lowest priority one when memory is needed', async () => {
    const { clock, tier, memory, a, b, c } = setup();
    // a used twice (frequency 2), b once: both idle, budget full.
    (await a.acquire()).release();
    (await a.acquire()).release();
    (await b.acquire()).release();
    clock.advance(24 * 3_600_000);
    await settle();
    assert.equal(tier.alive.length, 2, 'nothing expires on a timer');
    assert.equal(memory.usedMb, 256);
    // c needs room: b (lower priority: fewer uses at the same cost and size) goes.
    const lease = await c.acquire();
    assert.equal(lease.cold, true);
    await settle();
    assert.deepEqual(
      tier.alive.map((i) => i.id),
      ['a-1', 'c-3'],
    );
    assert.equal(memory.usedMb, 256);
    lease.release();
    const again = await a.acquire();
    assert.equal(again.cold, false, 'a stayed warm');
    again.release();
  });

  it('over-commits (and counts it) rather than failing when every instance is busy', async () => {
    const { tier, memory, a, b, c } = setup();
    const la = await a.acquire();
    const lb = await b.acquire();
    const lc = await c.acquire();
    assert.equal(tier.alive.length, 3);
    assert.equal(memory.overcommits, 1);
    for (const l of [la, lb, lc]) l.release();
  });

  it('forgets an instance that crashed', async () => {
    const { tier, memory, a } = setup();
    (await a.acquire()).release();
    assert.equal(memory.usedMb, 128);
    tier.instances[0]!.crash();
    await settle();
    assert.equal(memory.usedMb, 0);
  });
});
