/**
 * Pushes a built image to any {@link ImageSink}, sending only the blocks the sink does not have:
 * after a code-only change that is the one block holding the bundle.
 */
import type { Digest } from './manifest.js';
import { mapLimit } from './map-limit.js';
import type { ImageSink } from './source.js';

/** Upload parallelism: enough to hide round trips, few enough not to flood a registry. */
const PUSH_PARALLEL = 4;

/** The part of a built image a push needs (a `BuiltImage` fits). */
export interface PushableImage {
  manifestBytes: Buffer;
  digest: Digest;
  blocks: ReadonlyMap<Digest, Buffer>;
}

/** Progress of a push, reported after each block: `done` of `total` blocks checked or sent. */
export interface PushProgress {
  done: number;
  total: number;
  uploadedBytes: number;
}

/** Outcome of {@link pushImage}. */
export interface PushResult {
  /** Manifest digest as the sink reported it. */
  digest: Digest;
  /** Compressed bytes sent (blocks only; the manifest is not counted). */
  uploadedBytes: number;
  uploadedBlocks: number;
  /** Blocks the sink already had. */
  skippedBlocks: number;
}

/**
 * Uploads the blocks `sink` lacks (asking `hasBlob` first), then the manifest under `tag`.
 * The manifest goes last so the sink never holds a manifest whose blocks are missing.
 */
export async function pushImage(
  image: PushableImage,
  sink: ImageSink,
  name: string,
  tag: string,
  onProgress?: (p: PushProgress) => void,
): Promise<PushResult> {
  const entries = [...image.blocks.entries()];
  const progress: PushProgress = { done: 0, total: entries.length, uploadedBytes: 0 };
  let uploadedBlocks = 0;
  await mapLimit(entries, PUSH_PARALLEL, async ([digest, bytes]) => {
    if (!(await sink.hasBlob(name, digest))) {
      await sink.putBlob(name, digest, bytes);
      uploadedBlocks++;
      progress.uploadedBytes += bytes.length;
    }
    progress.done++;
    onProgress?.({ ...progress });
  });
  const digest = await sink.putManifest(name, tag, image.manifestBytes);
  return {
    digest,
    uploadedBytes: progress.uploadedBytes,
    uploadedBlocks,
    skippedBlocks: entries.length - uploadedBlocks,
  };
}
