/**
 * Lays files out in layers, cuts the layers into blocks, compresses each block and writes the
 * manifest. Everything here is deterministic: the same files give the same manifest digest.
 */
import { open } from 'node:fs/promises';
import { KindlingError } from '../core/errors.js';
import { compressBlock } from './block-codec.js';
import { sha256Digest } from './digest.js';
import type { SourceFile } from './file-tree.js';
import { encodeManifest } from './manifest-codec.js';
import {
  BLOCK_SIZE,
  MANIFEST_MEDIA_TYPE,
  type Block,
  type Digest,
  type FileEntry,
  type ImageManifest,
  type Layer,
} from './manifest.js';

/** Blocks compressed at once; matches the default libuv pool (4) with a little queue. */
const COMPRESS_PARALLEL = 8;

/** Progress of {@link packFiles}, reported after each block. */
export interface PackProgress {
  blocksDone: number;
  blocksTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

/** A packed image: manifest, its bytes and digest, and the compressed blocks by digest. */
export interface PackedImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  digest: Digest;
  blocks: Map<Digest, Buffer>;
}

/**
 * Packs `files` with `entry` as the entry module.
 *
 * Dependencies (`node_modules/**`) go in layer 0 and everything else in layer 1, each sorted by
 * path. Two layers rather than one concatenation: every layer starts on a block boundary, so a
 * change to the function's own code never touches a dependency block, and all dependency blocks
 * deduplicate across versions, including the last one. An empty group gets no layer.
 */
export async function packFiles(
  files: readonly SourceFile[],
  entry: string,
  onProgress?: (p: PackProgress) => void,
): Promise<PackedImage> {
  const byPath = (a: SourceFile, b: SourceFile): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const groups = [
    files.filter((f) => f.path.startsWith('node_modules/')).sort(byPath),
    files.filter((f) => !f.path.startsWith('node_modules/')).sort(byPath),
  ].filter((g) => g.length > 0);

  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  const blocksTotal = groups.reduce(
    (n, g) => n + Math.ceil(g.reduce((s, f) => s + f.size, 0) / BLOCK_SIZE),
    0,
  );
  const progress: PackProgress = { blocksDone: 0, blocksTotal, bytesDone: 0, bytesTotal };

  const blobs = new Map<Digest, Buffer>();
  const layers: Layer[] = [];
  const entries: FileEntry[] = [];
  for (const [layerIndex, group] of groups.entries()) {
    const writer = new BlockWriter(
      (raw) => compressBlock(raw),
      (size) => {
        progress.blocksDone++;
        progress.bytesDone += size;
        onProgress?.({ ...progress });
      },
    );
    for (const file of group) {
      entries.push({
        path: file.path,
        layer: layerIndex,
        offset: writer.offset,
        size: file.size,
        mode: file.mode,
      });
      await writeFile(writer, file);
    }
    const blocks = await writer.finish();
    for (const b of blocks) blobs.set(b.block.digest, b.compressed);
    layers.push({ size: writer.offset, blocks: blocks.map((b) => b.block) });
  }

  // Key order is fixed here, and with it the manifest bytes and digest.
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    blockSize: BLOCK_SIZE,
    layers,
    files: entries,
    entry,
  };
  const manifestBytes = encodeManifest(manifest);
  return { manifest, manifestBytes, digest: sha256Digest(manifestBytes), blocks: blobs };
}

async function writeFile(writer: BlockWriter, file: SourceFile): Promise<void> {
  if ('bytes' in file.source) {
    if (file.source.bytes.length !== file.size) throw changed(file);
    await writer.write(file.source.bytes);
    return;
  }
  const handle = await open(file.source.file, 'r');
  try {
    let position = 0;
    while (position < file.size) {
      const { buffer, offset, length } = writer.window(file.size - position);
      const { bytesRead } = await handle.read(buffer, offset, length, position);
      if (bytesRead !== length) throw changed(file);
      position += length;
      await writer.advance(length);
    }
    // A file that grew since it was listed would be cut short silently.
    const { bytesRead } = await handle.read(Buffer.alloc(1), 0, 1, file.size);
    if (bytesRead !== 0) throw changed(file);
  } finally {
    await handle.close();
  }
}

function changed(file: SourceFile): KindlingError {
  return new KindlingError(
    'KINDLING_BUILD_FAILED',
    `${file.path} changed while the image was being built (expected ${file.size} bytes); build again once it is stable`,
    { path: file.path },
  );
}

/** Fills one layer's blocks in order and compresses full ones with bounded parallelism. */
class BlockWriter {
  /** Bytes written to the layer so far. */
  offset = 0;
  private current = Buffer.allocUnsafe(BLOCK_SIZE);
  private fill = 0;
  private readonly pending: Array<Promise<{ block: Block; compressed: Buffer }>> = [];
  private readonly done: Array<{ block: Block; compressed: Buffer }> = [];

  constructor(
    private readonly compress: (raw: Buffer) => Promise<Buffer>,
    private readonly onBlock: (size: number) => void,
  ) {}

  /** Where the next `max` bytes (or fewer, up to the end of the current block) go. */
  window(max: number): { buffer: Buffer; offset: number; length: number } {
    return { buffer: this.current, offset: this.fill, length: Math.min(max, BLOCK_SIZE - this.fill) };
  }

  /** Records that `length` bytes were written into the window. */
  async advance(length: number): Promise<void> {
    this.fill += length;
    this.offset += length;
    if (this.fill === BLOCK_SIZE) await this.flush();
  }

  /** Copies `bytes` into the layer. */
  async write(bytes: Buffer): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const w = this.window(bytes.length - at);
      bytes.copy(w.buffer, w.offset, at, at + w.length);
      at += w.length;
      await this.advance(w.length);
    }
  }

  /** Flushes the last partial block and returns every block in layer order. */
  async finish(): Promise<Array<{ block: Block; compressed: Buffer }>> {
    if (this.fill > 0) await this.flush();
    this.done.push(...(await Promise.all(this.pending.splice(0))));
    return this.done;
  }

  private async flush(): Promise<void> {
    const raw = this.current.subarray(0, this.fill);
    const blockOffset = this.offset - this.fill;
    this.current = Buffer.allocUnsafe(BLOCK_SIZE);
    this.fill = 0;
    const job = this.compress(raw).then((compressed) => {
      this.onBlock(raw.length);
      return {
        block: {
          digest: sha256Digest(compressed),
          offset: blockOffset,
          size: raw.length,
          compressedSize: compressed.length,
        },
        compressed,
      };
    });
    // The failure is reported where the job is awaited; this only keeps a job abandoned by an earlier
    // error (a file that changed) from surfacing as an unhandled rejection.
    job.catch(() => undefined);
    this.pending.push(job);
    // Keep blocks in order: wait for the oldest once enough are in flight.
    if (this.pending.length >= COMPRESS_PARALLEL)
      this.done.push(await (this.pending.shift() as Promise<{ block: Block; compressed: Buffer }>));
  }
}
