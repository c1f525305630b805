/**
 * How a cluster worker gets an image's blocks onto its host: through the distribution strategy the
 * control plane picked for the function (registry, swarm or tree), via the host's {@link BlockFetcher}.
 * Once every block is in the host's cache, the worker agent materialises the image from there.
 */
import { setMaxListeners } from 'node:events';
import type { FunctionVersion } from '../control/functions.js';
import { versionKey } from '../control/functions.js';
import type { FetchStats } from '../control/invocations.js';
import type { Digest } from '../image/manifest.js';
import type { ImageFetch } from '../worker/host-images.js';
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

/**
 * The worker agent's `fetchImage` hook for cluster hosts. With a startup working set for the image
 * (`workingSetOf`, sent by the control plane once a first cold start recorded it, when lazy loading
 * is on) it returns as soon as those blocks are local and the rest follow in the background;
 * without one it starts fetching the whole image, returns at once with a way to follow the blocks
 * as they arrive (the agent writes the files meanwhile), and asks the agent to record the working
 * set.
 * `onFetched` hears every finished fetch.
 */
export function clusterImageFetch(
  manifests: BlockSource,
  fetcher: BlockFetcher,
  workingSetOf: (digest: string) => readonly Digest[] | undefined,
  onFetched: (summary: ImageFetchSummary) => void = () => {},
  /**
   * Lazy loading's rest as background work: asked for after other hosts' startup blocks (see
   * `upload-priority.ts`) and only once this host's sandbox has started; default true.
   */
  backgroundPriority = true,
) {
  return async (target: FunctionVersion): Promise<ImageFetch> => {
    const started = performance.now();
    const { manifest } = await manifests.getManifest(target.imageRepo, target.imageDigest);
    const blocks = manifest.layers.flatMap((l) => l.blocks);
    const distinct = new Map(blocks.map((b) => [b.digest, b.compressedSize]));
    let imageBytes = 0;
    for (const size of distinct.values()) imageBytes += size;
    const workingSet = workingSetOf(target.imageDigest)?.filter((d) => distinct.has(d));
    const restInBackground = backgroundPriority && workingSet !== undefined && workingSet.length > 0;
    const job = fetcher.fetch({
      // One distribution (one function tree) per version: each version is its own image.
      fn: versionKey(target),
      repository: target.imageRepo,
      blocks: blocks.map((b) => b.digest),
      // Without a working set every block is background work, so a swarm host picks rarest first
      // (given none, the whole image would be the working set, fetched in manifest order, and swarm
      // hosts that start together would all chase the same blocks).
      workingSet: workingSet?.length ? workingSet : [],
      // Lazy: the sandbox starts with the working set, so the rest goes after other hosts' startups.
      backgroundRest: restInBackground,
      // And it waits until the sandbox has started, so materialising and starting get the CPU.
      holdBackground: restInBackground,
    });
    const finished = job.done.then((report) => {
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
      return report;
    });
    if (workingSet?.length) {
      await job.ready;
      // Bytes fetched before the sandbox may start: the working set (and blocks that came with it).
      const stats = { ...fetchStats(job.report, imageBytes), bytesFromCache: 0, imageBytes, lazy: true };
      return {
        stats,
        lazy: {
          workingSet: new Set(workingSet),
          rest: finished,
          startEnded: () => job.releaseBackground(),
          // A sandbox reads a file outside the working set: its blocks go ahead of everything else.
          demand: async (digests) => {
            await Promise.all(digests.map((d) => fetcher.demand(versionKey(target), target.imageRepo, d)));
          },
        },
      };
    }
    // The whole image: the agent writes each block's files as the block arrives. A failed fetch
    // ends every wait with its error.
    const failed = new AbortController();
    // The files are written in arrival order, so every block has a waiter on this one signal at once.
    setMaxListeners(0, failed.signal);
    finished.catch((err: unknown) => failed.abort(err));
    const complete = finished.then((report) => ({ ...fetchStats(report, imageBytes), imageBytes }));
    // Awaited by the agent unless writing the files failed first, which it reports itself.
    complete.catch(() => undefined);
    return {
      arriving: { whenLocal: (digest) => fetcher.whenStored(digest, failed.signal), complete },
      recordWorkingSet: true,
    };
  };
}
