/**
 * Every keep-alive policy, run by the live pool (ManualClock, scripted tier) and by the simulator
 * on the same arrivals, must serve the same invocations cold: the two share the policy objects and
 * `idleSchedule`, and this checks that the pool carries out keep, unload and pre-warm as the
 * simulator models them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { parseFunctionConfig } from '../../src/control/function-config.js';
import { hybridRefined } from '../../src/policy/catalog.js';
import { costWindow } from '../../src/policy/cost-window.js';
import { hybridHistogram } from '../../src/policy/hybrid-histogram.js';
import { fixedKeepAlive, type KeepAlivePolicy } from '../../src/policy/keep-alive.js';
import { simulateKeepAlive } from '../../src/sim/keepalive-sim.js';
import { FunctionPool } from '../../src/worker/pool.js';
import { FakeTier, settle } from '../helpers/fake-tier.js';
import { testSpec } from './instance-spec.js';

const SEC = 1000;
const MIN = 60 * SEC;

/** Arrival times (ms) mixing regimes: steady 5-minute period, 40 s bursts, a bimodal stretch, long gaps. */
function arrivals(): number[] {
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < 14; i++) out.push((t += 5 * MIN));
  for (let i = 0; i < 12; i++) out.push((t += 40 * SEC));
  for (let r = 0; r < 4; r++) {
    for (let i = 0; i < 5; i++) out.push((t += 8 * SEC));
    out.push((t += 13 * MIN));
  }
  out.push((t += 45 * MIN), (t += 3 * MIN), (t += 25 * MIN), (t += 5 * MIN));
  return out;
}

/** Cold flags when the live pool serves `times` (zero-length executions), stepping the clock by 1 s. */
async function poolColds(policy: KeepAlivePolicy, times: number[]): Promise<boolean[]> {
  const clock = new ManualClock(0);
  const pool = new FunctionPool({
    key: 't/f@1',
    policyKey: 't/f',
    config: parseFunctionConfig({ keepAliveMs: 10 * MIN }),
    tier: new FakeTier(),
    clock,
    policy,
    prepare: async () => ({
      codeDir: '/code',
      entry: 'index.mjs',
      fetch: { bytesFromSource: 0, bytesFromCache: 0, source: 'cache' },
    }),
    spec: testSpec('f'),
    newInstanceId: (() => {
      let n = 0;
      return () => `i-${++n}`;
    })(),
    onBackgroundError: (e) => {
      throw e;
    },
  });
  const colds: boolean[] = [];
  for (const t of times) {
    // Small steps so a pre-warm's (asynchronous) start completes before its window matters.
    while (clock.now() + SEC <= t) {
      clock.advance(SEC);
      await settle();
    }
    clock.advance(t - clock.now());
    await settle();
    const lease = await pool.acquire();
    colds.push(lease.cold);
    lease.release();
    await settle();
  }
  await pool.close();
  return colds;
}

function simColds(policy: KeepAlivePolicy, times: number[]): { cold: boolean[]; prewarms: number } {
  const r = simulateKeepAlive(
    {
      horizonMs: times[times.length - 1]! + MIN,
      functions: [{ key: 't/f', memoryMb: 128, startsMs: times, durationMs: () => 0 }],
    },
    { policy, configuredKeepAliveMs: 10 * MIN, coldStartMs: 0 },
  );
  return { cold: [...r.cold].map((c) => c === 1), prewarms: r.prewarms };
}

describe('keep-alive policy compliance: live pool and simulator agree', () => {
  const times = arrivals();
  const cases: [string, () => KeepAlivePolicy, boolean][] = [
    ['fixed', fixedKeepAlive, false],
    ['hybrid-histogram', () => hybridHistogram(), true],
    ['hybrid-histogram (idle from arrival)', () => hybridHistogram({ idleFrom: 'arrival' }), true],
    ['cost-window', () => costWindow(), true],
    ['hybrid-refined', hybridRefined, true],
  ];
  for (const [name, make, prewarms] of cases)
    it(`${name}: the same invocations are cold`, async () => {
      const sim = simColds(make(), times);
      const live = await poolColds(make(), times);
      assert.deepEqual(live, sim.cold);
      // The pattern exercises the policy: cold starts beyond the first, warm ones, and pre-warms.
      assert.ok(sim.cold.filter(Boolean).length > 1 && sim.cold.some((c) => !c), JSON.stringify(sim));
      assert.equal(sim.prewarms > 0, prewarms, `${sim.prewarms} pre-warms`);
    });
});
