/**
 * The distribution compliance suite: every strategy delivers a multi-block image to N hosts over real
 * HTTP on 127.0.0.1 (registry, peer servers and, in the remote variant, the control plane's routes),
 * with the right bytes; then what each strategy promises about where the bytes come from.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REGISTRY } from '../../src/distribution/function-tree.js';
import { registryStrategy } from '../../src/distribution/registry-strategy.js';
import type { DistributionStrategy, StrategyFactory } from '../../src/distribution/strategy.js';
import { swarmStrategy } from '../../src/distribution/swarm-strategy.js';
import type { TreeStrategy } from '../../src/distribution/tree-strategy.js';
import { treeStrategy } from '../../src/distribution/tree-strategy.js';
import type { Digest } from '../../src/image/manifest.js';
import type { FetchReport } from '../../src/distribution/fetch-report.js';
import {
  FN,
  REPO,
  TestCluster,
  assertHolds,
  startRegistry,
  tempDir,
  type TestRegistry,
  BLOCKS,
  BLOCK_BYTES,
  IMAGE_BYTES,
  buildStrategy,
} from './cluster-harness.js';

const build = buildStrategy;

const hostIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `h${i}`);

/** Starts a cluster of `n` hosts, joins them in order, fetches on all at once; returns the reports. */
async function deliver(
  root: string,
  reg: TestRegistry,
  blocks: Digest[],
  strategy: DistributionStrategy,
  n: number,
  remote: boolean,
): Promise<{ cluster: TestCluster; reports: Map<string, FetchReport> }> {
  const cluster = new TestCluster(root, reg.url, strategy, remote);
  for (const id of hostIds(n)) {
    await cluster.addHost(id);
    cluster.hub.join(FN, id);
  }
  const jobs = hostIds(n).map((id) => cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }));
  const done = await Promise.all(jobs.map((j) => j.done));
  return { cluster, reports: new Map(done.map((r, i) => [`h${i}`, r])) };
}

const cases: { name: string; factory: StrategyFactory; remote: boolean }[] = [
  { name: 'registry', factory: registryStrategy(), remote: false },
  { name: 'swarm', factory: swarmStrategy(), remote: false },
  { name: 'tree', factory: treeStrategy(), remote: false },
  { name: 'tree (control plane over HTTP)', factory: treeStrategy(), remote: true },
  { name: 'swarm (control plane over HTTP)', factory: swarmStrategy(), remote: true },
];

for (const c of cases) {
  describe(`distribution compliance: ${c.name}`, () => {
    const tmp = tempDir('kindling-dist-');
    let reg: TestRegistry;
    let blocks: Digest[];
    let bytes: Map<Digest, Buffer>;
    let cluster: TestCluster | undefined;
    before(async () => {
      ({ reg, blocks, bytes } = await startRegistry(tmp.dir, BLOCKS, BLOCK_BYTES));
    });
    after(async () => {
      await cluster?.close();
      await reg.close();
      tmp.cleanup();
    });

    it('delivers every block, with the right bytes, to 6 hosts', async () => {
      const strategy = build(c.factory);
      const r = await deliver(tmp.dir, reg, blocks, strategy, 6, c.remote);
      cluster = r.cluster;
      for (const [id, report] of r.reports) {
        await assertHolds(cluster.host(id).store, bytes);
        assert.equal(report.blocksFetched, BLOCKS, id);
        assert.equal(report.bytesFromRegistry + report.bytesFromPeers, IMAGE_BYTES, id);
        assert.equal(report.corrupt, 0);
      }
      const fromRegistry = [...r.reports.values()].reduce((a, x) => a + x.bytesFromRegistry, 0);
      assert.equal(reg.served.bytes, fromRegistry, 'hosts and registry agree on registry bytes');
      if (strategy.name === 'registry') assert.equal(reg.served.blobs, 6 * BLOCKS);
      if (strategy.name === 'tree') {
        // One copy from the registry (the root's); every other host only from its parent.
        assert.equal(reg.served.blobs, BLOCKS);
        const tree = (strategy as TreeStrategy).ft.treeOf(FN);
        assert.ok(tree);
        for (const [id, report] of r.reports) {
          const parent = tree.parentOf(id);
          if (parent === REGISTRY) assert.equal(report.bytesFromRegistry, IMAGE_BYTES, id);
          else assert.deepEqual(report.bytesByPeer, { [parent as string]: IMAGE_BYTES }, id);
        }
        // A parent serves only its children: at most two downstream transfers per block.
        for (const id of hostIds(6)) {
          const served: number = r.cluster.host(id).peerStats?.blocksServed ?? 0;
          assert.equal(served, tree.childrenOf(id).length * BLOCKS, id);
        }
      }
      if (strategy.name === 'swarm') {
        assert.ok(
          reg.served.bytes <= 1.5 * IMAGE_BYTES,
          `registry served ${reg.served.bytes / IMAGE_BYTES} copies`,
        );
      }
    });
  });
}

describe('swarm: registry bytes stay at about one copy as the swarm grows', () => {
  for (const n of [4, 8]) {
    it(`N=${n}: registry serves at most 1.5 copies`, async () => {
      const tmp = tempDir('kindling-swarm-');
      const { reg, blocks, bytes } = await startRegistry(tmp.dir, BLOCKS, BLOCK_BYTES);
      const { cluster, reports } = await deliver(tmp.dir, reg, blocks, build(swarmStrategy()), n, false);
      try {
        for (const id of hostIds(n)) await assertHolds(cluster.host(id).store, bytes);
        assert.ok(
          reg.served.bytes <= 1.5 * IMAGE_BYTES,
          `registry served ${reg.served.bytes / IMAGE_BYTES} copies`,
        );
        const fromPeers = [...reports.values()].reduce((a, x) => a + x.bytesFromPeers, 0);
        assert.equal(fromPeers + reg.served.bytes, n * IMAGE_BYTES);
      } finally {
        await cluster.close();
        await reg.close();
        tmp.cleanup();
      }
    });
  }
});
