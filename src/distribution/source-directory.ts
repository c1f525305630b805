/**
 * The host-facing half of a distribution strategy, as a worker agent sees it: ask where blocks are,
 * say what it now holds, report a source that failed, and hear when its preferred source changes.
 * Asynchronous, because on a worker host it is a client of the control plane
 * ({@link RemoteSourceDirectory}); in one process it is a thin adapter over a
 * {@link DistributionHub} ({@link InProcessSourceDirectory}). One directory speaks for one host.
 */
import type { Digest } from '../image/manifest.js';
import type { DistributionHub } from './distribution-hub.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';
import type { BlockOrigin, SourceChange, StrategyName } from './strategy.js';
import type { BlockArrival } from './transfer-progress.js';

/** Candidate sources of one block, best first. */
export interface BlockSources {
  readonly digest: Digest;
  readonly sources: readonly BlockOrigin[];
}

/** What a host needs to know of its function's strategy before fetching. */
export interface StrategyLimits {
  readonly strategy: StrategyName;
  /** Fetches this host may run at once for this function. */
  readonly maxConcurrentFetches: number;
  /** Pick background blocks rarest first (swarm). */
  readonly rarestFirst: boolean;
}

/** The answer to a batched sources request, with the strategy's limits for the fetcher. */
export interface SourcesAnswer extends StrategyLimits {
  /** One entry per digest asked, in the order asked. */
  readonly blocks: readonly BlockSources[];
}

/** What a host calls; every method speaks for {@link SourceDirectory.host}. */
export interface SourceDirectory {
  /** The host this directory speaks for. */
  readonly host: HostId;
  /** The host starts needing `fn`'s image; idempotent. Returns the strategy's limits. */
  join(fn: FunctionKey, repository: string): Promise<StrategyLimits>;
  /** The host no longer holds `fn`; idempotent. */
  remove(fn: FunctionKey): Promise<void>;
  /**
   * Sources for each digest, best first, registry last. Ask just before fetching: a strategy may
   * record the asker as receiving the block (and point later askers at it).
   */
  sources(fn: FunctionKey, repository: string, digests: readonly Digest[]): Promise<SourcesAnswer>;
  /** How many hosts hold or receive each digest (for rarest-first); no side effects. */
  availability(fn: FunctionKey, digests: readonly Digest[]): Promise<number[]>;
  /**
   * The host now holds verified copies of `digests`: fetched, with `arrivals` saying from where (one
   * per digest, same order), or already in its cache, without.
   */
  stored(
    fn: FunctionKey,
    repository: string,
    digests: readonly Digest[],
    arrivals?: readonly BlockArrival[],
  ): Promise<void>;
  /** A fetch of `digest` from `origin` failed; the strategy stops naming it for that block. */
  failed(fn: FunctionKey, repository: string, digest: Digest, origin: BlockOrigin): Promise<void>;
  /** Calls `listener` with each change of this host's preferred source. Returns an unsubscribe. */
  onSourceChange(listener: (change: SourceChange) => void): () => void;
}

/** A {@link SourceDirectory} over a hub in the same process (embedded mode, tests, the simulator). */
export class InProcessSourceDirectory implements SourceDirectory {
  constructor(
    private readonly hub: DistributionHub,
    readonly host: HostId,
  ) {}

  async join(fn: FunctionKey, _repository: string): Promise<StrategyLimits> {
    this.hub.join(fn, this.host);
    return this.hub.limits(fn);
  }

  async remove(fn: FunctionKey): Promise<void> {
    this.hub.remove(fn, this.host);
  }

  async sources(fn: FunctionKey, repository: string, digests: readonly Digest[]): Promise<SourcesAnswer> {
    return this.hub.sources(this.host, fn, repository, digests);
  }

  async availability(fn: FunctionKey, digests: readonly Digest[]): Promise<number[]> {
    return this.hub.availability(fn, digests);
  }

  async stored(
    fn: FunctionKey,
    repository: string,
    digests: readonly Digest[],
    arrivals?: readonly BlockArrival[],
  ): Promise<void> {
    this.hub.stored(this.host, fn, repository, digests, arrivals);
  }

  async failed(fn: FunctionKey, repository: string, digest: Digest, origin: BlockOrigin): Promise<void> {
    this.hub.failed(this.host, fn, repository, digest, origin);
  }

  onSourceChange(listener: (change: SourceChange) => void): () => void {
    return this.hub.subscribe((change) => {
      if (change.host === this.host) listener(change);
    });
  }
}
