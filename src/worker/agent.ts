/**
 * The worker agent of one host: keeps one warm pool per function version, runs invocations and
 * reports where their time went; the host's images (block cache + materialised image dirs) are
 * `host-images.ts`'s, and its garbage collection `host-gc.ts`'s.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { KindlingError, toKindlingError } from '../core/errors.js';
import type { InstanceState } from '../core/metrics.js';
import { versionKey, type FunctionVersion } from '../control/functions.js';
import type { FetchStats } from '../control/invocations.js';
import type { BlobStore } from '../image/blob-store.js';
import type { BlockSource } from '../image/source.js';
import { GreedyDualCache } from '../policy/greedy-dual.js';
import type { HybridDecision, HybridHistogramPolicy } from '../policy/hybrid-histogram.js';
import type { IdleHistogramSnapshot } from '../policy/idle-histogram.js';
import type { KeepAlivePolicy } from '../policy/keep-alive.js';
import type { InstanceSpec, InvokeOutcome, SandboxTier, StartPath, TierName } from '../sandbox/tier.js';
import type { InstanceCount, VersionInstances, WorkerHandle } from './handle.js';
import { CacheMemory } from './cache-memory.js';
import { collectHostGarbage, type HostGcInput, type HostGcReport } from './host-gc.js';
import { FunctionPool, type Lease, type PreparedCode } from './pool.js';
import { HostImages, type ImageFetch } from './host-images.js';

/** Options of a worker agent. */
export interface WorkerOptions {
  /** The host's id in a cluster; `local` by default. */
  hostId?: string;
  /**
   * Fetch a new version's image as soon as it is deployed (default true). Cluster workers turn this
   * off: images spread to the hosts that get cold starts, through the distribution strategy.
   */
  prepareAhead?: boolean;
  /**
   * Gets an image's blocks into `cache` before it is materialised (cluster hosts: through the
   * distribution strategy). Absent: blocks are read from `source` as materialisation needs them.
   */
  fetchImage?: (target: FunctionVersion) => Promise<ImageFetch>;
  /**
   * Record startup working sets: after the first cold start of an image fetched whole, the blocks
   * its files read are reported here (see `image/working-set.ts`).
   */
  onWorkingSet?: (target: FunctionVersion, blocks: string[]) => void;
  /** The sandbox tiers this host offers; a function names the one it runs in. */
  tiers: Partial<Record<TierName, SandboxTier>>;
  /** Where images come from (the registry, directly or over HTTP). */
  source: BlockSource;
  /** This host's block cache. */
  cache: BlobStore;
  /** Where materialised images live on this host. */
  imagesDir: string;
  clock: Clock;
  /** Keep-alive policies by name; a function names one (`keepAlivePolicy`), else `defaultPolicy`. */
  policies: Record<string, KeepAlivePolicy>;
  defaultPolicy: string;
  /**
   * Memory budget for the instances of functions whose policy is `greedy-dual`, MiB: a start that
   * would exceed it evicts idle ones, lowest Greedy-Dual priority first. Without it `greedy-dual`
   * is not offered.
   */
  memoryMb?: number;
  /** Console bytes kept per invocation. */
  logLimitBytes: number;
  onBackgroundError(err: KindlingError, key: string): void;
}

/** One invocation handed to the worker. */
export interface WorkerInvocation {
  requestId: string;
  event: unknown;
}

/** What the worker did for one invocation. */
export interface WorkerResult {
  outcome: InvokeOutcome;
  cold: boolean;
  /** Time waiting for a free instance. */
  waitedMs: number;
  /** Pool bookkeeping: picking an instance (or deciding to start one). */
  pickMs: number;
  fetchMs: number;
  sandboxMs: number;
  runtimeMs: number;
  initMs: number;
  instanceId: string;
  tier: string;
  startPath?: StartPath;
  fetch?: FetchStats;
}

/** Instance counts of one warm pool. */
export interface PoolCounts {
  tenant: string;
  name: string;
  version: number;
  tier: string;
  counts: Record<InstanceState, number>;
}

/** A function's keep-alive policy and its current decision; `decision`/`histogram` for hybrid-histogram. */
export interface KeepAliveState {
  policy: string;
  keepAliveMs: number;
  prewarmMs: number;
  decision?: HybridDecision;
  histogram?: IdleHistogramSnapshot | undefined;
}

export class WorkerAgent implements WorkerHandle {
  readonly hostId: string;
  private readonly pools = new Map<string, FunctionPool>();
  /** The image each version's pool runs (by version key): kept by garbage collection. */
  private readonly poolImages = new Map<string, string>();
  private readonly images: HostImages;
  private running = 0;
  private readonly cacheMemory: CacheMemory | undefined;

  constructor(private readonly opts: WorkerOptions) {
    this.hostId = opts.hostId ?? 'local';
    this.images = new HostImages({
      fetchImage: opts.fetchImage,
      onWorkingSet: opts.onWorkingSet,
      source: opts.source,
      cache: opts.cache,
      imagesDir: opts.imagesDir,
      onBackgroundError: opts.onBackgroundError,
    });
    if (opts.memoryMb !== undefined)
      this.cacheMemory = new CacheMemory(new GreedyDualCache(opts.memoryMb), (err) =>
        opts.onBackgroundError(err, 'greedy-dual'),
      );
  }

  get inFlight(): number {
    return this.running;
  }

  /** The Greedy-Dual memory manager's state, when this host has a budget. */
  warmCacheUsage(): { capacityMb: number; usedMb: number; overcommits: number } | undefined {
    const m = this.cacheMemory;
    return m && { capacityMb: m.capacityMb, usedMb: m.usedMb, overcommits: m.overcommits };
  }

  /** Runs one invocation of `target` on this host. */
  async invoke(target: FunctionVersion, inv: WorkerInvocation): Promise<WorkerResult> {
    const clock = this.opts.clock;
    const t0 = clock.monotonic();
    this.running++;
    let lease: Lease;
    let pickMs: number;
    try {
      const pool = this.pool(target);
      // A warm slot is taken without a promise; only a wait or a start is awaited.
      const warm = pool.tryAcquireWarm();
      if (warm) {
        pickMs = clock.monotonic() - t0;
        lease = warm;
      } else {
        const acquiring = pool.acquire();
        pickMs = clock.monotonic() - t0;
        lease = await acquiring;
      }
    } catch (err) {
      this.running--;
      throw err;
    }
    try {
      const outcome = await lease.instance.invoke({
        requestId: inv.requestId,
        event: inv.event,
        timeoutMs: target.config.timeoutMs,
      });
      const result: WorkerResult = {
        outcome,
        cold: lease.cold,
        waitedMs: lease.waitedMs,
        pickMs,
        fetchMs: 0,
        sandboxMs: 0,
        runtimeMs: 0,
        initMs: 0,
        instanceId: lease.instance.id,
        tier: lease.instance.tier,
      };
      const s = lease.start;
      if (s) {
        result.fetchMs = s.fetchMs;
        result.sandboxMs = s.sandboxMs;
        result.runtimeMs = s.runtimeMs;
        result.initMs = s.initMs;
        result.startPath = s.startPath;
        result.fetch = s.fetch;
      }
      return result;
    } finally {
      this.running--;
      lease.release();
      if (lease.cold) this.images.recordWorkingSet(target);
    }
  }

  holdsImage(digest: string): boolean {
    return this.images.holds(digest);
  }

  runs(key: string): boolean {
    return this.pools.has(key);
  }

  /** Keys of the versions with a pool on this host (reported to the control plane). */
  versions(): string[] {
    return [...this.pools.keys()];
  }

  /** Digests of the images materialised on this host (reported to the control plane). */
  heldImages(): string[] {
    return this.images.held();
  }

  /** Keeps `target.config.minWarm` instances of `target` ready, and lets other versions of the function go cold. */
  keepWarm(target: FunctionVersion): void {
    const prefix = `${target.tenant}/${target.name}@`;
    for (const [key, pool] of this.pools)
      if (key.startsWith(prefix) && key !== versionKey(target)) {
        pool.keepWarm(0);
        pool.cancelPrewarms();
      }
    if (target.config.minWarm > 0) this.pool(target).keepWarm(target.config.minWarm);
    else if (this.opts.prepareAhead === false) return;
    void this.prepareAhead(target);
  }

  /**
   * Gets a new version's image onto this host and lets its tier prepare what it can, before the
   * first request (a failure here is only reported: the first start will try again and say why).
   */
  private async prepareAhead(target: FunctionVersion): Promise<void> {
    const tier = this.opts.tiers[target.config.tier];
    if (!tier?.prepare) return;
    try {
      const code = await this.images.prepare(target);
      await tier.prepare(this.specFor(target, `prepare-${versionKey(target)}`, code));
    } catch (err) {
      this.opts.onBackgroundError(toKindlingError(err), versionKey(target));
    }
  }

  prewarm(target: FunctionVersion, holdMs: number): void {
    this.pool(target).prewarmFor(holdMs);
  }

  /** Stops every instance of a function (all versions), e.g. when it is deleted. */
  async drop(tenant: string, name: string): Promise<void> {
    const prefix = `${tenant}/${name}@`;
    const closing: Promise<void>[] = [];
    for (const [key, pool] of this.pools) {
      if (!key.startsWith(prefix)) continue;
      this.pools.delete(key);
      this.poolImages.delete(key);
      closing.push(pool.close());
    }
    await Promise.all(closing);
  }

  /**
   * Removes this host's copies of images that nothing live uses (`host-gc.ts`): after the
   * registry's collection, with what it found live. Images this host's pools run or that it is
   * fetching now stay.
   */
  collectGarbage(input: HostGcInput): Promise<HostGcReport> {
    return collectHostGarbage({
      ...input,
      host: this.hostId,
      imagesDir: this.opts.imagesDir,
      cache: this.opts.cache,
      inUse: new Set([...this.poolImages.values(), ...this.images.inPreparation()]),
      forget: (digest) => this.images.forget(digest),
      forgetDerived: async (dirs, dryRun) => {
        const total = { removed: 0, bytes: 0 };
        for (const tier of Object.values(this.opts.tiers)) {
          const found = await tier?.forgetCode?.(dirs, dryRun);
          total.removed += found?.removed ?? 0;
          total.bytes += found?.bytes ?? 0;
        }
        return total;
      },
    });
  }

  /** Instance counts by tier and state, for metrics. */
  instanceCounts(): InstanceCount[] {
    const byTier = new Map<string, Record<InstanceState, number>>();
    for (const name of Object.keys(this.opts.tiers))
      byTier.set(name, { starting: 0, idle: 0, busy: 0, evicting: 0 });
    for (const pool of this.pools.values()) {
      const totals = byTier.get(pool.tierName);
      if (!totals) continue;
      const c = pool.counts();
      for (const s of Object.keys(totals) as InstanceState[]) totals[s] += c[s];
    }
    return [...byTier].flatMap(([tier, totals]) =>
      (Object.keys(totals) as InstanceState[]).map((state) => ({ tier, state, count: totals[state] })),
    );
  }

  /** The keep-alive policy of a function: its own choice, else the platform's default. */
  private policyFor(target: FunctionVersion): KeepAlivePolicy {
    const name = target.config.keepAlivePolicy ?? this.opts.defaultPolicy;
    const policy = this.opts.policies[name];
    if (!policy)
      throw new KindlingError('KINDLING_UNAVAILABLE', `this host has no keep-alive policy "${name}"`);
    return policy;
  }

  /** The tier a function asked for; KINDLING_UNAVAILABLE when this host does not offer it. */
  private tierFor(name: TierName): SandboxTier {
    const tier = this.opts.tiers[name];
    if (!tier) {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        `this host does not offer the ${name} tier; deploy with tier "process"`,
      );
    }
    return tier;
  }

  /** The instances of one function, by version. */
  async instancesOf(tenant: string, name: string): Promise<VersionInstances[]> {
    const prefix = `${tenant}/${name}@`;
    return [...this.pools]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, pool]) => ({
        host: this.hostId,
        version: Number(key.slice(prefix.length)),
        instances: pool.describe(),
      }));
  }

  /** Instance counts of every warm pool on this host, by function version (read-only; for the dashboard). */
  poolCounts(): PoolCounts[] {
    const out: PoolCounts[] = [];
    for (const [key, pool] of this.pools) {
      const m = /^(.+)\/(.+)@(\d+)$/.exec(key);
      if (m)
        out.push({
          tenant: m[1]!,
          name: m[2]!,
          version: Number(m[3]),
          tier: pool.tierName,
          counts: pool.counts(),
        });
    }
    return out;
  }

  /** The keep-alive policy in force for `target` and what it would decide now (read-only; for the dashboard). */
  keepAliveOf(target: FunctionVersion): KeepAliveState {
    const policy = this.policyFor(target);
    const fn = {
      key: `${target.tenant}/${target.name}`,
      configuredKeepAliveMs: target.config.keepAliveMs,
      memoryMb: target.config.memoryMb,
    };
    const now = this.opts.clock.now();
    const state: KeepAliveState = {
      policy: policy.name,
      keepAliveMs: policy.keepAliveMs(fn, now),
      prewarmMs: policy.prewarmMs?.(fn, now) ?? 0,
    };
    if ('decide' in policy && 'histogram' in policy) {
      const hybrid = policy as HybridHistogramPolicy;
      state.decision = hybrid.decide(fn, now);
      state.histogram = hybrid.histogram(fn.key);
    }
    return state;
  }

  /** Stops everything. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(Object.values(this.opts.tiers).map((tier) => tier.close()));
  }

  private pool(target: FunctionVersion): FunctionPool {
    const key = versionKey(target);
    let pool = this.pools.get(key);
    if (!pool) {
      const policy = this.policyFor(target);
      let memory;
      if (policy.name === 'greedy-dual') {
        if (!this.cacheMemory)
          throw new KindlingError(
            'KINDLING_UNAVAILABLE',
            `function ${key} uses the greedy-dual keep-alive policy, which needs a host memory budget; start the platform with --memory-mb`,
          );
        memory = this.cacheMemory.forPool({
          fnKey: `${target.tenant}/${target.name}`,
          memoryMb: target.config.memoryMb,
        });
      }
      this.poolImages.set(key, target.imageDigest);
      pool = new FunctionPool({
        key,
        config: target.config,
        tier: this.tierFor(target.config.tier),
        clock: this.opts.clock,
        policy,
        ...(memory ? { memory } : {}),
        policyKey: `${target.tenant}/${target.name}`,
        prepare: () => this.images.prepare(target),
        newInstanceId: () => `i-${randomUUID().slice(0, 8)}`,
        spec: (instanceId, code) => this.specFor(target, instanceId, code),
        onBackgroundError: (err) => this.opts.onBackgroundError(err, key),
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** The spec of an instance of `target`. */
  private specFor(target: FunctionVersion, instanceId: string, code: PreparedCode): InstanceSpec {
    return {
      instanceId,
      functionName: target.name,
      functionVersion: target.version,
      codeDir: code.codeDir,
      entry: code.entry,
      env: target.config.env,
      memoryMb: target.config.memoryMb,
      concurrency: target.config.concurrency,
      logLimitBytes: this.opts.logLimitBytes,
      network: target.config.network,
      ...(code.pending ? { pending: code.pending } : {}),
    };
  }
}
