/**
 * The same strategies, hub and fetcher at a scale HTTP tests cannot reach, over an in-memory
 * Transport and a manual clock: the shape of how the simulator runs the distribution code (it swaps
 * in a Transport with modelled links). Counts and sources, no time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { BlockFetcher, type HostBlockStore } from '../../src/distribution/block-fetcher.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import { REGISTRY, type HostId } from '../../src/distribution/function-tree.js';
import { InProcessSourceDirectory } from '../../src/distribution/source-directory.js';
import type {
  BlockOrigin,
  BlockRequest,
  DistributionStrategy,
  Transport,
} from '../../src/distribution/strategy.js';
import { RegistryStrategy } from '../../src/distribution/registry-strategy.js';
import { SwarmStrategy } from '../../src/distribution/swarm-strategy.js';
import { TreeStrategy } from '../../src/distribution/tree-strategy.js';
import { sha256Digest } from '../../src/image/digest.js';
import type { Digest } from '../../src/image/manifest.js';

class MemoryStore implements HostBlockStore {
  readonly blobs = new Map<Digest, Uint8Array>();
  async has(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest);
  }
  async present(digests: Iterable<Digest>): Promise<Set<Digest>> {
    return new Set([...digests].filter((d) => this.blobs.has(d)));
  }
  async putTrusted(digest: Digest, bytes: Uint8Array): Promise<void> {
    this.blobs.set(digest, bytes);
  }
}

/** Registry and peers in memory; a peer answers a block it is receiving once it has it. */
class MemoryTransport implements Transport {
  readonly hosts = new Map<HostId, { store: MemoryStore; fetcher: BlockFetcher }>();
  registryBytes = 0;
  constructor(readonly registry: Map<Digest, Uint8Array>) {}
  async fetchBlock(source: BlockOrigin, request: BlockRequest, signal?: AbortSignal): Promise<Uint8Array> {
    if (source.kind === 'registry') {
      const bytes = this.registry.get(request.digest);
      if (!bytes) throw new KindlingError('KINDLING_BLOB_UNKNOWN', 'not in the registry');
      this.registryBytes += bytes.length;
      return bytes;
    }
    const peer = this.hosts.get(source.host);
    if (!peer) throw new KindlingError('KINDLING_UNAVAILABLE', `no host ${source.host}`);
    await peer.fetcher.waitForBlock(request.digest, signal);
    return peer.store.blobs.get(request.digest) as Uint8Array;
  }
}

async function run(strategy: DistributionStrategy, hosts: number, blocks: number, workingSetBlocks = 0) {
  const registry = new Map<Digest, Uint8Array>();
  const digests: Digest[] = [];
  for (let i = 0; i < blocks; i++) {
    const bytes = Buffer.from(`block ${i} `.repeat(100));
    const d = sha256Digest(bytes);
    registry.set(d, bytes);
    digests.push(d);
  }
  const clock = new ManualClock();
  const hub = new DistributionHub({ strategies: [strategy], clock });
  const transport = new MemoryTransport(registry);
  const ids = Array.from({ length: hosts }, (_, i) => `h${String(i).padStart(3, '0')}`);
  for (const id of ids) {
    hub.join('acme/fn', id);
    const store = new MemoryStore();
    const directory = new InProcessSourceDirectory(hub, id);
    transport.hosts.set(id, {
      store,
      fetcher: new BlockFetcher({ host: id, store, directory, transport, clock }),
    });
  }
  const jobs = ids.map((id) =>
    transport.hosts.get(id)?.fetcher.fetch({
      fn: 'acme/fn',
      repository: 'acme/fn',
      blocks: digests,
      ...(workingSetBlocks > 0 ? { workingSet: digests.slice(0, workingSetBlocks) } : {}),
    }),
  );
  const reports = await Promise.all(jobs.map((j) => j?.done));
  const imageBytes = [...registry.values()].reduce((a, b) => a + b.length, 0);
  for (const id of ids) assert.equal(transport.hosts.get(id)?.store.blobs.size, blocks, id);
  return { ids, reports, transport, imageBytes };
}

describe('distribution in memory, at scale', () => {
  it('tree, 100 hosts: one registry copy, every host fed by its parent only', async () => {
    const strategy = new TreeStrategy();
    const { ids, reports, transport, imageBytes } = await run(strategy, 100, 24);
    assert.equal(transport.registryBytes, imageBytes);
    const tree = strategy.ft.treeOf('acme/fn');
    assert.equal(tree?.height(), 7);
    reports.forEach((r, i) => {
      const parent = tree?.parentOf(ids[i] as string);
      if (parent === REGISTRY) assert.equal(r?.bytesFromRegistry, imageBytes);
      else assert.deepEqual(r?.bytesByPeer, { [parent as string]: imageBytes });
    });
  });

  it('swarm, 100 hosts: at most 1.5 registry copies, and uploads spread over many peers', async () => {
    const { reports, transport, imageBytes } = await run(new SwarmStrategy(), 100, 24);
    assert.ok(transport.registryBytes <= 1.5 * imageBytes, `${transport.registryBytes / imageBytes} copies`);
    const uploaders = new Set(reports.flatMap((r) => Object.keys(r?.bytesByPeer ?? {})));
    assert.ok(uploaders.size >= 50, `${uploaders.size} hosts uploaded`);
  });
});

describe('swarm working set', () => {
  // Hosts that start together used to take the working set in manifest order: every host asked for
  // the same blocks at once, and the tracker chained them (host k fetching from host k-1).
  it('hosts that start together take the working set in different orders, each one rarest first', async () => {
    const ws = 16;
    const { reports } = await run(new SwarmStrategy(), 16, 48, ws);
    const firsts = new Set(reports.map((r) => r?.order[0]));
    assert.ok(firsts.size >= 6, `16 hosts started on ${firsts.size} different blocks`);
    for (const r of reports) {
      // The whole working set before any background block.
      const wsDigests = new Set(r?.order.slice(0, ws));
      assert.equal(wsDigests.size, ws);
    }
  });

  it('the tree keeps the working set in manifest order', async () => {
    const { reports } = await run(new TreeStrategy(), 4, 12, 4);
    const firsts = new Set(reports.map((r) => r?.order[0]));
    assert.equal(firsts.size, 1);
  });
});

describe('BlockFetcher.whenStored', () => {
  it('resolves once the block is stored and leaves the fetch order alone (waitForBlock moves it first)', async () => {
    for (const promote of [false, true]) {
      const registry = new Map<Digest, Uint8Array>();
      const digests: Digest[] = [];
      for (let i = 0; i < 12; i++) {
        const bytes = Buffer.from(`block ${i} `.repeat(50));
        const d = sha256Digest(bytes);
        registry.set(d, bytes);
        digests.push(d);
      }
      const clock = new ManualClock();
      const hub = new DistributionHub({ strategies: [new RegistryStrategy(1)], clock });
      const transport = new MemoryTransport(registry);
      hub.join('acme/fn', 'h0');
      const store = new MemoryStore();
      const directory = new InProcessSourceDirectory(hub, 'h0');
      const fetcher = new BlockFetcher({ host: 'h0', store, directory, transport, clock });
      transport.hosts.set('h0', { store, fetcher });
      const job = fetcher.fetch({ fn: 'acme/fn', repository: 'acme/fn', blocks: digests, workingSet: [] });
      const last = digests[digests.length - 1] as Digest;
      const waited = promote ? fetcher.waitForBlock(last) : fetcher.whenStored(last);
      await job.done;
      await waited;
      assert.ok(store.blobs.has(last));
      assert.equal(job.report.order.indexOf(last), promote ? 0 : digests.length - 1, `promote ${promote}`);
    }
  });
});

describe('BlockFetcher recent blocks', () => {
  it('keeps the newest fetched blocks of a running job, verified, up to recentBytes, and none it did not fetch', async () => {
    const blocks = Array.from({ length: 4 }, (_, i) => Buffer.alloc(1000, i));
    const digests = blocks.map((b) => sha256Digest(b));
    const registry = new Map(digests.map((d, i) => [d, blocks[i] as Uint8Array]));
    // The last block waits for the test, so the job is still running while the test looks.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const transport = new MemoryTransport(registry);
    const plain = transport.fetchBlock.bind(transport);
    transport.fetchBlock = async (source, request, signal) => {
      if (request.digest === digests[3]) await held;
      return plain(source, request, signal);
    };
    const clock = new ManualClock();
    const hub = new DistributionHub({ strategies: [new TreeStrategy()], clock });
    hub.join('acme/fn', 'h1');
    const store = new MemoryStore();
    // Held before the fetch: found in the store, so never in memory.
    await store.putTrusted(digests[0]!, blocks[0]!);
    const fetcher = new BlockFetcher({
      host: 'h1',
      store,
      directory: new InProcessSourceDirectory(hub, 'h1'),
      transport,
      clock,
      maxConcurrentFetches: 1,
      recentBytes: 2000,
    });
    // As a working set, the blocks are fetched in this order.
    const job = fetcher.fetch({ fn: 'acme/fn', repository: 'acme/fn', blocks: digests, workingSet: digests });
    // (Waiting for a block moves it to the front, so wait in order.)
    await fetcher.waitForBlock(digests[1]!);
    await fetcher.waitForBlock(digests[2]!);
    assert.equal(fetcher.recentBlock(digests[0]!), undefined);
    assert.deepEqual(fetcher.recentBlock(digests[1]!), blocks[1]);
    assert.deepEqual(fetcher.recentBlock(digests[2]!), blocks[2]);
    release();
    await fetcher.waitForBlock(digests[3]!);
    // Room for two: the oldest fetched one was dropped.
    assert.equal(fetcher.recentBlock(digests[1]!), undefined);
    await job.done;
    // A finished job's blocks are read from the store again.
    for (const d of digests) assert.equal(fetcher.recentBlock(d), undefined);
  });
});
