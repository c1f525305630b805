/**
 * Lazy loading through the fetcher: the startup working set first and signalled as ready before the
 * rest, and a block asked for on demand jumping the queue. Orders and counts, never times.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registryStrategy } from '../../src/distribution/registry-strategy.js';
import type { StrategyFactory } from '../../src/distribution/strategy.js';
import { treeStrategy } from '../../src/distribution/tree-strategy.js';
import type { Digest } from '../../src/image/manifest.js';
import {
  FN,
  REPO,
  TestCluster,
  assertHolds,
  startRegistry,
  tempDir,
  type TestRegistry,
  BLOCKS,
  buildStrategy,
} from './cluster-harness.js';

const build = buildStrategy;

describe('lazy loading', () => {
  const tmp = tempDir('kindling-lazy-');
  let reg: TestRegistry;
  let blocks: Digest[];
  let bytes: Map<Digest, Buffer>;
  const clusters: TestCluster[] = [];
  before(async () => {
    ({ reg, blocks, bytes } = await startRegistry(tmp.dir, BLOCKS, 32 * 1024));
  });
  after(async () => {
    for (const c of clusters) await c.close();
    await reg.close();
    tmp.cleanup();
  });
  function cluster(f: StrategyFactory, name: string): TestCluster {
    const c = new TestCluster(`${tmp.dir}/${name}`, reg.url, build(f));
    clusters.push(c);
    return c;
  }

  it('tree: the working set streams down first and is ready before the rest is fetched', async () => {
    const c = cluster(treeStrategy(), 'tree');
    const ids = ['h0', 'h1', 'h2'];
    for (const id of ids) {
      await c.addHost(id);
      c.hub.join(FN, id);
    }
    const workingSet = [blocks[12], blocks[3], blocks[9]] as Digest[];
    const jobs = ids.map((id) => c.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks, workingSet }));
    await Promise.all(jobs.map((j) => j.ready));
    for (const job of jobs) {
      // One upstream transfer per host: exactly the working set was local when `ready` fired.
      assert.equal(job.report.blocksLocalAtReady, workingSet.length);
      assert.ok((job.report.blocksLocalAtReady ?? BLOCKS) < BLOCKS);
    }
    const reports = await Promise.all(jobs.map((j) => j.done));
    for (const [i, r] of reports.entries()) {
      assert.deepEqual(r.order.slice(0, 3), workingSet, ids[i]);
      await assertHolds(c.host(ids[i] as string).store, bytes);
    }
  });

  it('the working set is asked for in the foreground, the rest in the background, down a tree too', async () => {
    const c = cluster(treeStrategy(), 'priority');
    for (const id of ['p0', 'p1']) {
      await c.addHost(id);
      c.hub.join(FN, id);
    }
    const workingSet = [blocks[5], blocks[2]] as Digest[];
    const before = reg.askedInBackground.length;
    // The child starts first: its background requests reach the root before the root's own order
    // would fetch those blocks, and must stay background on the way up to the registry.
    const lazy = { fn: FN, repository: REPO, blocks, workingSet, backgroundRest: true };
    const child = c.host('p1').fetcher.fetch(lazy);
    const root = c.host('p0').fetcher.fetch(lazy);
    await Promise.all([child.done, root.done]);
    const background = reg.askedInBackground.slice(before);
    assert.equal(child.report.bytesFromRegistry, 0, 'the child fetched from its parent only');
    assert.deepEqual(
      [...background].sort(),
      blocks.filter((b) => !workingSet.includes(b)).sort(),
      'every block outside the working set, and only those, went to the registry as background',
    );
  });

  it('holds the rest until the sandbox has started, except blocks a peer asks for', async () => {
    const c = cluster(registryStrategy({ maxConcurrentFetches: 4 }), 'hold');
    await c.addHost('k0');
    const fetcher = c.host('k0').fetcher;
    const workingSet = [blocks[0], blocks[1]] as Digest[];
    const job = fetcher.fetch({ fn: FN, repository: REPO, blocks, workingSet, holdBackground: true });
    await job.ready;
    // Give the lanes time to take background blocks if they were allowed to.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(job.report.blocksFetched, workingSet.length);
    const asked = blocks[BLOCKS - 1] as Digest;
    await fetcher.waitForBlock(asked, undefined, true);
    assert.equal(job.report.blocksFetched, workingSet.length + 1, 'a peer asked: fetched during the hold');
    job.releaseBackground();
    const report = await job.done;
    assert.equal(report.blocksFetched, BLOCKS);
  });

  it('lets the rest go when the hold times out', async () => {
    const c = cluster(registryStrategy({ maxConcurrentFetches: 4 }), 'hold-timeout');
    await c.addHost('t0');
    const job = c.host('t0').fetcher.fetch({
      fn: FN,
      repository: REPO,
      blocks,
      workingSet: [blocks[0] as Digest],
      holdBackground: true,
      holdBackgroundMs: 50,
    });
    assert.equal((await job.done).blocksFetched, BLOCKS);
  });

  it('a whole-image fetch asks for nothing in the background: its sandbox waits for every block', async () => {
    const c = cluster(registryStrategy({ maxConcurrentFetches: 4 }), 'whole');
    await c.addHost('w0');
    const before = reg.askedInBackground.length;
    const report = await c.host('w0').fetcher.fetch({ fn: FN, repository: REPO, blocks, workingSet: [] })
      .done;
    assert.equal(report.blocksFetched, BLOCKS);
    assert.equal(reg.askedInBackground.length, before);
  });

  for (const background of [true, false]) {
    it(`a peer's ${background ? 'background' : 'foreground'} request moves a block up and keeps its priority upstream`, async () => {
      const c = cluster(treeStrategy(), `promote-${background}`);
      await c.addHost('r0');
      c.hub.join(FN, 'r0');
      const fetcher = c.host('r0').fetcher;
      reg.holdAfter = reg.asked + 1;
      reg.gate.close();
      const before = reg.askedInBackground.length;
      const job = fetcher.fetch({ fn: FN, repository: REPO, blocks, workingSet: [], backgroundRest: true });
      await fetcher.waitForBlock(blocks[0] as Digest);
      const wanted = blocks[BLOCKS - 1] as Digest;
      const waited = fetcher.waitForBlock(wanted, undefined, background);
      reg.gate.open();
      await waited;
      const report = await job.done;
      // One lane: at most the block held at the registry went before it.
      assert.ok(report.order.indexOf(wanted) <= 2, `stored at ${report.order.indexOf(wanted)}`);
      assert.equal(reg.askedInBackground.slice(before).includes(wanted), background);
    });
  }

  it('registry: with several lanes, ready fires before the background blocks are all in', async () => {
    const c = cluster(registryStrategy({ maxConcurrentFetches: 4 }), 'registry');
    await c.addHost('h0');
    const workingSet = [blocks[0], blocks[1]] as Digest[];
    const job = c.host('h0').fetcher.fetch({ fn: FN, repository: REPO, blocks, workingSet });
    await job.ready;
    // At most the working set plus one block per other lane can be local by then.
    assert.ok((job.report.blocksLocalAtReady ?? BLOCKS) <= workingSet.length + 3);
    const report = await job.done;
    assert.equal(report.blocksFetched, BLOCKS);
  });

  it('a block asked for on demand is fetched next, ahead of the queue', async () => {
    const c = cluster(treeStrategy(), 'demand');
    await c.addHost('h0');
    c.hub.join(FN, 'h0');
    const fetcher = c.host('h0').fetcher;
    // The registry answers two more blocks, then holds: the job cannot finish before the demand.
    reg.holdAfter = reg.asked + 2;
    reg.gate.close();
    const job = fetcher.fetch({ fn: FN, repository: REPO, blocks });
    await fetcher.waitForBlock(blocks[0] as Digest);
    const wanted = blocks[15] as Digest;
    const demanded = fetcher.demand(FN, REPO, wanted);
    const seen = job.report.order.length;
    reg.gate.open();
    await demanded;
    const report = await job.done;
    // One lane: at most the block in flight when it was asked for went before it.
    const at = report.order.indexOf(wanted);
    assert.ok(
      at <= seen + 1 && at < BLOCKS - 1,
      `demanded block stored at position ${at}, ${seen} were local`,
    );
    assert.equal(report.blocksFetched, BLOCKS);
  });
});
