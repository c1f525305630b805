/**
 * FaaSNet function trees as a distribution strategy: the {@link FtManager} keeps one balanced binary
 * tree of hosts per function; each host fetches every block from its parent, the root from the
 * registry. A parent serves a block it is still receiving the moment it arrives (the peer server
 * waits on the host's fetcher), so blocks stream down the tree instead of whole images being stored
 * and forwarded. Only a host's two children ever ask it for blocks, which is how the "at most two
 * downstream transfers" rule is kept: by who is told to ask, not by refusing.
 *
 * When the parent fails (dead, corrupt bytes), the host falls back to other hosts that hold the block
 * and then to the registry, so a registry outage does not stop a tree whose inner hosts hold the
 * image. Tree changes from joins and removals come back as {@link SourceChange}s: the re-parented
 * hosts re-point their in-flight fetches.
 */
import { checkPositiveInt } from './check-options.js';
import { BlockLedger } from './block-ledger.js';
import { FtManager, type FtChange, type FunctionKey } from './ft-manager.js';
import { REGISTRY, type HostId } from './function-tree.js';
import type { Digest } from '../image/manifest.js';
import type { BlockRequest, DistributionStrategy, SourceChange, StrategyFactory } from './strategy.js';
import { type BlockOrigin, REGISTRY_ORIGIN } from './strategy.js';

/** Options of {@link treeStrategy}. */
export interface TreeStrategyInit {
  /** The FT manager to use (the scheduler's, when it also reads the trees); default a new one. */
  ftManager?: FtManager;
  /** Other holders named after the parent, for when it fails; default 2. */
  fallbackPeers?: number;
  /**
   * Blocks a host requests from its parent at once; default 1. Still one upstream host: more than
   * one request in flight to it only hides the per-block request latency, as FaaSNet's streaming
   * over one connection does. Cluster mode uses 4 (measured on the test cluster: one block at a time
   * moved about 5 MB/s over a 100 Mbit/s link, per-block round trips dominating).
   */
  pipelineDepth?: number;
}

/** Builds the `tree` strategy. */
export function treeStrategy(init: TreeStrategyInit = {}): StrategyFactory {
  return () => new TreeStrategy(init);
}

/** One function tree per function, over the FT manager. */
export class TreeStrategy implements DistributionStrategy {
  readonly name = 'tree' as const;
  /** One upstream host per host per function (its parent), with `pipelineDepth` blocks in flight. */
  readonly maxConcurrentFetches: number;
  readonly rarestFirst = false;
  /** The trees; read them (`treeOf`) but change them only through the strategy. */
  readonly ft: FtManager;
  private readonly ledger = new BlockLedger();
  private readonly fallbackPeers: number;

  constructor(init: TreeStrategyInit = {}) {
    this.ft = init.ftManager ?? new FtManager();
    this.fallbackPeers = init.fallbackPeers ?? 2;
    if (this.fallbackPeers !== 0) checkPositiveInt('fallbackPeers', this.fallbackPeers);
    this.maxConcurrentFetches = init.pipelineDepth ?? 1;
    checkPositiveInt('pipelineDepth', this.maxConcurrentFetches);
  }

  join(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    return toSourceChanges(this.ft.join(fn, host));
  }

  remove(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    this.ledger.dropHost(fn, host);
    return toSourceChanges(this.ft.remove(fn, host));
  }

  leave(host: HostId): readonly SourceChange[] {
    for (const fn of this.ledger.functions()) this.ledger.dropHost(fn, host);
    return this.ft.leave(host).flatMap(toSourceChanges);
  }

  sourcesFor(request: BlockRequest): readonly BlockOrigin[] {
    const parent = this.ft.treeOf(request.fn)?.parentOf(request.host);
    const out: BlockOrigin[] = [];
    if (parent !== undefined && parent !== REGISTRY) out.push({ kind: 'peer', host: parent });
    const fallbacks = this.ledger
      .holdersOf(request.fn, request.digest)
      .filter((h) => h !== request.host && h !== parent)
      .slice(0, this.fallbackPeers);
    for (const host of fallbacks) out.push({ kind: 'peer', host });
    out.push(REGISTRY_ORIGIN);
    return out;
  }

  blockStored(request: BlockRequest): void {
    // Only hosts still in the tree serve as fallbacks; a late report from a removed host is dropped.
    if (this.ft.treeOf(request.fn)?.has(request.host))
      this.ledger.stored(request.fn, request.digest, request.host);
  }

  sourceFailed(request: BlockRequest, origin: BlockOrigin): void {
    if (origin.kind === 'peer') this.ledger.forget(request.fn, request.digest, origin.host);
  }

  holders(fn: FunctionKey, digest: Digest): number {
    return this.ledger.holdersOf(fn, digest).length;
  }
}

/** The hosts a tree operation re-parented, as source changes (the removed host gets `undefined`). */
function toSourceChanges(change: FtChange): SourceChange[] {
  return change.moved.map((m) => ({
    fn: change.fn,
    host: m.host,
    source:
      m.newParent === undefined
        ? undefined
        : m.newParent === REGISTRY
          ? REGISTRY_ORIGIN
          : { kind: 'peer' as const, host: m.newParent },
  }));
}
