/**
 * Reads one file of an image straight from its blocks, through the manifest's file index, without
 * materialising the image: only the blocks the file spans are fetched (and verified).
 */
import { KindlingError } from '../core/errors.js';
import { decompressBlock } from './block-codec.js';
import type { BlockSource } from './source.js';

/** The bytes of `path` in image `name@ref`. Rejects with KINDLING_NOT_FOUND when the image has no such file. */
export async function readImageFile(
  source: BlockSource,
  name: string,
  ref: string,
  path: string,
): Promise<Buffer> {
  const { manifest } = await source.getManifest(name, ref);
  const file = manifest.files.find((f) => f.path === path);
  if (!file) throw new KindlingError('KINDLING_NOT_FOUND', `image ${name}@${ref} has no file ${path}`);
  const layer = manifest.layers[file.layer];
  if (!layer)
    throw new KindlingError(
      'KINDLING_BLOCK_CORRUPT',
      `file ${path} names layer ${file.layer}, which the manifest lacks`,
    );
  const end = file.offset + file.size;
  const parts: Buffer[] = [];
  for (const block of layer.blocks) {
    const blockEnd = block.offset + block.size;
    if (blockEnd <= file.offset || block.offset >= end) continue;
    const bytes = await decompressBlock(await source.getBlob(name, block.digest), block.size, block.digest);
    parts.push(
      bytes.subarray(Math.max(0, file.offset - block.offset), Math.min(block.size, end - block.offset)),
    );
  }
  return Buffer.concat(parts);
}
