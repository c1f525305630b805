/**
 * The host memory manager of the live worker: a {@link WarmCache} (Greedy-Dual) over the instances
 * of every pool whose policy is a warm cache. Before a start it evicts the cache's victims, idle
 * instances of any such pool, lowest priority first; the same `GreedyDualCache` the simulator runs.
 */
import { KindlingError } from '../core/errors.js';
import type { WarmCache } from '../policy/greedy-dual.js';
import type { FunctionPool, HostMemory } from './pool.js';

/** Per-pool facts the cache needs. */
export interface CacheMemberInfo {
  /** Function key (Greedy-Dual frequency is per function). */
  fnKey: string;
  memoryMb: number;
}

/** {@link HostMemory} backed by a warm cache; one per host, shared by pools. */
export class CacheMemory {
  private readonly owner = new Map<string, FunctionPool>();
  private readonly idleIds = new Set<string>();
  /** Starts that over-committed the budget because every instance was busy. */
  overcommits = 0;

  constructor(
    private readonly cache: WarmCache,
    private readonly onError: (err: KindlingError) => void = () => undefined,
  ) {}

  /** Memory budget, MiB. */
  get capacityMb(): number {
    return this.cache.capacityMb;
  }

  /** Memory held by the cached instances, MiB. */
  get usedMb(): number {
    return this.cache.usedMb;
  }

  /** The {@link HostMemory} view for one pool. */
  forPool(info: CacheMemberInfo): HostMemory {
    return {
      makeRoom: (mb) => this.makeRoom(mb),
      started: (pool, id, coldStartMs) => {
        this.owner.set(id, pool);
        this.cache.add({
          id,
          fnKey: info.fnKey,
          memoryMb: info.memoryMb,
          coldStartMs: Math.max(0, coldStartMs),
        });
      },
      hit: (id) => {
        // Only an idle instance is a cache hit; more work on a busy one changes nothing.
        if (!this.idleIds.delete(id)) return;
        this.cache.hit(id);
      },
      idle: (id) => {
        if (!this.owner.has(id) || this.idleIds.has(id)) return;
        this.idleIds.add(id);
        this.cache.release(id);
      },
      gone: (id) => {
        if (!this.owner.delete(id)) return;
        this.idleIds.delete(id);
        // Evicted ones were removed by makeRoom already; anything else (crash, stop) goes here.
        if (this.cache.entries().some((e) => e.id === id)) this.cache.remove(id);
      },
    };
  }

  private async makeRoom(mb: number): Promise<void> {
    let victims = this.cache.victims(mb);
    if (!victims) {
      this.overcommits++;
      victims = this.cache
        .entries()
        .filter((e) => !e.busy)
        .map((e) => e.id);
    }
    const stops: Promise<boolean>[] = [];
    for (const id of victims) {
      const pool = this.owner.get(id);
      this.cache.evict(id);
      this.owner.delete(id);
      this.idleIds.delete(id);
      if (!pool) {
        this.onError(new KindlingError('KINDLING_INTERNAL', `warm cache evicted ${id}, which no pool owns`));
        continue;
      }
      stops.push(pool.evictIdle(id));
    }
    await Promise.all(stops);
  }
}
