/**
 * What a {@link FetchJob} is asked to fetch, and the report of where its bytes came from.
 */
import type { Digest } from '../image/manifest.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';
import type { BlockOrigin } from './strategy.js';

/** What to fetch. */
export interface FetchRequest {
  readonly fn: FunctionKey;
  readonly repository: string;
  /** Every block of the image, in the order to fetch them (duplicates are fetched once). */
  readonly blocks: readonly Digest[];
  /**
   * The startup working set: fetched first, in this order, and signalled by {@link FetchJob.ready}.
   * Absent: the whole image is the working set (`ready` when everything is local).
   */
  readonly workingSet?: readonly Digest[];
  /**
   * Lazy loading: the blocks outside the working set are background transfers (no sandbox waits for
   * them), which servers send after foreground ones. A block a peer or a sandbox asks for stays
   * foreground. Default false: everything is foreground (a whole-image start waits for every block).
   */
  readonly backgroundRest?: boolean;
  /**
   * Lazy loading: do not start on the blocks outside the working set until
   * {@link FetchJob.releaseBackground} (the sandbox has started: materialising the working set and
   * starting the runtime get the host's CPU to themselves) or `holdBackgroundMs` has passed. Blocks a
   * peer asks for are fetched meanwhile. Default: no hold.
   */
  readonly holdBackground?: boolean;
  /** Longest hold, ms; default 30 000. */
  readonly holdBackgroundMs?: number;
  /** Cancels the job; `done` rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Where a job's bytes came from, and what went wrong on the way. */
export interface FetchReport {
  readonly fn: FunctionKey;
  /** Distinct blocks of the request. */
  blocks: number;
  /** Blocks that were already in the store. */
  blocksCached: number;
  /** Blocks fetched (from the registry or peers). */
  blocksFetched: number;
  /** Compressed bytes fetched from the registry. */
  bytesFromRegistry: number;
  /** Compressed bytes fetched from peers, in total and per peer. */
  bytesFromPeers: number;
  bytesByPeer: Record<HostId, number>;
  /** Where each fetched block came from. */
  origins: Map<Digest, BlockOrigin>;
  /** Fetched blocks in the order they were stored. */
  order: Digest[];
  /** Blocks local when the working set became ready (`undefined` until then). */
  blocksLocalAtReady: number | undefined;
  /** Blocks whose bytes did not match their digest (refetched from another source). */
  corrupt: number;
  /** Attempts that failed and moved on to the next source (corrupt ones included). */
  failovers: number;
  /** In-flight fetches restarted against a new source after a SourceChange. */
  repointed: number;
}
