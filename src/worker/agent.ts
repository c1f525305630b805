/**
 * The worker agent of one host: gets images onto the host (block cache + materialised image dirs),
 * keeps one warm pool per function version, and runs invocations, reporting where their time went.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { KindlingError, toKindlingError } from '../core/errors.js';
import type { InstanceState } from '../core/metrics.js';
import type { FunctionVersion } from '../control/functions.js';
import type { FetchStats } from '../control/invocations.js';
import type { BlobStore } from '../image/blob-store.js';
import { materializeImage } from '../image/materialize.js';
import type { BlockSource } from '../image/source.js';
import type { HybridDecision, HybridHistogramPolicy } from '../policy/hybrid-histogram.js';
import type { IdleHistogramSnapshot } from '../policy/idle-histogram.js';
import type { KeepAlivePolicy } from '../policy/keep-alive.js';
import type { InstanceSpec, InvokeOutcome, SandboxTier, StartPath, TierName } from '../sandbox/tier.js';
import { FunctionPool, type PreparedCode } from './pool.js';

/** Options of a worker agent. */
export interface WorkerOptions {
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

/** Stable key of a function version. */
export function versionKey(v: Pick<FunctionVersion, 'tenant' | 'name' | 'version'>): string {
  return `${v.tenant}/${v.name}@${v.version}`;
}

export class WorkerAgent {
  private readonly pools = new Map<string, FunctionPool>();
  private readonly prepared = new Map<string, Promise<PreparedCode>>();

  constructor(private readonly opts: WorkerOptions) {}

  /** Runs one invocation of `target` on this host. */
  async invoke(target: FunctionVersion, inv: WorkerInvocation): Promise<WorkerResult> {
    const clock = this.opts.clock;
    const t0 = clock.monotonic();
    const pool = this.pool(target);
    const acquiring = pool.acquire();
    const pickMs = clock.monotonic() - t0;
    const lease = await acquiring;
    try {
      const outcome = await lease.instance.invoke({
        requestId: inv.requestId,
        event: inv.event,
        timeoutMs: target.config.timeoutMs,
      });
      const s = lease.start;
      return {
        outcome,
        cold: lease.cold,
        waitedMs: lease.waitedMs,
        pickMs,
        fetchMs: s?.fetchMs ?? 0,
        sandboxMs: s?.sandboxMs ?? 0,
        runtimeMs: s?.runtimeMs ?? 0,
        initMs: s?.initMs ?? 0,
        instanceId: lease.instance.id,
        tier: lease.instance.tier,
        ...(s ? { startPath: s.startPath, fetch: s.fetch } : {}),
      };
    } finally {
      lease.release();
    }
  }

  /** Keeps `target.config.minWarm` instances of `target` ready, and lets other versions of the function go cold. */
  keepWarm(target: FunctionVersion): void {
    const prefix = `${target.tenant}/${target.name}@`;
    for (const [key, pool] of this.pools)
      if (key.startsWith(prefix) && key !== versionKey(target)) pool.keepWarm(0);
    if (target.config.minWarm > 0) this.pool(target).keepWarm(target.config.minWarm);
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
      const code = await this.prepare(target);
      await tier.prepare(this.specFor(target, `prepare-${versionKey(target)}`, code));
    } catch (err) {
      this.opts.onBackgroundError(toKindlingError(err), versionKey(target));
    }
  }

  /** Stops every instance of a function (all versions), e.g. when it is deleted. */
  async drop(tenant: string, name: string): Promise<void> {
    const prefix = `${tenant}/${name}@`;
    const closing: Promise<void>[] = [];
    for (const [key, pool] of this.pools) {
      if (!key.startsWith(prefix)) continue;
      this.pools.delete(key);
      closing.push(pool.close());
    }
    await Promise.all(closing);
  }

  /** Instance counts by tier and state, for metrics. */
  instanceCounts(): { tier: string; state: InstanceState; count: number }[] {
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
  instancesOf(
    tenant: string,
    name: string,
  ): { version: number; instances: ReturnType<FunctionPool['describe']> }[] {
    const prefix = `${tenant}/${name}@`;
    return [...this.pools]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, pool]) => ({ version: Number(key.slice(prefix.length)), instances: pool.describe() }));
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
      pool = new FunctionPool({
        key,
        config: target.config,
        tier: this.tierFor(target.config.tier),
        clock: this.opts.clock,
        policy: this.policyFor(target),
        policyKey: `${target.tenant}/${target.name}`,
        prepare: () => this.prepare(target),
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
    };
  }

  /**
   * Gets a version's image onto this host. The first call fetches and materialises it; later calls
   * find it in place and report every byte as coming from the cache.
   */
  private prepare(target: FunctionVersion): Promise<PreparedCode> {
    const key = target.imageDigest;
    const inFlight = this.prepared.get(key);
    if (inFlight) {
      return inFlight.then((code) => ({
        ...code,
        fetch: {
          bytesFromSource: 0,
          bytesFromCache: code.fetch.bytesFromSource + code.fetch.bytesFromCache,
          source: 'cache',
        },
      }));
    }
    const work = (async () => {
      try {
        const m = await materializeImage({
          source: this.opts.source,
          name: target.imageRepo,
          ref: target.imageDigest,
          cache: this.opts.cache,
          imagesDir: this.opts.imagesDir,
        });
        return {
          codeDir: m.dir,
          entry: target.entry,
          fetch: {
            bytesFromSource: m.bytesFromSource,
            bytesFromCache: m.bytesFromCache,
            source: m.bytesFromSource > 0 ? this.opts.source.kind : 'cache',
          },
        };
      } catch (err) {
        this.prepared.delete(key);
        throw toKindlingError(err);
      }
    })();
    this.prepared.set(key, work);
    return work;
  }
}
