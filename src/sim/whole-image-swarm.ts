/**
 * Swarm at whole-layer granularity, the way FaaSNet's evaluation runs Kraken: a host serves nothing
 * until it holds the whole image (its one layer). Wraps Kindling's own {@link SwarmStrategy} (the
 * tracker, rarest-first, bounded connections are all the real code's); the only difference is what
 * the tracker hears and names: a host's stored blocks are reported to it only once the host holds
 * every block, and only such complete hosts are named as sources (never hosts still receiving).
 * Before any host is complete every block therefore comes from the registry.
 */
import { checkPositiveInt } from '../distribution/check-options.js';
import type { FunctionKey } from '../distribution/ft-manager.js';
import type { HostId } from '../distribution/function-tree.js';
import type {
  BlockOrigin,
  BlockRequest,
  DistributionStrategy,
  SourceChange,
} from '../distribution/strategy.js';
import { SwarmStrategy, type SwarmStrategyInit } from '../distribution/swarm-strategy.js';
import type { Digest } from '../image/manifest.js';

/** The swarm strategy with whole-image pieces; see the module comment. */
export class WholeImageSwarm implements DistributionStrategy {
  readonly name = 'swarm' as const;
  readonly rarestFirst: boolean;
  readonly maxConcurrentFetches: number;
  private readonly inner: SwarmStrategy;
  /** Per function and host, the blocks stored but not yet reported (until the host is complete). */
  private readonly pending = new Map<string, BlockRequest[]>();
  private readonly complete = new Map<FunctionKey, Set<HostId>>();

  /** @param blocksPerImage blocks a host must hold before it serves any */
  constructor(
    private readonly blocksPerImage: number,
    init: SwarmStrategyInit = {},
  ) {
    checkPositiveInt('blocksPerImage', blocksPerImage);
    this.inner = new SwarmStrategy(init);
    this.rarestFirst = this.inner.rarestFirst;
    this.maxConcurrentFetches = this.inner.maxConcurrentFetches;
  }

  join(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    return this.inner.join(fn, host);
  }

  remove(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    this.pending.delete(`${fn}\0${host}`);
    this.complete.get(fn)?.delete(host);
    return this.inner.remove(fn, host);
  }

  leave(host: HostId): readonly SourceChange[] {
    for (const [fn, set] of this.complete) {
      set.delete(host);
      this.pending.delete(`${fn}\0${host}`);
    }
    return this.inner.leave(host);
  }

  sourcesFor(request: BlockRequest): readonly BlockOrigin[] {
    const done = this.complete.get(request.fn);
    return this.inner
      .sourcesFor(request)
      .filter((o) => o.kind === 'registry' || (done?.has(o.host) ?? false));
  }

  blockStored(request: BlockRequest): void {
    if (this.complete.get(request.fn)?.has(request.host)) return this.inner.blockStored(request);
    const key = `${request.fn}\0${request.host}`;
    let list = this.pending.get(key);
    if (!list) this.pending.set(key, (list = []));
    list.push(request);
    if (list.length < this.blocksPerImage) return;
    this.pending.delete(key);
    let set = this.complete.get(request.fn);
    if (!set) this.complete.set(request.fn, (set = new Set()));
    set.add(request.host);
    for (const r of list) this.inner.blockStored(r);
  }

  sourceFailed(request: BlockRequest, origin: BlockOrigin): void {
    this.inner.sourceFailed(request, origin);
  }

  holders(fn: FunctionKey, digest: Digest): number {
    return this.inner.holders(fn, digest);
  }
}
