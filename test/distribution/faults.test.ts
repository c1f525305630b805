/**
 * Faults, over real HTTP: a peer that serves corrupt bytes, a tree node killed mid-transfer, a swarm
 * peer that disappears, and a registry that goes down while hosts hold the image. Every wait is on an
 * event (a block stored, a request arrived), never on time.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { systemClock } from '../../src/core/clock.js';
import { BlockFetcher } from '../../src/distribution/block-fetcher.js';
import { HttpTransport, PEER_BLOBS_PATH } from '../../src/distribution/http-transport.js';
import { RemoteSourceDirectory } from '../../src/distribution/remote-source-directory.js';
import type { FetchJob } from '../../src/distribution/fetch-job.js';
import type { HostId } from '../../src/distribution/function-tree.js';
import type { StrategyFactory } from '../../src/distribution/strategy.js';
import { swarmStrategy } from '../../src/distribution/swarm-strategy.js';
import { treeStrategy, type TreeStrategy } from '../../src/distribution/tree-strategy.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { parseDigest } from '../../src/image/digest.js';
import {
  FN,
  Gate,
  REPO,
  TOKEN,
  TestCluster,
  assertHolds,
  startRegistry,
  tempDir,
  BLOCKS,
  BLOCK_BYTES,
  IMAGE_BYTES,
  buildStrategy,
} from './cluster-harness.js';

const build = buildStrategy;

/** A peer server that waits for each block like the real one, then sends it with one byte flipped. */
async function lyingPeer(app: FastifyInstance, store: BlobStore, fetcher: BlockFetcher): Promise<void> {
  app.get(`${PEER_BLOBS_PATH}/:digest`, async (request, reply) => {
    const digest = parseDigest((request.params as { digest: string }).digest);
    await fetcher.waitForBlock(digest);
    const bytes = Buffer.from(await store.get(digest));
    bytes[0] = (bytes[0] as number) ^ 0xff;
    return reply.type('application/octet-stream').send(bytes);
  });
}

describe('distribution faults', () => {
  const tmps: { cleanup: () => void }[] = [];
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
    for (const t of tmps) t.cleanup();
  });
  async function setup(factory: StrategyFactory, remote = false) {
    const tmp = tempDir('kindling-faults-');
    tmps.push(tmp);
    const { reg, blocks, bytes } = await startRegistry(tmp.dir, BLOCKS, BLOCK_BYTES);
    const strategy = build(factory);
    const cluster = new TestCluster(tmp.dir, reg.url, strategy, remote);
    closers.push(
      () => reg.close(),
      () => cluster.close(),
    );
    return { reg, blocks, bytes, strategy, cluster };
  }

  it('tree: a parent serving corrupt bytes is detected; its children refetch every block elsewhere', async () => {
    const { reg, blocks, bytes, cluster } = await setup(treeStrategy());
    await cluster.addHost('h0', lyingPeer);
    await cluster.addHost('h1');
    await cluster.addHost('h2');
    for (const id of ['h0', 'h1', 'h2']) cluster.hub.join(FN, id);
    const jobs = ['h0', 'h1', 'h2'].map((id) =>
      cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }),
    );
    const [r0, r1, r2] = await Promise.all(jobs.map((j) => j.done));
    for (const id of ['h0', 'h1', 'h2']) await assertHolds(cluster.host(id).store, bytes);
    assert.equal(r0?.corrupt, 0);
    // Each child got every block from h0 corrupt once, and moved on (to the other child or the registry).
    for (const r of [r1, r2]) {
      assert.equal(r?.corrupt, BLOCKS);
      assert.equal(r?.bytesByPeer['h0'], undefined);
      for (const origin of r?.origins.values() ?? [])
        assert.notDeepEqual(origin, { kind: 'peer', host: 'h0' });
    }
    // The tracker forgot h0 for those blocks, so nobody else was sent to it again.
    assert.ok(reg.served.blobs >= BLOCKS);
  });

  for (const remote of [false, true]) {
    it(`tree: a node killed mid-transfer has its children re-parented, and they finish${remote ? ' (control plane over HTTP)' : ''}`, async () => {
      const { reg, blocks, bytes, strategy, cluster } = await setup(treeStrategy(), remote);
      const ids = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
      for (const id of ids) {
        await cluster.addHost(id);
        cluster.hub.join(FN, id);
      }
      const tree = (strategy as TreeStrategy).ft.treeOf(FN);
      assert.ok(tree);
      assert.deepEqual(tree.childrenOf('h1'), ['h3', 'h4']);
      // The registry serves 4 blocks, then holds the rest: every host ends up with exactly 4.
      reg.holdAfter = 4;
      reg.gate.close();
      const jobs = new Map(
        ids.map((id) => [id, cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks })]),
      );
      await Promise.all(
        ids.flatMap((id) => blocks.slice(0, 4).map((d) => cluster.host(id).fetcher.waitForBlock(d))),
      );
      // h3 and h4 are now waiting on h1 for block 4. Kill h1, and tell the control plane.
      // The children hear of their new parent (synchronously in process, by long-poll over HTTP).
      const heard = ['h3', 'h4'].map(
        (c) => new Promise<void>((resolve) => cluster.host(c).directory.onSourceChange(() => resolve())),
      );
      const victim = jobs.get('h1');
      victim?.done.catch(() => undefined);
      const killed = cluster.host('h1').kill();
      const changes = cluster.hub.leave('h1');
      await killed;
      // h1's place went to a leaf of its subtree; h3 and h4 hang below that place now.
      const parents = new Map(['h3', 'h4'].map((c) => [c, tree.parentOf(c)]));
      for (const [child, parent] of parents) {
        assert.ok(parent !== undefined && parent !== 'h1', `${child} re-parented`);
        assert.ok(changes.some((c) => c.host === child) || parent !== 'h1');
      }
      await Promise.all(heard);
      reg.gate.open();
      for (const id of ids.filter((i) => i !== 'h1')) {
        const report = await (jobs.get(id) as { done: Promise<unknown> }).done;
        assert.ok(report);
        await assertHolds(cluster.host(id).store, bytes);
      }
      for (const child of ['h3', 'h4']) {
        const report = await (jobs.get(child) as FetchJob).done;
        // The first four blocks came from h1, the rest from the new parent.
        for (const [i, d] of blocks.entries()) {
          assert.deepEqual(
            report.origins.get(d),
            { kind: 'peer', host: i < 4 ? 'h1' : parents.get(child) },
            `${child} block ${i}`,
          );
        }
      }
      // Still one copy from the registry: the re-parented hosts did not fall back to it. (Over HTTP a
      // child may try the held registry before the change arrives, then drop that request.)
      if (!remote) assert.equal(reg.served.blobs, BLOCKS);
    });
  }

  it('swarm: a peer that disappears mid-transfer is replaced by another', async () => {
    const { reg, blocks, bytes, cluster } = await setup(swarmStrategy());
    const gate = new Gate();
    gate.close();
    let armed = false;
    let victim: HostId | undefined;
    let victimHit!: () => void;
    const hit = new Promise<void>((r) => (victimHit = r));
    const asked = new Map<HostId, number>();
    // Once armed, each seed's third request and later ones hang: the first seed to get there is the victim.
    const hangAfterTwo = (id: HostId) => (app: FastifyInstance) =>
      app.addHook('onRequest', async () => {
        if (!armed) return;
        const n = (asked.get(id) ?? 0) + 1;
        asked.set(id, n);
        if (n < 3 || (victim !== undefined && victim !== id)) return;
        if (victim === undefined) {
          victim = id;
          victimHit();
        }
        await gate.pass();
      });
    const seeds = ['s0', 's1'];
    for (const id of seeds) {
      await cluster.addHost(id, undefined, hangAfterTwo(id));
      cluster.hub.join(FN, id);
      await cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }).done;
    }
    // From here on the registry is gone: only the seeds have the image.
    await reg.close();
    armed = true;
    const leechers = ['l0', 'l1', 'l2'];
    for (const id of leechers) {
      await cluster.addHost(id);
      cluster.hub.join(FN, id);
    }
    const jobs = leechers.map((id) => cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }));
    await hit;
    const v = victim as HostId;
    const killed = cluster.host(v).kill();
    cluster.hub.leave(v);
    await killed;
    const reports = await Promise.all(jobs.map((j) => j.done));
    for (const id of leechers) await assertHolds(cluster.host(id).store, bytes);
    const other = seeds.find((s) => s !== v) as HostId;
    const fromOther = reports.reduce((a, r) => a + (r.bytesByPeer[other] ?? 0), 0);
    assert.ok(fromOther > 0);
    assert.ok(reports.reduce((a, r) => a + r.failovers, 0) >= 1, 'the hanging fetches failed over');
    for (const r of reports) assert.equal(r.bytesFromRegistry, 0);
    assert.equal(
      reports.reduce((a, r) => a + r.bytesFromPeers, 0),
      leechers.length * IMAGE_BYTES,
    );
  });

  for (const factory of [treeStrategy(), swarmStrategy()]) {
    const name = build(factory).name;
    it(`${name}: with the registry down, hosts that hold the image keep serving it`, async () => {
      const { reg, blocks, bytes, cluster } = await setup(factory);
      const first = ['h0', 'h1', 'h2'];
      for (const id of first) {
        await cluster.addHost(id);
        cluster.hub.join(FN, id);
      }
      await Promise.all(
        first.map((id) => cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }).done),
      );
      await reg.close();
      const later = ['h3', 'h4', 'h5', 'h6'];
      for (const id of later) {
        await cluster.addHost(id);
        cluster.hub.join(FN, id);
      }
      const reports = await Promise.all(
        later.map((id) => cluster.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }).done),
      );
      for (const id of later) await assertHolds(cluster.host(id).store, bytes);
      for (const r of reports) {
        assert.equal(r.bytesFromRegistry, 0);
        assert.equal(r.bytesFromPeers, IMAGE_BYTES);
      }
    });
  }

  it('control plane unreachable: a host still fetches everything from the registry', async () => {
    const { reg, blocks, bytes } = await setup(treeStrategy());
    const tmp = tempDir('kindling-nocp-');
    tmps.push(tmp);
    const directory = new RemoteSourceDirectory({
      baseUrl: 'http://127.0.0.1:1',
      host: 'lonely',
      timeoutMs: 2000,
    });
    const store = new BlobStore(`${tmp.dir}/lonely`);
    const fetcher = new BlockFetcher({
      host: 'lonely',
      store,
      directory,
      transport: new HttpTransport({ registryUrl: reg.url, registryToken: TOKEN, peers: new Map() }),
      clock: systemClock,
    });
    const job = fetcher.fetch({ fn: FN, repository: REPO, blocks });
    const report = await job.done;
    await assertHolds(store, bytes);
    assert.equal(report.bytesFromRegistry, IMAGE_BYTES);
    assert.ok(job.directoryErrors.length > 0);
    assert.match(job.directoryErrors[0] as string, /control plane/);
  });
});
