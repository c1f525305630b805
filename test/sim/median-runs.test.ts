/** `bench:dist --repeat`: repeated measurements of a point fold into the median run. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { medianRuns, type DistBenchRun } from '../../src/sim/measured-costs.js';

const run = (strategy: string, hosts: number, allReadyS: number, registryMiB = allReadyS): DistBenchRun => ({
  strategy,
  lazy: true,
  hosts,
  allReadyS,
  p50ReadyS: allReadyS - 0.5,
  registryMiB,
  peerMiB: 0,
  startMiB: 16,
  wholeImageS: 20,
  readyS: [allReadyS],
  failures: 0,
});
const series = (r: DistBenchRun) => r.strategy;

describe('medianRuns', () => {
  it('keeps the run with the median all-ready time, with every repeat in measurement order', () => {
    const out = medianRuns(
      [run('tree', 16, 5.3), run('tree', 2, 1.6), run('tree', 16, 4.0), run('tree', 16, 4.8)],
      series,
    );
    assert.equal(out.length, 2);
    const [sixteen, two] = out;
    // Points keep the order of their first measurement.
    assert.equal(sixteen!.hosts, 16);
    assert.equal(sixteen!.allReadyS, 4.8);
    // The other fields are the median run's own, not a mix of runs.
    assert.equal(sixteen!.registryMiB, 4.8);
    assert.deepEqual(sixteen!.repeats, { allReadyS: [5.3, 4.0, 4.8], p50ReadyS: [4.8, 3.5, 4.3] });
    // A point measured once is left as it was.
    assert.deepEqual(two, run('tree', 2, 1.6));
  });

  it('takes the lower middle run for an even count, and keeps series apart', () => {
    const out = medianRuns(
      [run('tree', 4, 3.0), run('swarm', 4, 9.0), run('tree', 4, 2.0), run('swarm', 4, 1.0)],
      series,
    );
    assert.deepEqual(
      out.map((r) => [r.strategy, r.allReadyS]),
      [
        ['tree', 2.0],
        ['swarm', 1.0],
      ],
    );
  });
});
