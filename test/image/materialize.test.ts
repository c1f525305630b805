import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../../src/image/blob-store.js';
import { buildImage, type BuiltImage } from '../../src/image/builder.js';
import type { Digest } from '../../src/image/manifest.js';
import {
  blocksOfFile,
  COMPLETE_MARKER,
  materializeImage,
  materializeLazily,
} from '../../src/image/materialize.js';
import { LocalRegistry, pushImage } from '../../src/image/registry.js';
import type { BlockSource } from '../../src/image/source.js';
import { eventually } from '../helpers/platform.js';
import { seededBytes, tempDir, writeTree } from './helpers.js';

const KiB = 1024;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A BlockSource that counts what it is asked for. */
function counting(inner: BlockSource): BlockSource & { blobs: Digest[]; manifests: number } {
  const calls = { blobs: [] as Digest[], manifests: 0 };
  return Object.assign(calls, {
    kind: inner.kind,
    getManifest: (name: string, ref: string) => {
      calls.manifests++;
      return inner.getManifest(name, ref);
    },
    getBlob: (name: string, digest: Digest) => {
      calls.blobs.push(digest);
      return inner.getBlob(name, digest);
    },
  });
}

describe('materializeImage', () => {
  const tmp = tempDir('kindling-materialize-');
  after(tmp.cleanup);
  const registry = new LocalRegistry(join(tmp.dir, 'registry'));
  const cache = new BlobStore(join(tmp.dir, 'cache'));
  const src = join(tmp.dir, 'src');
  // Files of every shape: spanning blocks, many per block, empty, executable, nested.
  const files: Record<string, Buffer> = {
    'index.js': Buffer.from('export const handler = () => "v1";\n'),
    'a.bin': seededBytes('a', 700 * KiB),
    'b/big.bin': seededBytes('b', 1300 * KiB + 7),
    'b/empty': Buffer.alloc(0),
    'run.sh': Buffer.from('#!/bin/sh\necho hi\n'),
  };
  for (let i = 0; i < 50; i++)
    files[`small/f${String(i).padStart(2, '0')}.txt`] = Buffer.from(`file ${i}\n`.repeat(i + 1));
  let image: BuiltImage;

  before(async () => {
    mkdirSync(src);
    writeTree(src, { 'kindling.json': '{"bundle":false}', ...files });
    writeTree(src, { 'run.sh': [files['run.sh'] as Buffer, 0o755] });
    image = await buildImage(src);
    await pushImage(image, registry, 'acme/fn', 'v1');
  });

  function assertSameFiles(dir: string): void {
    for (const [path, bytes] of Object.entries(files))
      assert.deepEqual(readFileSync(join(dir, path)), bytes, path);
    assert.equal(statSync(join(dir, 'run.sh')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, 'index.js')).mode & 0o777, statSync(join(src, 'index.js')).mode & 0o777);
  }

  it('writes an image of files spanning blocks byte-identical, with modes', async () => {
    assert.ok(image.stats.blocks >= 4, `expected several blocks, got ${image.stats.blocks}`);
    const imagesDir = join(tmp.dir, 'images1');
    const m = await materializeImage({ source: registry, name: 'acme/fn', ref: 'v1', cache, imagesDir });
    assert.equal(m.digest, image.digest);
    assert.equal(m.dir, join(imagesDir, image.digest.slice(7)));
    assertSameFiles(m.dir);
    assert.equal(m.blocks, image.blocks.size);
    assert.equal(m.blocksFromSource, image.blocks.size);
    assert.equal(m.bytesFromSource, image.stats.compressedBytes);
    assert.equal(m.bytesFromCache, 0);
    assert.deepEqual(readdirSync(imagesDir), [image.digest.slice(7)], 'no temp dirs left');

    // Already there: returned at once, everything counted as cache, nothing fetched.
    const source = counting(registry);
    const again = await materializeImage({ source, name: 'acme/fn', ref: image.digest, cache, imagesDir });
    assert.equal(again.dir, m.dir);
    assert.equal(again.bytesFromSource, 0);
    assert.equal(again.bytesFromCache, image.stats.compressedBytes);
    assert.equal(source.manifests, 0, 'a digest ref with the manifest cached needs no source');
    assert.deepEqual(source.blobs, []);
  });

  it('detects a corrupt cached block, deletes it and fetches it again', async () => {
    const [victim] = image.blocks.keys();
    assert.ok(victim);
    const path = cache.pathOf(victim);
    const bad = Buffer.from(readFileSync(path));
    bad[bad.length >> 1] = (bad[bad.length >> 1] ?? 0) ^ 0x55;
    writeFileSync(path, bad);

    const source = counting(registry);
    const m = await materializeImage({
      source,
      name: 'acme/fn',
      ref: 'v1',
      cache,
      imagesDir: join(tmp.dir, 'images2'),
    });
    assertSameFiles(m.dir);
    assert.deepEqual(source.blobs, [victim]);
    assert.equal(m.blocksFromSource, 1);
    assert.equal(m.bytesFromSource, image.blocks.get(victim)?.length);
    assert.equal(m.blocksFromCache, image.blocks.size - 1);
    assert.deepEqual(await cache.get(victim), image.blocks.get(victim), 'the cache holds a good copy again');
  });

  it('shares one materialisation between concurrent callers', async () => {
    const source = counting(registry);
    const fresh = new BlobStore(join(tmp.dir, 'cache3'));
    const opts = { source, name: 'acme/fn', ref: 'v1', cache: fresh, imagesDir: join(tmp.dir, 'images3') };
    const [a, b] = await Promise.all([materializeImage(opts), materializeImage(opts)]);
    assert.equal(a.dir, b.dir);
    assert.equal(source.blobs.length, image.blocks.size, 'each block fetched once');
    assertSameFiles(a.dir);
  });

  it('follows a fetch running alongside: writes each block as it arrives, in arrival order', async () => {
    // The "fetch": blocks land in the cache in reverse manifest order, one per turn of the test.
    const fresh = new BlobStore(join(tmp.dir, 'cache-arriving'));
    const manifestBlob = await registry.getManifest('acme/fn', 'v1');
    await fresh.putVerified(manifestBlob.digest, manifestBlob.bytes);
    const order = [...new Set(image.manifest.layers.flatMap((l) => l.blocks.map((b) => b.digest)))];
    const arrivals = new Map(order.map((d) => [d, deferred()]));
    let written = 0;
    const source = counting(registry);
    const m = materializeImage({
      source,
      name: 'acme/fn',
      ref: manifestBlob.digest,
      cache: fresh,
      imagesDir: join(tmp.dir, 'images-arriving'),
      whenLocal: (d) => arrivals.get(d)!.promise,
      onProgress: (p) => (written = p.blocksDone),
    });
    let arrived = 0;
    for (const d of [...order].reverse()) {
      await fresh.putVerified(d, await registry.getBlob('acme/fn', d));
      arrivals.get(d)!.resolve();
      arrived++;
      // Each block is written once it has arrived, before the next one does.
      await eventually(async () => (written === arrived ? true : undefined), 10_000, `block ${arrived}`);
    }
    const done = await m;
    assertSameFiles(done.dir);
    assert.equal(source.blobs.length, 0, 'every block came from the cache');
    assert.equal(done.blocksFromCache, order.length);
  });

  it('follows a fetch running alongside: its failure fails the materialisation and leaves nothing', async () => {
    const fresh = new BlobStore(join(tmp.dir, 'cache-arriving-fail'));
    const imagesDir = join(tmp.dir, 'images-arriving-fail');
    const failure = new Error('no source had the block');
    await assert.rejects(
      materializeImage({
        source: registry,
        name: 'acme/fn',
        ref: 'v1',
        cache: fresh,
        imagesDir,
        whenLocal: () => Promise.reject(failure),
      }),
      (err) => err === failure,
    );
    assert.deepEqual(readdirSync(imagesDir), [], 'no image and no temp directory left');
  });

  it('lazily: writes the working set first, faults other files in on demand, then completes', async () => {
    const imagesDir = join(tmp.dir, 'images4');
    const fresh = new BlobStore(join(tmp.dir, 'cache4'));
    const opts = { source: registry, name: 'acme/fn', ref: 'v1', cache: fresh, imagesDir };
    const manifest = image.manifest;
    const entry = manifest.files.find((f) => f.path === 'index.js');
    assert.ok(entry);
    const workingSet = new Set(blocksOfFile(manifest, entry));
    let restLocal!: () => void;
    const rest = new Promise<void>((r) => (restLocal = r));
    const demanded: Digest[] = [];
    const demand = async (blocks: Digest[]): Promise<void> => {
      demanded.push(...blocks);
      for (const d of blocks) await fresh.putVerified(d, await registry.getBlob('acme/fn', d));
    };
    const m = await materializeLazily(opts, workingSet, rest, demand);
    assert.deepEqual(readFileSync(join(m.dir, 'index.js')), files['index.js']);
    assert.ok(!existsSync(join(m.dir, 'b/big.bin')), 'a file outside the working set is not there yet');
    assert.ok(statSync(join(m.dir, 'small')).isDirectory(), 'every directory exists from the start');
    const listed = JSON.parse(readFileSync(m.pendingList, 'utf8')) as string[];
    assert.ok(listed.includes('b/big.bin') && !listed.includes('index.js'), listed.join(', '));
    assert.equal(m.filesNow + listed.length, m.filesTotal);

    // On demand: its blocks come through `demand`, the file appears whole; unknown paths are ignored.
    const big = manifest.files.find((f) => f.path === 'b/big.bin');
    assert.ok(big);
    await Promise.all([m.faultIn(['b/big.bin', 'not/in/the/image']), m.faultIn(['b/big.bin'])]);
    assert.deepEqual(readFileSync(join(m.dir, 'b/big.bin')), files['b/big.bin']);
    assert.deepEqual(new Set(demanded), new Set(blocksOfFile(manifest, big)));
    assert.equal(demanded.length, new Set(demanded).size, 'a file faulted in twice at once is fetched once');
    assert.ok(!existsSync(join(m.dir, COMPLETE_MARKER)));

    restLocal();
    await m.complete;
    assertSameFiles(m.dir);
    assert.ok(existsSync(join(m.dir, COMPLETE_MARKER)));
    assert.ok(!existsSync(m.pendingList), 'the pending list goes once the image is complete');
    assert.deepEqual(readdirSync(imagesDir), [image.digest.slice(7)], 'no temp dirs left');
    await m.faultIn(['small/f01.txt']); // after completion: nothing to do
  });
});

describe('dedup across versions', () => {
  const tmp = tempDir('kindling-dedup-');
  after(tmp.cleanup);

  it('reuses every node_modules block when only the entry changes', async () => {
    const registry = new LocalRegistry(join(tmp.dir, 'registry'));
    const dir = join(tmp.dir, 'fn');
    mkdirSync(dir);
    // ~2 MiB of seeded "dependencies" in files of uneven sizes.
    const deps: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++)
      deps[`node_modules/dep${i}/lib.bin`] = seededBytes(`dep${i}`, 150 * KiB + i * 1000);
    deps['node_modules/dep0/package.json'] = Buffer.from('{"name":"dep0"}');
    writeTree(dir, {
      ...deps,
      'kindling.json': '{"bundle":false}',
      'index.js': 'export const handler = () => 1;\n',
    });
    const v1 = await buildImage(dir);
    writeTree(dir, { 'index.js': 'export const handler = () => 2; // changed\n' });
    const v2 = await buildImage(dir);

    assert.notEqual(v1.digest, v2.digest);
    assert.equal(v1.manifest.layers.length, 2);
    assert.deepEqual(v2.manifest.layers[0], v1.manifest.layers[0], 'the dependency layer is unchanged');
    const depBlocks = v1.manifest.layers[0]?.blocks.length ?? 0;
    assert.ok(depBlocks >= 4, `expected the ~2 MiB of dependencies to span several blocks, got ${depBlocks}`);

    const p1 = await pushImage(v1, registry, 'acme/dedup', 'v1');
    assert.equal(p1.uploadedBlocks, depBlocks + 1);
    const p2 = await pushImage(v2, registry, 'acme/dedup', 'v2');
    assert.equal(p2.uploadedBlocks, 1, 'only the block with the changed entry is uploaded');
    assert.equal(p2.skippedBlocks, depBlocks);

    const cache = new BlobStore(join(tmp.dir, 'cache'));
    const imagesDir = join(tmp.dir, 'images');
    await materializeImage({ source: registry, name: 'acme/dedup', ref: 'v1', cache, imagesDir });
    const m2 = await materializeImage({ source: registry, name: 'acme/dedup', ref: 'v2', cache, imagesDir });
    assert.equal(m2.blocksFromSource, 1);
    assert.equal(m2.blocksFromCache, depBlocks);
    assert.equal(
      readFileSync(join(m2.dir, 'index.js'), 'utf8'),
      'export const handler = () => 2; // changed\n',
    );
    for (const [path, bytes] of Object.entries(deps))
      assert.deepEqual(readFileSync(join(m2.dir, path)), bytes);
  });
});
