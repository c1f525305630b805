/** A host's sweep of its image copies: what is live, in use or recent stays; the rest goes. */
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BlobStore } from '../../src/image/blob-store.js';
import { collectHostGarbage } from '../../src/worker/host-gc.js';
import { tempDir } from '../helpers/platform.js';

const hex = (c: string) => c.repeat(64);
const HOUR = 3_600_000;

describe('host garbage collection', () => {
  it('removes image directories and cached blocks nothing live uses, and keeps the rest', async () => {
    const root = tempDir('kindling-host-gc-');
    const imagesDir = join(root, 'images');
    const cache = new BlobStore(join(root, 'blocks'));
    const old = new Date(Date.now() - 2 * HOUR);
    for (const c of ['a', 'b', 'c', 'd']) {
      mkdirSync(join(imagesDir, hex(c), 'lib'), { recursive: true });
      writeFileSync(join(imagesDir, hex(c), 'lib', 'index.cjs'), `// ${c}\n`.repeat(100));
      if (c !== 'd') utimesSync(join(imagesDir, hex(c)), old, old);
    }
    mkdirSync(join(imagesDir, '.tmp-partial'));
    const liveBlock = await cache.put(Buffer.from('live block'));
    const deadBlock = await cache.put(Buffer.from('dead block'));
    for (const d of [liveBlock, deadBlock]) utimesSync(cache.pathOf(d), old, old);
    const freshBlock = await cache.put(Buffer.from('written just now'));
    const forgotten: string[] = [];
    const derivedAsked: [string[], boolean][] = [];
    const sweep = (dryRun: boolean) =>
      collectHostGarbage({
        host: 'h1',
        imagesDir,
        cache,
        liveImages: new Set([`sha256:${hex('a')}`]), // live in the registry
        liveBlobs: new Set([liveBlock]),
        inUse: new Set([`sha256:${hex('b')}`]), // a pool runs it
        graceMs: HOUR,
        now: Date.now(),
        dryRun,
        forget: (digest) => forgotten.push(digest),
        forgetDerived: async (dirs, dry) => {
          derivedAsked.push([[...dirs], dry]);
          return { removed: 2, bytes: 1000 };
        },
      });
    const dry = await sweep(true);
    assert.deepEqual(forgotten, [], 'a dry run forgets nothing');
    assert.ok(existsSync(join(imagesDir, hex('c'))));
    const done = await sweep(false);
    assert.deepEqual(done, dry);
    assert.deepEqual(done, {
      host: 'h1',
      imagesRemoved: 1,
      blobsDeleted: 1,
      derivedRemoved: 2,
      bytesFreed: done.bytesFreed,
    });
    assert.equal(
      done.bytesFreed,
      500 + 1000 + 'dead block'.length,
      "the directory's files, the snapshots, the block",
    );
    // The tiers were told which directories go, and whether to delete.
    assert.deepEqual(derivedAsked, [
      [[join(imagesDir, hex('c'))], true],
      [[join(imagesDir, hex('c'))], false],
    ]);
    assert.deepEqual(forgotten, [`sha256:${hex('c')}`]);
    for (const c of ['a', 'b', 'd']) assert.ok(existsSync(join(imagesDir, hex(c))), `${c} stays`);
    assert.equal(existsSync(join(imagesDir, hex('c'))), false);
    assert.ok(existsSync(join(imagesDir, '.tmp-partial')), 'not an image directory: left alone');
    assert.equal(await cache.has(deadBlock), false);
    assert.ok((await cache.has(liveBlock)) && (await cache.has(freshBlock)));
  });
});
