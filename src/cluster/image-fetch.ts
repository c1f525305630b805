/**
 * How a cluster worker gets an image's blocks onto its host: through the distribution strategy the
 * control plane picked for the function (registry, swarm or tree), via the host's {@link BlockFetcher}.
 * Once every block is in the host's cache, the worker agent materialises the image from there.
 */
import type { FunctionVersion } from '../control/functions.js';
import { versionKey } from '../control/functions.js';
import type { FetchStats } from '../control/invocations.js';
import type { BlockFetcher, FetchReport } from '../distribution/block-fetcher.js';
import type { BlockSource } from '../image/source.js';

/** Bytes by origin of one image fetch, as the invocation record shows them. */
export function fetchStats(report: FetchReport, compressedTotal: number): FetchStats {
  const fetched = report.bytesFromRegistry + report.bytesFromPeers;
  const source =
    fetched === 0
      ? 'cache'
      : report.bytesFromPeers === 0
        ? 'registry'
        : report.bytesFromRegistry === 0
          ? 'peer'
          : 'registry+peer';
  return { bytesFromSource: fetched, bytesFromCache: Math.max(0, compressedTotal - fetched), source };
}

/** One image fetch, as `GET /v1/worker/distribution` lists it. */
export interface ImageFetchSummary {
  fn: string;
  blocks: number;
  blocksCached: number;
  bytesFromRegistry: number;
  bytesFromPeers: number;
  corrupt: number;
  failovers: number;
  repointed: number;
  ms: number;
}

/** The worker agent's `fetchImage` hook for cluster hosts; `onFetched` hears every finished fetch. */
export function clusterImageFetch(
  manifests: BlockSource,
  fetcher: BlockFetcher,
  onFetched: (summary: ImageFetchSummary) => void = () => {},
) {
  return async (target: FunctionVersion): Promise<FetchStats> => {
    const started = performance.now();
    const { manifest } = await manifests.getManifest(target.imageRepo, target.imageDigest);
    const blocks = manifest.layers.flatMap((l) => l.blocks);
    const job = fetcher.fetch({
      // One distribution (one function tree) per version: each version is its own image.
      fn: versionKey(target),
      repository: target.imageRepo,
      blocks: blocks.map((b) => b.digest),
    });
    const report = await job.done;
    onFetched({
      fn: report.fn,
      blocks: report.blocks,
      blocksCached: report.blocksCached,
      bytesFromRegistry: report.bytesFromRegistry,
      bytesFromPeers: report.bytesFromPeers,
      corrupt: report.corrupt,
      failovers: report.failovers,
      repointed: report.repointed,
      ms: Math.round(performance.now() - started),
    });
    const distinct = new Map(blocks.map((b) => [b.digest, b.compressedSize]));
    let total = 0;
    for (const size of distinct.values()) total += size;
    return fetchStats(report, total);
  };
}
