/**
 * One suite for every registry implementation (BlockSource + ImageSink + tags): the local one and
 * the HTTP client must behave the same, down to the error codes.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { buildImage, type BuiltImage } from '../../src/image/builder.js';
import { sha256Digest } from '../../src/image/digest.js';
import { encodeManifest } from '../../src/image/manifest-codec.js';
import { pushImage } from '../../src/image/registry.js';
import type { BlockSource, ImageSink } from '../../src/image/source.js';
import { seededBytes, tempDir, writeTree } from './helpers.js';

/** What the suite drives. */
export interface RegistryUnderTest extends BlockSource, ImageSink {
  listTags(name: string): Promise<string[]>;
  deleteTag(name: string, tag: string): Promise<void>;
}

const isCode = (code: string, pattern?: RegExp) => (err: unknown) =>
  KindlingError.is(err) && err.code === code && (pattern === undefined || pattern.test(err.message));

/** Runs the suite against the registry `setup` returns. */
export function registryCompliance(
  label: string,
  setup: () => Promise<{ registry: RegistryUnderTest; teardown: () => Promise<void> }>,
): void {
  describe(`registry compliance: ${label}`, () => {
    const tmp = tempDir('kindling-compliance-');
    let registry: RegistryUnderTest;
    let teardown: () => Promise<void>;
    let image: BuiltImage;

    before(async () => {
      ({ registry, teardown } = await setup());
      const dir = join(tmp.dir, 'fn');
      mkdirSync(dir);
      writeTree(dir, {
        'kindling.json': '{"bundle":false}',
        'index.js': 'export const handler = () => 1;\n',
        'data.bin': seededBytes('compliance', 700 * 1024),
      });
      image = await buildImage(dir);
    });
    after(async () => {
      await teardown();
      tmp.cleanup();
    });

    it('pushes an image and serves its manifest and blocks back', async () => {
      const pushed = await pushImage(image, registry, 'acme/app', 'v1');
      assert.equal(pushed.digest, image.digest);
      assert.equal(pushed.uploadedBlocks, image.blocks.size);
      for (const ref of ['v1', image.digest]) {
        const m = await registry.getManifest('acme/app', ref);
        assert.equal(m.digest, image.digest);
        assert.deepEqual(m.bytes, image.manifestBytes);
        assert.deepEqual(m.manifest, image.manifest);
      }
      for (const [digest, bytes] of image.blocks) {
        assert.equal(await registry.hasBlob('acme/app', digest), true);
        assert.deepEqual(await registry.getBlob('acme/app', digest), bytes);
      }
      const again = await pushImage(image, registry, 'acme/app', 'v2');
      assert.equal(again.uploadedBlocks, 0);
      assert.equal(again.skippedBlocks, image.blocks.size);
      assert.deepEqual(await registry.listTags('acme/app'), ['v1', 'v2']);
    });

    it('answers unknown blobs and manifests with BLOB_UNKNOWN and MANIFEST_UNKNOWN', async () => {
      const unknown = sha256Digest(Buffer.from('never pushed'));
      assert.equal(await registry.hasBlob('acme/app', unknown), false);
      await assert.rejects(registry.getBlob('acme/app', unknown), isCode('KINDLING_BLOB_UNKNOWN'));
      await assert.rejects(registry.getManifest('acme/app', 'nope'), isCode('KINDLING_MANIFEST_UNKNOWN'));
      await assert.rejects(registry.getManifest('acme/app', unknown), isCode('KINDLING_MANIFEST_UNKNOWN'));
    });

    it('keeps repositories apart: a blob pushed to one is unknown in another', async () => {
      const [digest] = image.blocks.keys();
      assert.ok(digest);
      assert.equal(await registry.hasBlob('acme/elsewhere', digest), false);
      await assert.rejects(registry.getBlob('acme/elsewhere', digest), isCode('KINDLING_BLOB_UNKNOWN'));
    });

    it('rejects a blob whose bytes do not match its digest', async () => {
      await assert.rejects(
        registry.putBlob('acme/app', sha256Digest(Buffer.from('a')), Buffer.from('b')),
        isCode('KINDLING_DIGEST_INVALID'),
      );
    });

    it('rejects a manifest that lists a block it does not have, naming the block', async () => {
      const missing = sha256Digest(Buffer.from('missing block'));
      const layers = image.manifest.layers.map((l) => ({ ...l, blocks: l.blocks.map((b) => ({ ...b })) }));
      const firstBlock = layers[0]?.blocks[0];
      assert.ok(firstBlock);
      firstBlock.digest = missing;
      const bytes = encodeManifest({ ...image.manifest, layers });
      await assert.rejects(
        registry.putManifest('acme/app', 'broken', bytes),
        isCode('KINDLING_BLOB_UNKNOWN', new RegExp(missing)),
      );
      await assert.rejects(registry.getManifest('acme/app', 'broken'), isCode('KINDLING_MANIFEST_UNKNOWN'));
    });

    it('rejects an invalid manifest, saying which field is wrong', async () => {
      const bad = Buffer.from(
        JSON.stringify({
          ...image.manifest,
          layers: [{ size: 1, blocks: [{ digest: 'sha256:xyz', offset: 0, size: 1, compressedSize: 1 }] }],
        }),
      );
      await assert.rejects(
        registry.putManifest('acme/app', 'bad', bad),
        isCode('KINDLING_BAD_REQUEST', /layers\[0\]\.blocks\[0\]\.digest/),
      );
      await assert.rejects(
        registry.putManifest('acme/app', 'bad', Buffer.from('{not json')),
        isCode('KINDLING_BAD_REQUEST', /not valid JSON/),
      );
    });

    it('rejects invalid repository names and tags', async () => {
      await assert.rejects(registry.getManifest('Acme/App', 'v1'), isCode('KINDLING_INVALID_NAME'));
      await assert.rejects(registry.getManifest('acme//app', 'v1'), isCode('KINDLING_INVALID_NAME'));
      // The spec's grammar joins components with any run of hyphens: every function name is a name.
      await assert.rejects(registry.getManifest('acme/a--b', 'v1'), (err: unknown) => {
        assert.ok(KindlingError.is(err) && err.code !== 'KINDLING_INVALID_NAME', String(err));
        return true;
      });
      await assert.rejects(
        registry.putManifest('acme/app', '-bad', image.manifestBytes),
        isCode('KINDLING_INVALID_NAME'),
      );
    });

    it('deletes tags', async () => {
      await registry.deleteTag('acme/app', 'v2');
      assert.deepEqual(await registry.listTags('acme/app'), ['v1']);
      await assert.rejects(registry.getManifest('acme/app', 'v2'), isCode('KINDLING_MANIFEST_UNKNOWN'));
      await assert.rejects(registry.deleteTag('acme/app', 'v2'), isCode('KINDLING_MANIFEST_UNKNOWN'));
      assert.deepEqual(await registry.listTags('acme/never'), []);
    });
  });
}
