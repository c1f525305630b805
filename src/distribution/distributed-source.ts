/**
 * Distribution behind the image layer's {@link BlockSource} seam, so `materializeImage` (and the lazy
 * loader) read blocks through a strategy without knowing about it: resolving the manifest starts the
 * host's fetch of the whole image (startup working set first); reading a block asks the fetcher for
 * it at demand priority and returns it from the host's store once it has arrived and been verified.
 * Use the same BlobStore as `materializeImage`'s `cache`, so blocks already fetched are read there.
 */
import type { BlobStore } from '../image/blob-store.js';
import type { Digest, ImageManifest } from '../image/manifest.js';
import type { BlockSource, ResolvedManifest } from '../image/source.js';
import type { BlockFetcher } from './block-fetcher.js';
import type { FetchJob } from './fetch-job.js';
import type { FunctionKey } from './ft-manager.js';

/** Options of {@link DistributedBlockSource}. */
export interface DistributedBlockSourceOptions {
  /** This host's fetcher. */
  fetcher: BlockFetcher;
  /** This host's block cache (the fetcher's store). */
  store: BlobStore;
  /** Where manifests come from: the registry (`HttpRegistryClient`, or the local registry). */
  manifests: BlockSource;
  /** The function the image belongs to (its distribution tree or swarm). */
  fn: FunctionKey;
}

/** A {@link BlockSource} that fetches through a distribution strategy. */
export class DistributedBlockSource implements BlockSource {
  /** Reads are labelled `distribution`; the fetch report says how many bytes came from peers. */
  readonly kind = 'distribution';
  /** The fetch started by the last `getManifest`, for its report and `ready`. */
  job: FetchJob | undefined;

  constructor(private readonly options: DistributedBlockSourceOptions) {}

  /** Resolves the manifest at the registry, then starts fetching every block (working set first). */
  async getManifest(name: string, ref: string): Promise<ResolvedManifest> {
    const resolved = await this.options.manifests.getManifest(name, ref);
    this.job = this.options.fetcher.fetch({
      fn: this.options.fn,
      repository: name,
      blocks: blockDigests(resolved.manifest),
      ...(resolved.manifest.startupWorkingSet ? { workingSet: resolved.manifest.startupWorkingSet } : {}),
    });
    // Its outcome is read through `getBlob` (and `job.done` by whoever wants the report).
    this.job.done.catch(() => undefined);
    return resolved;
  }

  /** The block, fetched at demand priority if it is not local yet; verified by the store on read. */
  async getBlob(name: string, digest: Digest): Promise<Buffer> {
    await this.options.fetcher.demand(this.options.fn, name, digest);
    return this.options.store.get(digest);
  }
}

/** Every block digest of the image, in layer order, each once. */
export function blockDigests(manifest: ImageManifest): Digest[] {
  return [...new Set(manifest.layers.flatMap((l) => l.blocks.map((b) => b.digest)))];
}
