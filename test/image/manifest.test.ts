import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { sha256Digest } from '../../src/image/digest.js';
import { encodeManifest, parseManifest, validateManifest } from '../../src/image/manifest-codec.js';
import { MANIFEST_MEDIA_TYPE, type ImageManifest } from '../../src/image/manifest.js';

const d = (s: string) => sha256Digest(Buffer.from(s));

function manifest(over: Partial<ImageManifest> = {}): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    blockSize: 8,
    layers: [
      {
        size: 12,
        blocks: [
          { digest: d('1'), offset: 0, size: 8, compressedSize: 20 },
          { digest: d('2'), offset: 8, size: 4, compressedSize: 20 },
        ],
      },
    ],
    files: [
      { path: 'index.js', layer: 0, offset: 0, size: 10, mode: 0o644 },
      { path: 'lib/a.js', layer: 0, offset: 10, size: 2, mode: 0o644 },
    ],
    entry: 'index.js',
    ...over,
  };
}

function rejects(m: unknown, pattern: RegExp): void {
  assert.throws(
    () => validateManifest(m),
    (err: unknown) =>
      KindlingError.is(err) && err.code === 'KINDLING_BAD_REQUEST' && pattern.test(err.message),
  );
}

describe('manifest codec', () => {
  it('round-trips a valid manifest', () => {
    const m = manifest();
    assert.deepEqual(parseManifest(encodeManifest(m)), m);
  });

  it('names the wrong field', () => {
    rejects({ ...manifest(), schemaVersion: 1 }, /schemaVersion/);
    rejects(
      { ...manifest(), files: [{ path: '../etc/passwd', layer: 0, offset: 0, size: 1, mode: 0 }] },
      /files\[0\]\.path/,
    );
  });

  it('checks that blocks tile their layer and files stay inside it', () => {
    const m = manifest();
    const layer = m.layers[0];
    assert.ok(layer);
    rejects({ ...m, layers: [{ ...layer, size: 13 }] }, /blocks cover 12 bytes/);
    rejects({ ...m, layers: [{ ...layer, blocks: [...layer.blocks].reverse() }] }, /offset is 8, expected 0/);
    rejects(
      { ...m, files: [{ path: 'index.js', layer: 0, offset: 5, size: 10, mode: 0 }] },
      /past the end of layer 0/,
    );
    rejects({ ...m, files: [{ path: 'index.js', layer: 1, offset: 0, size: 1, mode: 0 }] }, /layer is 1/);
  });

  it('rejects paths that cannot be written and a missing entry', () => {
    const f = (path: string) => ({ path, layer: 0, offset: 0, size: 1, mode: 0 });
    rejects({ ...manifest(), files: [f('index.js'), f('a//b')] }, /normalised/);
    rejects({ ...manifest(), files: [f('index.js'), f('index.js')] }, /appears twice/);
    rejects({ ...manifest(), files: [f('index.js'), f('index.js/x')] }, /is a file but/);
    rejects({ ...manifest(), entry: 'main.js' }, /entry "main.js"/);
  });
});
