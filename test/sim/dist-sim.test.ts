/**
 * The real strategies, hub and fetcher in the simulator: every strategy delivers every block to every
 * host, the tree takes about one copy from the registry, and the times match what the links allow.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { DIST_SIM_STRATEGIES, simulateDistribution, type DistSimOptions } from '../../src/sim/dist-sim.js';

const MiB = 1024 * 1024;
const base: DistSimOptions = {
  strategy: 'tree',
  hosts: 12,
  imageBytes: 16 * MiB,
  pieceBytes: 512 * 1024,
  lazy: false,
  hostMbps: 1000,
  registryMbps: 10_000,
  containerStartMs: 50,
};

describe('distribution in the simulator', () => {
  for (const strategy of DIST_SIM_STRATEGIES) {
    it(`${strategy}: every host ends with every block; bytes add up to one image per host`, async () => {
      const r = await simulateDistribution({ ...base, strategy });
      assert.equal(r.pieces, 32);
      assert.equal(r.minPiecesHeld, 32);
      assert.equal(r.readyS.length, 12);
      assert.ok(r.readyS.every((s) => s > 0));
      assert.equal(r.registryMiB + r.peerMiB, 12 * 16);
      assert.ok(r.allStartedS >= Math.max(...r.readyS) + 0.05 - 1e-9);
    });
  }

  it('tree: the registry serves one copy; hosts fetch at half their parent’s uplink (two children)', async () => {
    const r = await simulateDistribution({ ...base, strategy: 'tree' });
    assert.equal(r.registryMiB, 16);
    // 16 MiB at 500 Mbit/s is 0.268 s; streaming adds a block time (8.4 ms) per level of a 4-level tree.
    const alone = (16 * MiB * 8) / 500e6;
    assert.ok(r.allStartedS > alone && r.allStartedS < alone + 0.05 + 4 * 0.0084 + 0.01, `${r.allStartedS}`);
  });

  it('registry: twelve hosts share the 10 Gbit/s uplink, each capped by its own 1 Gbit/s link', async () => {
    const r = await simulateDistribution({ ...base, strategy: 'registry' });
    assert.equal(r.registryMiB, 12 * 16);
    // 12 × 16 MiB over 10 Gbit/s (the registry is the bottleneck at 12 hosts), then a 50 ms start.
    assert.equal(r.allStartedS, Math.round(((12 * 16 * MiB * 8) / 10e9 + 0.05) * 1000) / 1000);
  });

  it('lazy: a host starts once its working set is local; the run stops there', async () => {
    const r = await simulateDistribution({ ...base, strategy: 'tree', lazy: true, workingSetFraction: 0.25 });
    assert.equal(r.workingSetPieces, 8);
    assert.ok(r.minPiecesHeld >= 8 && r.minPiecesHeld < 32);
    const full = await simulateDistribution({ ...base, strategy: 'tree' });
    assert.ok(r.allStartedS < full.allStartedS / 2);
  });

  it('swarm-whole: nobody serves before holding the whole image, so hosts starting together all use the registry', async () => {
    const r = await simulateDistribution({ ...base, strategy: 'swarm-whole' });
    assert.equal(r.peerMiB, 0);
    const piece = await simulateDistribution({ ...base, strategy: 'swarm' });
    assert.ok(piece.registryMiB < 2 * 16, `${piece.registryMiB}`);
  });

  it('several containers per host start one after another once the image is there', async () => {
    const r = await simulateDistribution({ ...base, containersPerHost: 2.5 });
    assert.equal(r.containers, 30);
    const one = await simulateDistribution(base);
    assert.equal(Math.round((r.allStartedS - one.allStartedS) * 1000), 100);
  });

  it('rejects bad options with the option, the value and the limit', async () => {
    const bad = async (o: Partial<DistSimOptions>, re: RegExp) =>
      assert.rejects(
        simulateDistribution({ ...base, ...o }),
        (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_INVALID_CONFIG' && re.test(e.message),
      );
    await bad({ hosts: 0 }, /hosts must be a whole number ≥ 1, got 0/);
    await bad({ strategy: 'gossip' as never }, /strategy must be one of registry, swarm, swarm-whole, tree/);
    await bad({ pieceBytes: -1 }, /pieceBytes must be a finite number > 0, got -1/);
    await bad({ lazy: true }, /workingSetFraction in \(0, 1\], got undefined/);
    await bad({ containersPerHost: 0.5 }, /containersPerHost must be a finite number ≥ 1/);
  });
});
