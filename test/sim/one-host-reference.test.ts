/** The cluster benchmark's one-host runs as the calibration's reference. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DistSimCpu } from '../../src/sim/dist-sim.js';
import { extraStartS, oneHostCosts, scaleToOneHost } from '../../src/sim/one-host-reference.js';

const benchCpu: DistSimCpu = {
  machines: 'shared',
  cores: 2,
  receiveMsPerMiB: 20,
  sendMsPerMiB: 6,
  controlMsPerMiB: 4,
  materialiseMsPerMiB: 10,
};

const oneHostTree = {
  strategy: 'tree',
  lazy: false,
  hosts: 1,
  registryMiB: 100,
  waveCpuByRoleS: {
    workers: 4.5,
    'control plane': 2,
    interrupts: 0.2,
    'kernel threads': 0.1,
    sandboxes: 0.1,
  },
};

const oneHost = (strategy: string, workers: number) => ({
  ...oneHostTree,
  strategy,
  waveCpuByRoleS: { ...oneHostTree.waveCpuByRoleS, workers },
});

describe('one-host reference', () => {
  it("takes the processes' CPU per MiB from the one-host whole-image runs", () => {
    const ref = oneHostCosts([oneHostTree], benchCpu);
    assert.deepEqual(ref, {
      runs: 1,
      workerMsPerMiB: 45,
      controlPlaneMsPerMiB: 20,
      kernelMsPerMiB: 3,
      workerScale: 1.5, // 45 ÷ (20 + 10)
      controlPlaneScale: 2, // 20 ÷ (6 + 4)
    });
  });

  it('takes the median over the strategies (the same work at one host)', () => {
    const runs = [
      oneHost('registry', 3.9),
      oneHostTree,
      oneHost('swarm', 6),
      { ...oneHost('tree', 9), hosts: 2 },
    ];
    assert.equal(oneHostCosts(runs, benchCpu)?.workerMsPerMiB, 45);
    assert.equal(oneHostCosts(runs, benchCpu)?.runs, 3);
  });

  it('has none without a one-host whole-image run with its per-role CPU', () => {
    assert.equal(oneHostCosts([{ ...oneHostTree, lazy: true }], benchCpu), undefined);
    assert.equal(oneHostCosts([{ ...oneHostTree, hosts: 2 }], benchCpu), undefined);
    const beforeRoles = { strategy: 'tree', lazy: false, hosts: 1, registryMiB: 100 };
    assert.equal(oneHostCosts([beforeRoles], benchCpu), undefined);
    assert.equal(oneHostCosts([{ ...oneHostTree, waveCpuByRoleS: { workers: 1 } }], benchCpu), undefined);
  });

  it("scales the worker's costs and a peer's send by the worker's factor, the registry's by the control plane's, and adds the kernel's to receiving", () => {
    const scaled = scaleToOneHost(benchCpu, oneHostCosts([oneHostTree], benchCpu)!);
    assert.deepEqual(scaled, {
      machines: 'shared',
      cores: 2,
      receiveMsPerMiB: 33, // 20 × 1.5 + 3
      materialiseMsPerMiB: 15,
      sendMsPerMiB: 9,
      registrySendMsPerMiB: 12,
      controlMsPerMiB: 8,
    });
  });

  it('takes the median time beyond the model and never makes the model faster than it computes', () => {
    const pair = (measuredS: number, simulatedS: number) => ({ measuredS, simulatedS });
    assert.equal(extraStartS([pair(2.25, 2), pair(2.5, 2), pair(3, 2)]), 0.5);
    assert.equal(extraStartS([pair(1.5, 2)]), 0);
    assert.equal(extraStartS([]), 0);
  });
});
