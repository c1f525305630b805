/**
 * The control-plane side of distribution: owns the strategies, picks one per function, makes
 * membership idempotent, and publishes every {@link SourceChange} both to in-process subscribers and
 * to a numbered log that remote hosts long-poll (`distribution-routes.ts`). Synchronous and
 * deterministic except for the long-poll wait, which uses the injected clock.
 */
import type { Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { Digest } from '../image/manifest.js';
import { checkPositiveInt } from './check-options.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';
import type { SourcesAnswer, StrategyLimits } from './source-directory.js';
import type { BlockOrigin, DistributionStrategy, SourceChange, StrategyName } from './strategy.js';
import type { BlockArrival, TransferProgress } from './transfer-progress.js';

/** Options of {@link DistributionHub}. */
export interface DistributionHubOptions {
  /** The strategies on offer; the first is the cluster default. */
  strategies: readonly DistributionStrategy[];
  /** The strategy for a function (per-function choice); `undefined` means the default. */
  strategyFor?: (fn: FunctionKey) => StrategyName | undefined;
  /** For long-poll timeouts. */
  clock: Clock;
  /** Source changes kept for hosts that poll; default 10 000. A host that falls further behind re-joins. */
  changeLogSize?: number;
  /** Told what members store, join and leave (the dashboard's transfer progress); default none. */
  progress?: TransferProgress;
}

/** A numbered source change, as the change log keeps it. */
export interface LoggedChange extends SourceChange {
  readonly seq: number;
}

/** Strategies, membership, and the change log. */
export class DistributionHub {
  private readonly strategies = new Map<StrategyName, DistributionStrategy>();
  private readonly defaultStrategy: DistributionStrategy;
  private readonly strategyFor: (fn: FunctionKey) => StrategyName | undefined;
  private readonly clock: Clock;
  private readonly changeLogSize: number;
  /** Strategy of each function with members: fixed while it has any, so a tree is never split. */
  private readonly chosen = new Map<FunctionKey, DistributionStrategy>();
  private readonly members = new Map<FunctionKey, Set<HostId>>();
  private readonly log: LoggedChange[] = [];
  private seq = 0;
  private readonly listeners = new Set<(change: LoggedChange) => void>();
  private readonly progress: TransferProgress | undefined;

  constructor(options: DistributionHubOptions) {
    const first = options.strategies[0];
    if (!first) {
      throw new KindlingError('KINDLING_INVALID_CONFIG', 'a DistributionHub needs at least one strategy');
    }
    for (const s of options.strategies) this.strategies.set(s.name, s);
    this.defaultStrategy = first;
    this.strategyFor = options.strategyFor ?? (() => undefined);
    this.clock = options.clock;
    this.changeLogSize = options.changeLogSize ?? 10_000;
    this.progress = options.progress;
    checkPositiveInt('changeLogSize', this.changeLogSize);
  }

  /** The strategy `fn` uses (the one fixed at its first join, else the one it would get now). */
  strategyOf(fn: FunctionKey): DistributionStrategy {
    const fixed = this.chosen.get(fn);
    if (fixed) return fixed;
    const name = this.strategyFor(fn);
    if (name === undefined) return this.defaultStrategy;
    const s = this.strategies.get(name);
    if (!s) {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `function ${fn} asks for distribution strategy "${name}", which this cluster does not run; use one of ${[...this.strategies.keys()].join(', ')}`,
        { fn, strategy: name },
      );
    }
    return s;
  }

  /** `host` starts needing `fn`; a host already in is left as it is. Returns (and publishes) the changes. */
  join(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    let set = this.members.get(fn);
    if (set?.has(host)) return [];
    const strategy = this.strategyOf(fn);
    const changes = strategy.join(fn, host);
    if (!set) this.members.set(fn, (set = new Set()));
    set.add(host);
    this.chosen.set(fn, strategy);
    return this.publish(changes);
  }

  /** `host` no longer holds `fn`; a host not in is ignored. */
  remove(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    const set = this.members.get(fn);
    if (!set?.has(host)) return [];
    const changes = this.strategyOf(fn).remove(fn, host);
    set.delete(host);
    if (set.size === 0) {
      this.members.delete(fn);
      this.chosen.delete(fn);
    }
    this.progress?.removed(fn, host);
    return this.publish(changes);
  }

  /** `host` died or was drained: it leaves every function, in every strategy. */
  leave(host: HostId): readonly SourceChange[] {
    const changes: SourceChange[] = [];
    for (const s of this.strategies.values()) changes.push(...s.leave(host));
    for (const [fn, set] of [...this.members]) {
      if (set.delete(host) && set.size === 0) {
        this.members.delete(fn);
        this.chosen.delete(fn);
      }
    }
    this.progress?.left(host);
    return this.publish(changes);
  }

  /** Hosts taking part in `fn`'s distribution, in join order. */
  membersOf(fn: FunctionKey): HostId[] {
    return [...(this.members.get(fn) ?? [])];
  }

  /** Functions with members, sorted. */
  functions(): FunctionKey[] {
    return [...this.members.keys()].sort();
  }

  /** The limits of `fn`'s strategy, for the fetcher. */
  limits(fn: FunctionKey): StrategyLimits {
    const s = this.strategyOf(fn);
    return { strategy: s.name, maxConcurrentFetches: s.maxConcurrentFetches, rarestFirst: s.rarestFirst };
  }

  /** Sources for each digest, for `host`, with the strategy's limits. */
  sources(host: HostId, fn: FunctionKey, repository: string, digests: readonly Digest[]): SourcesAnswer {
    const s = this.strategyOf(fn);
    return {
      ...this.limits(fn),
      blocks: digests.map((digest) => ({ digest, sources: s.sourcesFor({ fn, repository, digest, host }) })),
    };
  }

  /** Availability of each digest (holders and receivers the strategy knows of). */
  availability(fn: FunctionKey, digests: readonly Digest[]): number[] {
    const s = this.strategyOf(fn);
    return digests.map((d) => s.holders(fn, d));
  }

  /**
   * `host` stored `digests`: fetched from `arrivals` (one per digest), or, without them, found in its
   * cache. Progress is kept for members only (a late report from a host that left is not).
   */
  stored(
    host: HostId,
    fn: FunctionKey,
    repository: string,
    digests: readonly Digest[],
    arrivals?: readonly BlockArrival[],
  ): void {
    const s = this.strategyOf(fn);
    for (const digest of digests) s.blockStored({ fn, repository, digest, host });
    if (this.members.get(fn)?.has(host)) this.progress?.stored(host, fn, digests, arrivals);
  }

  /** `host` failed to fetch `digest` from `origin`. */
  failed(host: HostId, fn: FunctionKey, repository: string, digest: Digest, origin: BlockOrigin): void {
    this.strategyOf(fn).sourceFailed({ fn, repository, digest, host }, origin);
  }

  /** Calls `listener` with every published change (all hosts). Returns an unsubscribe. */
  subscribe(listener: (change: LoggedChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The sequence number of the last published change (0 before any). */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Changes for `host` after `after`, and the sequence number to poll from next. `reset` is true
   * when changes the host has not seen fell out of the log: it should re-read its sources.
   */
  changesAfter(host: HostId, after: number): { seq: number; reset: boolean; changes: LoggedChange[] } {
    const oldest = this.log[0]?.seq ?? this.seq + 1;
    const reset = after + 1 < oldest && after < this.seq;
    const changes = this.log.filter((c) => c.seq > after && c.host === host);
    return { seq: this.seq, reset, changes };
  }

  /**
   * Like {@link changesAfter}, but when there are none yet, waits for the next change for `host`
   * up to `timeoutMs` (or until `signal` fires), then answers whatever there is.
   */
  async waitForChanges(
    host: HostId,
    after: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ seq: number; reset: boolean; changes: LoggedChange[] }> {
    const now = this.changesAfter(host, after);
    if (now.changes.length > 0 || now.reset || signal?.aborted) return now;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.clock.clearTimer(timer);
        unsubscribe();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.clock.setTimer(done, timeoutMs);
      const unsubscribe = this.subscribe((c) => {
        if (c.host === host) done();
      });
      signal?.addEventListener('abort', done, { once: true });
    });
    return this.changesAfter(host, after);
  }

  private publish(changes: readonly SourceChange[]): readonly SourceChange[] {
    for (const change of changes) {
      const logged: LoggedChange = { ...change, seq: ++this.seq };
      this.log.push(logged);
      if (this.log.length > this.changeLogSize) this.log.shift();
      for (const l of [...this.listeners]) l(logged);
    }
    return changes;
  }
}
