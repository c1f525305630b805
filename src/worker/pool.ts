/**
 * The warm pool of one function version on one host: reuses warm instances, respects per-instance
 * concurrency, starts new instances under load up to `maxInstances`, queues beyond that up to
 * `maxQueue` and then refuses with 429; evicts idle instances when the keep-alive policy says so and
 * keeps `minWarm` instances ready. Time comes from the injected Clock.
 *
 * Idle instances follow the policy's load schedule ({@link idleSchedule}), the same one the
 * simulator acts on: kept through a window that starts at once, unloaded at its end, and started
 * again in the background (a pre-warm) when a later window begins. `minWarm` wins over the
 * schedule: an instance is only unloaded while more than `minWarm` are live. An arrival that finds
 * no loaded instance is a cold start and ends the oldest pending pre-warm (it was for this arrival).
 *
 * With a host memory manager ({@link PoolDeps.memory}, Greedy-Dual) the pool reports every
 * instance's life to it and asks it for room before each start; nothing expires on a timer.
 */
import type { InstanceDescription } from './handle.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { KindlingError, toKindlingError } from '../core/errors.js';
import type { InstanceState } from '../core/metrics.js';
import type { FunctionConfig } from '../control/function-config.js';
import type { FetchStats } from '../control/invocations.js';
import {
  idleSchedule,
  type IdleInterval,
  type KeepAlivePolicy,
  type PolicyFunction,
} from '../policy/keep-alive.js';
import type { InstanceSpec, PendingFiles, SandboxInstance, SandboxTier, StartPath } from '../sandbox/tier.js';

/** The image of a version, on this host and ready to run. */
export interface PreparedCode {
  codeDir: string;
  entry: string;
  fetch: FetchStats;
  /**
   * Called once a sandbox start with this code has ended, started or failed (lazy loading holds
   * the rest of the image back until then, so the start has the host to itself).
   */
  startEnded?: () => void;
  /** The image is still arriving (lazy loading): its files not written yet, readable on demand. */
  pending?: PendingFiles;
}

/** Where the time of a cold start went (the pool's share of the phases). */
export interface StartReport {
  fetchMs: number;
  sandboxMs: number;
  runtimeMs: number;
  initMs: number;
  startPath: StartPath;
  fetch: FetchStats;
}

/** A slot on an instance, held for one invocation. Call `release` exactly once. */
export interface Lease {
  instance: SandboxInstance;
  cold: boolean;
  /** Time spent waiting in the queue for a free instance. */
  waitedMs: number;
  /** Present for cold starts. */
  start?: StartReport;
  release(): void;
}

/** What the pool needs from the worker around it. */
export interface PoolDeps {
  key: string;
  config: FunctionConfig;
  tier: SandboxTier;
  clock: Clock;
  policy: KeepAlivePolicy;
  /** What the policy learns under: the function (all its versions), not one version. */
  policyKey?: string;
  /** Gets the code onto this host (memoised by the caller: the first call fetches, later calls are cache hits). */
  prepare(): Promise<PreparedCode>;
  /** Builds the spec of a new instance. */
  spec(instanceId: string, code: PreparedCode): InstanceSpec;
  /** New instance ids. */
  newInstanceId(): string;
  /** Reports failures that have no caller to go to (background starts). */
  onBackgroundError(err: KindlingError): void;
  /** The host's memory manager, for functions whose policy is a warm cache (Greedy-Dual). */
  memory?: HostMemory;
}

/**
 * A host-wide, memory-bounded set of warm instances across pools (the worker agent implements it
 * over a `WarmCache`). Pools report instance life-cycle events and ask for room before a start.
 */
export interface HostMemory {
  /** Evicts idle instances (of any pool) until `memoryMb` more fits; over-commits if it cannot. */
  makeRoom(memoryMb: number): Promise<void>;
  /** A new instance started for an invocation; `coldStartMs` is what its start cost. */
  started(pool: FunctionPool, instanceId: string, coldStartMs: number): void;
  /** An idle instance took work. */
  hit(instanceId: string): void;
  /** An instance has no work left. */
  idle(instanceId: string): void;
  /** An instance is gone (evicted, crashed, stopped). */
  gone(instanceId: string): void;
}

interface PooledInstance {
  sandbox: SandboxInstance;
  inflight: number;
  lastUsed: number;
  evicting: boolean;
  /** The idle schedule this instance is loaded for, while idle. */
  cycle: Cycle | undefined;
}

/** One idle period's load schedule being carried out. */
interface Cycle {
  intervals: IdleInterval[];
  /** Interval in progress or next. */
  i: number;
  /** When the idle period began (clock.now()). */
  t0: number;
  timer: TimerHandle | undefined;
}

interface Waiter {
  enqueuedAt: number;
  resolve(lease: Lease): void;
  reject(err: KindlingError): void;
}

/** Delay before retrying a failed background (minWarm) start. */
const WARM_RETRY_MS = 5000;

export class FunctionPool {
  private readonly instances = new Set<PooledInstance>();
  private readonly waiters: Waiter[] = [];
  private starting = 0;
  private warmTarget = 0;
  private warmRetry: TimerHandle | undefined;
  /** Schedules waiting to pre-warm an instance, oldest first. */
  private readonly pending: Cycle[] = [];
  private closed = false;
  private readonly policyFn: PolicyFunction;

  /** The tier this pool's instances run in. */
  get tierName(): string {
    return this.deps.tier.name;
  }

  constructor(private readonly deps: PoolDeps) {
    this.policyFn = {
      key: deps.policyKey ?? deps.key,
      configuredKeepAliveMs: deps.config.keepAliveMs,
      memoryMb: deps.config.memoryMb,
    };
  }

  /**
   * A slot on a warm instance with room, at once; undefined when there is none (then `acquire` waits
   * for one or starts one). The warm path of {@link acquire} without a promise: it runs per invocation.
   */
  tryAcquireWarm(): Lease | undefined {
    if (this.closed) return undefined;
    const warm = this.pickWarm();
    if (!warm) return undefined;
    this.deps.policy.onInvocation(this.policyFn, this.deps.clock.now());
    return this.lease(warm, 0);
  }

  /** A slot for one invocation: warm when an instance has room, cold when a new one must start. */
  async acquire(): Promise<Lease> {
    if (this.closed)
      throw new KindlingError('KINDLING_UNAVAILABLE', `function ${this.deps.key} is being removed`);
    const now = this.deps.clock.now();
    this.deps.policy.onInvocation(this.policyFn, now);
    const warm = this.pickWarm();
    if (warm) return this.lease(warm, 0);
    // The arrival the oldest pending pre-warm was waiting for has come, cold: that schedule is over.
    const stale = this.pending.shift();
    if (stale?.timer) this.deps.clock.clearTimer(stale.timer);
    if (this.live() + this.starting < this.deps.config.maxInstances) return this.coldStart(0);
    if (this.waiters.length >= this.deps.config.maxQueue) {
      throw new KindlingError(
        'KINDLING_TOO_MANY_REQUESTS',
        `function ${this.deps.key} is at its limit: ${this.deps.config.maxInstances} instances busy and ${this.waiters.length} requests queued (maxQueue ${this.deps.config.maxQueue}); retry later or raise maxInstances`,
        { maxInstances: this.deps.config.maxInstances, maxQueue: this.deps.config.maxQueue },
      );
    }
    return new Promise<Lease>((resolve, reject) => {
      this.waiters.push({ enqueuedAt: this.deps.clock.monotonic(), resolve, reject });
    });
  }

  /**
   * Starts one instance ahead of an arrival known in advance (a scheduled trigger's tick), unless an
   * instance is loaded or starting already (an idle one whose window would end sooner is held for
   * the arrival instead). It is kept idle for `holdMs` (past the arrival), apart
   * from the policy: the time it waits is not an idle time the function showed, so the policy does
   * not learn from it. Once it has served, the policy decides as for any instance.
   */
  prewarmFor(holdMs: number): void {
    if (this.closed) return;
    const now = this.deps.clock.now();
    let loaded = false;
    for (const inst of this.instances) {
      if (inst.evicting) continue;
      loaded = true;
      // An idle instance whose window would end before the arrival is held for it instead.
      const c = inst.cycle;
      if (inst.inflight > 0 || !c || c.t0 + (c.intervals[c.i]?.[1] ?? 0) >= now + holdMs) continue;
      this.endCycle(inst);
      this.holdFor(inst, holdMs);
    }
    if (loaded || this.starting > 0 || this.live() >= this.deps.config.maxInstances) return;
    this.startBackground().then(
      (inst) => {
        if (!inst || inst.inflight > 0 || inst.evicting) return;
        const waiter = this.waiters.shift();
        if (waiter) {
          waiter.resolve(this.lease(inst, this.deps.clock.monotonic() - waiter.enqueuedAt));
          return;
        }
        if (this.deps.memory) return; // a warm cache evicts by memory pressure, not time
        this.holdFor(inst, holdMs);
      },
      // Already reported by startBackground; a missed pre-warm only means a cold start later.
      () => undefined,
    );
  }

  /** Keeps an idle instance loaded for `holdMs` from now, then unloads it (the policy not asked). */
  private holdFor(inst: PooledInstance, holdMs: number): void {
    const now = this.deps.clock.now();
    this.keepFor(inst, { intervals: [[0, holdMs]], i: 0, t0: now, timer: undefined }, holdMs);
  }

  /** Keeps at least `count` instances running (started in the background). */
  keepWarm(count: number): void {
    this.warmTarget = count;
    this.fillWarm();
  }

  /** Instance counts by state. */
  counts(): Record<InstanceState, number> {
    const c: Record<InstanceState, number> = { starting: this.starting, idle: 0, busy: 0, evicting: 0 };
    for (const i of this.instances) {
      if (i.evicting) c.evicting++;
      else if (i.inflight > 0) c.busy++;
      else c.idle++;
    }
    return c;
  }

  /** Details of each instance, for the API. */
  describe(): InstanceDescription[] {
    return [...this.instances].map((i) => ({
      id: i.sandbox.id,
      pid: i.sandbox.pid,
      inflight: i.inflight,
      lastUsed: i.lastUsed,
      state: i.evicting ? 'evicting' : i.inflight > 0 ? 'busy' : 'idle',
      memoryBytes: i.sandbox.memoryBytes(),
    }));
  }

  /** True when the pool holds nothing and nobody waits: it can be dropped. */
  get empty(): boolean {
    return (
      this.instances.size === 0 &&
      this.starting === 0 &&
      this.waiters.length === 0 &&
      this.warmTarget === 0 &&
      this.pending.length === 0
    );
  }

  /** Pre-warms scheduled and not yet started. */
  get pendingPrewarms(): number {
    return this.pending.length;
  }

  /** Drops the scheduled pre-warms (the version was superseded: its next arrivals go elsewhere). */
  cancelPrewarms(): void {
    for (const c of this.pending.splice(0)) if (c.timer) this.deps.clock.clearTimer(c.timer);
  }

  /**
   * Evicts one idle instance at the host memory manager's request; false when it is not idle
   * (any more) or not in this pool.
   */
  evictIdle(instanceId: string): Promise<boolean> {
    for (const i of this.instances)
      if (i.sandbox.id === instanceId) {
        if (i.inflight > 0 || i.evicting) return Promise.resolve(false);
        return this.evict(i).then(() => true);
      }
    return Promise.resolve(false);
  }

  /** Stops every instance and refuses the queued requests. */
  async close(): Promise<void> {
    this.closed = true;
    this.warmTarget = 0;
    if (this.warmRetry) this.deps.clock.clearTimer(this.warmRetry);
    this.cancelPrewarms();
    for (const w of this.waiters.splice(0)) {
      w.reject(
        new KindlingError(
          'KINDLING_UNAVAILABLE',
          `function ${this.deps.key} was removed while the request waited`,
        ),
      );
    }
    await Promise.all([...this.instances].map((i) => this.evict(i)));
  }

  private live(): number {
    let n = 0;
    for (const i of this.instances) if (!i.evicting) n++;
    return n;
  }

  /** Most recently used instance with room, packing concurrent requests onto the busiest one that has room. */
  private pickWarm(): PooledInstance | undefined {
    let best: PooledInstance | undefined;
    for (const i of this.instances) {
      if (i.evicting || !i.sandbox.alive || i.inflight >= this.deps.config.concurrency) continue;
      if (!best || i.inflight > best.inflight || (i.inflight === best.inflight && i.lastUsed > best.lastUsed))
        best = i;
    }
    return best;
  }

  private lease(inst: PooledInstance, waitedMs: number, start?: StartReport): Lease {
    if (inst.inflight === 0 && !start) this.deps.memory?.hit(inst.sandbox.id);
    inst.inflight++;
    this.endCycle(inst);
    let released = false;
    return {
      instance: inst.sandbox,
      cold: start !== undefined,
      waitedMs,
      ...(start ? { start } : {}),
      release: () => {
        if (released) return;
        released = true;
        this.release(inst);
      },
    };
  }

  private release(inst: PooledInstance): void {
    inst.inflight--;
    inst.lastUsed = this.deps.clock.now();
    this.offer(inst);
  }

  /** Hands an instance with room to the next queued request, or lets it idle towards eviction. */
  private offer(inst: PooledInstance): void {
    if (!this.instances.has(inst) || inst.evicting || !inst.sandbox.alive) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(this.lease(inst, this.deps.clock.monotonic() - waiter.enqueuedAt));
      return;
    }
    if (inst.inflight === 0) this.scheduleIdle(inst);
  }

  /** An instance became idle: tell the policy and follow its load schedule. */
  private scheduleIdle(inst: PooledInstance): void {
    const now = this.deps.clock.now();
    if (this.deps.memory) {
      // A warm cache decides evictions by memory pressure, not time.
      this.deps.memory.idle(inst.sandbox.id);
      return;
    }
    this.deps.policy.onIdle?.(this.policyFn, now);
    const cycle: Cycle = {
      intervals: idleSchedule(this.deps.policy, this.policyFn, now),
      i: 0,
      t0: now,
      timer: undefined,
    };
    const first = cycle.intervals[0];
    if (first && first[0] <= 0) {
      this.keepFor(inst, cycle, first[1]);
      return;
    }
    // Nothing to keep now: unload (unless minWarm needs it) and wait for the next window.
    if (this.live() > this.warmTarget) {
      void this.evict(inst);
      this.nextWindow(cycle);
    }
  }

  /** Keeps an idle instance loaded until `t0 + to`, then unloads it and moves to the next window. */
  private keepFor(inst: PooledInstance, cycle: Cycle, to: number): void {
    inst.cycle = cycle;
    const left = cycle.t0 + to - this.deps.clock.now();
    if (!Number.isFinite(left)) return;
    cycle.timer = this.deps.clock.setTimer(() => {
      cycle.timer = undefined;
      inst.cycle = undefined;
      if (inst.inflight > 0 || inst.evicting || this.live() <= this.warmTarget) return;
      void this.evict(inst);
      cycle.i++;
      this.nextWindow(cycle);
    }, left);
  }

  /** Waits for the cycle's next window, then pre-warms an instance for it. */
  private nextWindow(cycle: Cycle): void {
    const iv = cycle.intervals[cycle.i];
    if (!iv || this.closed) return;
    this.pending.push(cycle);
    cycle.timer = this.deps.clock.setTimer(
      () => {
        cycle.timer = undefined;
        const at = this.pending.indexOf(cycle);
        if (at >= 0) this.pending.splice(at, 1);
        if (this.closed || this.live() + this.starting >= this.deps.config.maxInstances) return;
        this.startBackground().then(
          (inst) => {
            if (!inst || inst.inflight > 0 || inst.evicting) return;
            const waiter = this.waiters.shift();
            if (waiter) waiter.resolve(this.lease(inst, this.deps.clock.monotonic() - waiter.enqueuedAt));
            else {
              // It stands in for the instance that went idle at t0: arrivals rank it by that
              // moment, as the policy's idle-time samples (and the simulator) do.
              inst.lastUsed = cycle.t0;
              this.keepFor(inst, cycle, iv[1]);
            }
          },
          // Already reported by startBackground; a missed pre-warm only means a cold start later.
          () => undefined,
        );
      },
      Math.max(0, cycle.t0 + iv[0] - this.deps.clock.now()),
    );
  }

  /** An idle instance's schedule ends (it took work or is going away). */
  private endCycle(inst: PooledInstance): void {
    if (inst.cycle?.timer) this.deps.clock.clearTimer(inst.cycle.timer);
    inst.cycle = undefined;
  }

  private async evict(inst: PooledInstance): Promise<void> {
    inst.evicting = true;
    this.endCycle(inst);
    await inst.sandbox.stop();
  }

  /** Starts an instance; the caller gets the first slot on it. */
  private async coldStart(waitedMs: number): Promise<Lease> {
    this.starting++;
    let inst: PooledInstance;
    let report: StartReport;
    let code: PreparedCode | undefined;
    try {
      const t0 = this.deps.clock.monotonic();
      code = await this.deps.prepare();
      const fetchMs = this.deps.clock.monotonic() - t0;
      await this.deps.memory?.makeRoom(this.deps.config.memoryMb);
      const sandbox = await this.deps.tier.start(this.deps.spec(this.deps.newInstanceId(), code));
      inst = this.adopt(sandbox);
      report = { fetchMs, ...sandbox.timings, fetch: code.fetch };
      const t = sandbox.timings;
      this.deps.memory?.started(this, sandbox.id, fetchMs + t.sandboxMs + t.runtimeMs + t.initMs);
    } catch (err) {
      throw toKindlingError(err, 'KINDLING_INIT_FAILED');
    } finally {
      code?.startEnded?.();
      this.starting--;
      // A failed start frees capacity: let a queued request try its own start.
      queueMicrotask(() => this.pump());
    }
    return this.lease(inst, waitedMs, report);
  }

  private adopt(sandbox: SandboxInstance): PooledInstance {
    const inst: PooledInstance = {
      sandbox,
      inflight: 0,
      lastUsed: this.deps.clock.now(),
      evicting: false,
      cycle: undefined,
    };
    this.instances.add(inst);
    if (this.closed) void this.evict(inst);
    void sandbox.exited.then((info) => {
      // An instance that dies with nothing running (a promise it left to reject after answering)
      // fails no invocation: say so, or it would only show as the next call's cold start.
      if (info.idle && !inst.evicting && !this.closed && info.reason !== 'stopped') {
        const tail = info.stderrTail ? `; last stderr lines: ${info.stderrTail}` : '';
        this.deps.onBackgroundError(
          new KindlingError(
            'KINDLING_INSTANCE_CRASHED',
            `instance ${sandbox.id} ${info.description ?? `ended (${info.reason})`} while idle, after its last invocation had answered; the next invocation starts a new one${tail}`,
            { instanceId: sandbox.id, reason: info.reason },
          ),
        );
      }
      this.endCycle(inst);
      this.deps.memory?.gone(sandbox.id);
      this.instances.delete(inst);
      this.pump();
      this.fillWarm();
    });
    return inst;
  }

  /** Serves queued requests with new instances while there is capacity. */
  private pump(): void {
    while (this.waiters.length > 0 && !this.closed) {
      const warm = this.pickWarm();
      if (warm) {
        const w = this.waiters.shift()!;
        w.resolve(this.lease(warm, this.deps.clock.monotonic() - w.enqueuedAt));
        continue;
      }
      if (this.live() + this.starting >= this.deps.config.maxInstances) return;
      const w = this.waiters.shift()!;
      this.coldStart(this.deps.clock.monotonic() - w.enqueuedAt).then(w.resolve, w.reject);
    }
  }

  /** Starts background instances until `warmTarget` are up. */
  private fillWarm(): void {
    if (this.closed || this.warmRetry) return;
    const target = Math.min(this.warmTarget, this.deps.config.maxInstances);
    for (let n = this.live() + this.starting; n < target; n++)
      void this.startBackground().then(
        (inst) => inst && this.offer(inst),
        () => {
          if (this.warmRetry || this.closed) return;
          this.warmRetry = this.deps.clock.setTimer(() => {
            this.warmRetry = undefined;
            this.fillWarm();
          }, WARM_RETRY_MS);
        },
      );
  }

  /**
   * Starts an instance nobody waits for yet (minWarm, pre-warm). A failure is reported to
   * `onBackgroundError` and rethrown for the caller's retry logic.
   */
  private async startBackground(): Promise<PooledInstance | undefined> {
    this.starting++;
    try {
      const code = await this.deps.prepare();
      await this.deps.memory?.makeRoom(this.deps.config.memoryMb);
      const t0 = this.deps.clock.monotonic();
      const sandbox = await this.deps.tier.start(this.deps.spec(this.deps.newInstanceId(), code));
      const inst = this.adopt(sandbox);
      const t = sandbox.timings;
      this.deps.memory?.started(
        this,
        sandbox.id,
        Math.max(this.deps.clock.monotonic() - t0, t.sandboxMs + t.runtimeMs + t.initMs),
      );
      this.deps.memory?.idle(sandbox.id);
      return inst;
    } catch (err) {
      const e = toKindlingError(err, 'KINDLING_INIT_FAILED');
      this.deps.onBackgroundError(e);
      throw e;
    } finally {
      this.starting--;
    }
  }
}
