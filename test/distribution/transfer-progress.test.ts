/**
 * Transfer progress, the control plane's view of how far each host's copy of an image has come: the
 * bookkeeping itself, the hub feeding it members' reports only, and the figures a real tree delivery
 * over HTTP reports matching what each host's fetch measured.
 */
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import { registerDistributionRoutes } from '../../src/distribution/distribution-routes.js';
import { RegistryStrategy } from '../../src/distribution/registry-strategy.js';
import { REGISTRY_ORIGIN } from '../../src/distribution/strategy.js';
import { TransferProgress } from '../../src/distribution/transfer-progress.js';
import { treeStrategy } from '../../src/distribution/tree-strategy.js';
import type { Digest } from '../../src/image/manifest.js';
import { eventually } from '../helpers/platform.js';
import {
  BLOCKS,
  BLOCK_BYTES,
  FN,
  IMAGE_BYTES,
  REPO,
  TestCluster,
  buildStrategy,
  startRegistry,
  tempDir,
  type TestRegistry,
} from './cluster-harness.js';

const d = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}` as Digest;

describe('TransferProgress', () => {
  it('counts distinct blocks, cached ones apart, and bytes by origin', () => {
    const p = new TransferProgress();
    p.stored('h1', 'f', [d(1), d(2)]);
    p.stored(
      'h1',
      'f',
      [d(3), d(4), d(3)],
      [
        { origin: REGISTRY_ORIGIN, bytes: 100 },
        { origin: { kind: 'peer', host: 'h0' }, bytes: 40 },
        { origin: REGISTRY_ORIGIN, bytes: 100 },
      ],
    );
    // A block reported again (a second fetch job finding it cached) counts once.
    p.stored('h1', 'f', [d(1), d(3)]);
    p.stored('h2', 'f', [d(1)], [{ origin: { kind: 'peer', host: 'h1' }, bytes: 7 }]);
    assert.deepEqual(p.of('f'), [
      {
        host: 'h1',
        blocksLocal: 4,
        blocksCached: 2,
        bytesFromRegistry: 100,
        bytesFromPeers: 40,
        bytesByPeer: { h0: 40 },
      },
      {
        host: 'h2',
        blocksLocal: 1,
        blocksCached: 0,
        bytesFromRegistry: 0,
        bytesFromPeers: 7,
        bytesByPeer: { h1: 7 },
      },
    ]);
    p.removed('f', 'h2');
    assert.deepEqual(
      p.of('f').map((t) => t.host),
      ['h1'],
    );
    p.stored('h1', 'g', [d(9)]);
    p.left('h1');
    assert.deepEqual(p.of('f'), []);
    assert.deepEqual(p.of('g'), []);
  });

  it('is fed by the hub for members only, and forgets a host that is removed or leaves', () => {
    const progress = new TransferProgress();
    const hub = new DistributionHub({ strategies: [new RegistryStrategy(4)], clock: systemClock, progress });
    // Not a member (its join never arrived): nothing to draw.
    hub.stored('h9', 'f', REPO, [d(1)], [{ origin: REGISTRY_ORIGIN, bytes: 5 }]);
    assert.deepEqual(progress.of('f'), []);
    hub.join('f', 'h1');
    hub.join('f', 'h2');
    hub.stored('h1', 'f', REPO, [d(1)], [{ origin: REGISTRY_ORIGIN, bytes: 5 }]);
    hub.stored('h2', 'f', REPO, [d(1)]);
    assert.deepEqual(
      progress.of('f').map((t) => [t.host, t.blocksLocal, t.bytesFromRegistry]),
      [
        ['h1', 1, 5],
        ['h2', 1, 0],
      ],
    );
    assert.deepEqual(hub.functions(), ['f']);
    hub.remove('f', 'h1');
    assert.deepEqual(
      progress.of('f').map((t) => t.host),
      ['h2'],
    );
    hub.leave('h2');
    assert.deepEqual(progress.of('f'), []);
    assert.deepEqual(hub.functions(), []);
  });

  it('refuses a stored report whose arrivals do not match its digests, with a 400', async () => {
    const app = Fastify({ logger: false });
    const hub = new DistributionHub({ strategies: [new RegistryStrategy(4)], clock: systemClock });
    await registerDistributionRoutes(app, hub);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/cluster/distribution/stored',
      payload: {
        host: 'h1',
        fn: 'f',
        repository: REPO,
        digests: [d(1), d(2)],
        arrivals: [{ origin: { kind: 'registry' }, bytes: 1 }],
      },
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /arrivals: arrivals must list one entry per digest/);
    const negative = await app.inject({
      method: 'POST',
      url: '/v1/cluster/distribution/stored',
      payload: {
        host: 'h1',
        fn: 'f',
        repository: REPO,
        digests: [d(1)],
        arrivals: [{ origin: { kind: 'registry' }, bytes: -1 }],
      },
    });
    assert.equal(negative.statusCode, 400);
    assert.match(negative.json().error.message, /arrivals\.0\.bytes/);
    await app.close();
  });
});

describe('transfer progress of a tree delivery over HTTP', () => {
  const tmp = tempDir('kindling-progress-');
  let reg: TestRegistry;
  let blocks: Digest[];
  let cluster: TestCluster | undefined;
  before(async () => {
    ({ reg, blocks } = await startRegistry(tmp.dir, BLOCKS, BLOCK_BYTES));
  });
  after(async () => {
    await cluster?.close();
    await reg.close();
    tmp.cleanup();
  });

  it("matches every host's own fetch report: blocks, registry bytes, bytes per peer", async () => {
    const progress = new TransferProgress();
    cluster = new TestCluster(tmp.dir, reg.url, buildStrategy(treeStrategy()), true, progress);
    const ids = ['h0', 'h1', 'h2'];
    for (const id of ids) await cluster.addHost(id);
    const jobs = ids.map((id) => cluster!.host(id).fetcher.fetch({ fn: FN, repository: REPO, blocks }));
    const reports = await Promise.all(jobs.map((j) => j.done));
    // Stored reports go out after each block is stored: wait for the last to arrive.
    const seen = await eventually(async () => {
      const all = progress.of(FN);
      return all.length === 3 && all.every((t) => t.blocksLocal === BLOCKS) ? all : undefined;
    });
    seen.forEach((t, i) => {
      const r = reports[i]!;
      assert.equal(t.host, ids[i]);
      assert.equal(t.bytesFromRegistry, r.bytesFromRegistry, `${t.host} registry bytes`);
      assert.equal(t.bytesFromPeers, r.bytesFromPeers, `${t.host} peer bytes`);
      assert.deepEqual(t.bytesByPeer, r.bytesByPeer, `${t.host} bytes per peer`);
      assert.equal(t.blocksCached, 0);
      assert.equal(t.bytesFromRegistry + t.bytesFromPeers, IMAGE_BYTES);
    });
    // The tree's root took the image from the registry, its children from it.
    const root = cluster.hub.strategyOf(FN);
    assert.equal(root.name, 'tree');
    assert.equal(seen.filter((t) => t.bytesFromRegistry === IMAGE_BYTES).length, 1);
    assert.equal(seen.filter((t) => t.bytesFromPeers === IMAGE_BYTES).length, 2);
  });
});
