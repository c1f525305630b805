/**
 * Greedy-Dual keep-alive of FaasCache (Fuerst and Sharma, "FaasCache: Keeping Serverless Computing
 * Alive with Greedy-Dual Caching", ASPLOS'21): warm instances are cache entries, a cold start is a
 * miss, and nothing expires on a timer. Each instance has a priority
 *
 *     priority = clock + frequency × coldStartCost / memory
 *
 * refreshed whenever it is used; when memory is needed, idle instances are evicted lowest priority
 * first, and `clock` jumps to the priority of the last one evicted. That "inflation" ages entries
 * that are not used any more: a later-used instance starts above everything evicted so far, so an
 * instance that was once hot is eventually overtaken. Frequency, cost and size make it keep the
 * functions that are invoked often, slow to start, and small — the ones whose cold starts cost most
 * per MiB held.
 *
 * `frequency` is the function's invocation count while it has at least one warm instance; it resets
 * when its last instance is evicted, as in FaasCache, so a burst long ago does not pin a function.
 *
 * The cache is pure and clock-free (Greedy-Dual's clock is the inflation value, not time): the pool
 * or the simulator reports instance life-cycle events and asks {@link GreedyDualCache.victims}
 * which idle instances to evict to fit a new one.
 */
import { KindlingError } from '../core/errors.js';

/** An instance, as the cache needs to know it. */
export interface WarmInstance {
  /** Unique instance id. */
  id: string;
  /** Function key (tenant/name@version). */
  fnKey: string;
  /** Memory the instance holds, MiB (> 0). */
  memoryMb: number;
  /** What a cold start of this function costs, ms (measured, or an estimate). */
  coldStartMs: number;
}

/** An entry as seen from outside, for inspection and tests. */
export interface WarmCacheEntry extends WarmInstance {
  priority: number;
  busy: boolean;
}

/**
 * A memory-bounded set of warm instances that decides evictions. Implementations are pure: no
 * timers, no I/O.
 */
export interface WarmCache {
  /** Memory budget, MiB. */
  readonly capacityMb: number;
  /** Memory held by all instances, busy or idle, MiB. */
  readonly usedMb: number;
  /**
   * Idle instances to evict, in order, so that `neededMb` more fits within the budget; `[]` if it
   * already fits; undefined if it cannot fit even with every idle instance gone. Does not change
   * the cache: call {@link evict} for each one actually removed.
   */
  victims(neededMb: number): string[] | undefined;
  /** A new instance was started for an invocation (a cold start); it is busy. */
  add(instance: WarmInstance): void;
  /** An idle instance was reused for an invocation (a warm start); it is busy. */
  hit(id: string): void;
  /** A busy instance finished its invocation and is idle again. */
  release(id: string): void;
  /** An instance chosen by {@link victims} was evicted to make room. */
  evict(id: string): void;
  /**
   * An instance went away for another reason (crash, function deleted). Unlike {@link evict} this
   * does not inflate the clock: the instance was not the cheapest to lose.
   */
  remove(id: string): void;
  /** All entries, lowest priority first. */
  entries(): WarmCacheEntry[];
}

interface Entry extends WarmCacheEntry {
  /** Insertion/use order, to break priority ties least-recently-used first. */
  seq: number;
}

/** The Greedy-Dual {@link WarmCache} of FaasCache. */
export class GreedyDualCache implements WarmCache {
  private clockValue = 0;
  private used = 0;
  private seq = 0;
  private readonly byId = new Map<string, Entry>();
  private readonly frequency = new Map<string, number>();
  private readonly instancesOf = new Map<string, number>();

  /** @param capacityMb memory budget for warm instances, MiB */
  constructor(readonly capacityMb: number) {
    if (!(capacityMb > 0))
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `greedy-dual capacityMb must be > 0, got ${capacityMb}`,
      );
  }

  /** The inflation value: priority of the last evicted instance. */
  get clock(): number {
    return this.clockValue;
  }

  get usedMb(): number {
    return this.used;
  }

  /** Current frequency of a function (0 once its last instance is evicted). */
  frequencyOf(fnKey: string): number {
    return this.frequency.get(fnKey) ?? 0;
  }

  victims(neededMb: number): string[] | undefined {
    let free = this.capacityMb - this.used;
    if (neededMb <= free) return [];
    const out: string[] = [];
    for (const e of this.sorted()) {
      if (e.busy) continue;
      out.push(e.id);
      free += e.memoryMb;
      if (neededMb <= free) return out;
    }
    return undefined;
  }

  add(instance: WarmInstance): void {
    if (this.byId.has(instance.id))
      throw new KindlingError('KINDLING_BAD_REQUEST', `instance ${instance.id} is already in the warm cache`);
    if (!(instance.memoryMb > 0) || !(instance.coldStartMs >= 0))
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        `instance ${instance.id} needs memoryMb > 0 and coldStartMs ≥ 0, got ${instance.memoryMb} and ${instance.coldStartMs}`,
      );
    const entry: Entry = { ...instance, priority: 0, busy: true, seq: 0 };
    this.byId.set(instance.id, entry);
    this.used += instance.memoryMb;
    this.instancesOf.set(instance.fnKey, (this.instancesOf.get(instance.fnKey) ?? 0) + 1);
    this.use(entry);
  }

  hit(id: string): void {
    const e = this.get(id);
    if (e.busy)
      throw new KindlingError('KINDLING_BAD_REQUEST', `instance ${id} is busy; only idle ones can be reused`);
    e.busy = true;
    this.use(e);
  }

  release(id: string): void {
    this.get(id).busy = false;
  }

  evict(id: string): void {
    const e = this.get(id);
    // Greedy-Dual inflation: the clock becomes the evicted priority (never moving backwards).
    this.clockValue = Math.max(this.clockValue, e.priority);
    this.remove(id);
  }

  remove(id: string): void {
    const e = this.get(id);
    this.byId.delete(id);
    this.used -= e.memoryMb;
    const left = (this.instancesOf.get(e.fnKey) ?? 1) - 1;
    if (left > 0) this.instancesOf.set(e.fnKey, left);
    else {
      this.instancesOf.delete(e.fnKey);
      this.frequency.delete(e.fnKey);
    }
  }

  entries(): WarmCacheEntry[] {
    return this.sorted().map(({ seq: _seq, ...e }) => e);
  }

  private use(e: Entry): void {
    const freq = (this.frequency.get(e.fnKey) ?? 0) + 1;
    this.frequency.set(e.fnKey, freq);
    e.priority = this.clockValue + (freq * e.coldStartMs) / e.memoryMb;
    e.seq = ++this.seq;
  }

  private sorted(): Entry[] {
    return [...this.byId.values()].sort((a, b) => a.priority - b.priority || a.seq - b.seq);
  }

  private get(id: string): Entry {
    const e = this.byId.get(id);
    if (!e) throw new KindlingError('KINDLING_BAD_REQUEST', `instance ${id} is not in the warm cache`);
    return e;
  }
}
