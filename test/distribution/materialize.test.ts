/**
 * Distribution behind `materializeImage`: a real built image (512 KiB compressed blocks) materialised
 * on three tree hosts through DistributedBlockSource, with the registry serving one copy of the blocks.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DistributedBlockSource, blockDigests } from '../../src/distribution/distributed-source.js';
import { treeStrategy } from '../../src/distribution/tree-strategy.js';
import { buildImage } from '../../src/image/builder.js';
import { HttpRegistryClient } from '../../src/image/http-registry.js';
import { materializeImage } from '../../src/image/materialize.js';
import { pushImage } from '../../src/image/registry.js';
import { seededBytes, writeTree } from '../image/helpers.js';
import { REPO, TOKEN, TestCluster, buildStrategy, startRegistry, tempDir } from './cluster-harness.js';

describe('materializeImage through a distribution strategy', () => {
  const tmp = tempDir('kindling-dist-mat-');
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
    tmp.cleanup();
  });

  it('tree: three hosts materialise the image; the registry serves its blocks once', async () => {
    const { reg } = await startRegistry(tmp.dir, 0, 1);
    closers.push(() => reg.close());
    const files = {
      'kindling.json': '{"bundle":false}',
      'index.js': 'export const handler = () => "hi";\n',
      'big.bin': seededBytes('big', 2 * 1024 * 1024 + 123),
    };
    const src = join(tmp.dir, 'src');
    mkdirSync(src);
    writeTree(src, files);
    const image = await buildImage(src);
    await pushImage(image, reg.registry, REPO, 'v1');
    const blocks = blockDigests(image.manifest);
    assert.ok(blocks.length >= 4);

    const cluster = new TestCluster(tmp.dir, reg.url, buildStrategy(treeStrategy()));
    closers.push(() => cluster.close());
    const ids = ['h0', 'h1', 'h2'];
    for (const id of ids) {
      await cluster.addHost(id);
      cluster.hub.join('acme/img', id);
    }
    const results = await Promise.all(
      ids.map((id) => {
        const host = cluster.host(id);
        const source = new DistributedBlockSource({
          fetcher: host.fetcher,
          store: host.store,
          manifests: new HttpRegistryClient({ baseUrl: reg.url, token: TOKEN }),
          fn: 'acme/img',
        });
        return materializeImage({
          source,
          name: REPO,
          ref: 'v1',
          cache: host.store,
          imagesDir: join(tmp.dir, 'images', id),
        }).then(async (m) => ({ m, report: await source.job?.done }));
      }),
    );
    for (const { m, report } of results) {
      assert.deepEqual(readFileSync(join(m.dir, 'big.bin')), files['big.bin']);
      assert.equal(readFileSync(join(m.dir, 'index.js'), 'utf8'), files['index.js']);
      assert.equal(report?.blocksFetched, blocks.length);
    }
    assert.equal(reg.served.blobs, blocks.length);
  });
});
