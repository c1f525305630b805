import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fixedKeepAlive } from '../../src/policy/keep-alive.js';
import { simulateKeepAlive } from '../../src/sim/keepalive-sim.js';
import { medianColdOverheadMs, predictReplay } from '../../src/sim/replay-prediction.js';
import { traceWorkload } from '../../src/sim/workload.js';
import { readTraceDir } from '../../src/trace/load.js';
import { traceSlice, type Trace } from '../../src/trace/trace.js';

const TRACES = new URL('../../../../shared/data/traces/', import.meta.url).pathname;

const tiny: Trace = {
  format: 'azure2021',
  horizonMs: 600_000,
  functions: [
    {
      key: 'a/f',
      app: 'a',
      function: 'f',
      startsMs: [0, 60_000, 300_000, 590_000],
      durationsMs: [6000, 600, 60, 6],
    },
    { key: 'a/g', app: 'a', function: 'g', startsMs: [120_000, 130_000], durationsMs: [1000, 1000] },
  ],
};

describe("trace slices and the simulator's prediction for a replay", () => {
  it('slices a window, moves it to 0 and keeps the functions with the asked-for counts', () => {
    const s = traceSlice(tiny, { fromMs: 60_000, toMs: 310_000 });
    assert.equal(s.horizonMs, 250_000);
    assert.deepEqual(
      s.functions.map((f) => [f.key, f.startsMs, f.durationsMs]),
      [
        ['a/f', [0, 240_000], [600, 60]],
        ['a/g', [60_000, 70_000], [1000, 1000]],
      ],
    );
    assert.deepEqual(
      traceSlice(tiny, { minInvocations: 3 }).functions.map((f) => f.key),
      ['a/f'],
    );
    assert.deepEqual(
      traceSlice(tiny, { maxInvocations: 2 }).functions.map((f) => f.key),
      ['a/g'],
    );
  });

  it('predicts on the compressed timeline what the trace-time simulation gives with the cold start scaled', async () => {
    const trace = traceSlice(await readTraceDir(join(TRACES, 'azure2019-sample100')), {
      toMs: 3_600_000,
      minInvocations: 10,
      maxInvocations: 400,
    });
    const speedup = 20;
    const predicted = predictReplay(trace, {
      speedup,
      keepAliveMs: 600_000,
      policy: 'fixed',
      coldStartMs: 25,
    });
    const onTraceTime = simulateKeepAlive(traceWorkload(trace), {
      policy: fixedKeepAlive(),
      configuredKeepAliveMs: 600_000,
      coldStartMs: 25 * speedup,
    });
    assert.ok(predicted.invocations > 100, `${predicted.invocations} invocations`);
    assert.equal(predicted.coldStarts, onTraceTime.coldStarts);
    // The adaptive policies run too (each with its own fresh state).
    for (const policy of ['hybrid-histogram', 'cost-window', 'hybrid-refined'] as const) {
      const p = predictReplay(trace, { speedup, keepAliveMs: 600_000, policy, coldStartMs: 25 });
      assert.ok(p.coldStarts > 0 && p.coldStarts <= p.invocations, `${policy} ${p.coldStarts}`);
    }
    assert.throws(
      () => predictReplay(trace, { speedup, keepAliveMs: 600_000, policy: 'greedy-dual', coldStartMs: 0 }),
      /greedy-dual evicts by the host memory budget/,
    );
  });

  it('takes the cold-start time from what cold invocations took beyond their execution', () => {
    const records = [
      { fn: 'a/f', index: 0, cold: true, latencyMs: 100 + 6000 / 60 }, // 100 ms beyond 100 ms of execution
      { fn: 'a/f', index: 1, cold: false, latencyMs: 999 },
      { fn: 'a/g', index: 0, cold: true, latencyMs: 60 + 1000 / 60 },
      { fn: 'a/g', index: 1, cold: true, latencyMs: 80 + 1000 / 60 },
    ];
    assert.equal(Math.round(medianColdOverheadMs(tiny, 60, records)), 80);
    assert.equal(medianColdOverheadMs(tiny, 60, []), 0);
  });
});
