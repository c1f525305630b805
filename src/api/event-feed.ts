/**
 * The dashboard's live feed: finished invocations and instance counts, aggregated once per tick
 * (1 s) and sent to each subscriber as one Server-Sent Event, filtered to what the subscriber may
 * see (its tenant; an admin sees every tenant).
 *
 * Batching per tick is what keeps the browser responsive under load: at 100 invocations per second
 * a page receives one message a second, with the per-second counts, the latency percentiles of the
 * last minute, per-function counts and at most RECENT_PER_TICK invocation summaries, instead of a
 * message per invocation.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { InstanceState } from '../core/metrics.js';
import { summarize, type InstanceCounts, type InvocationSummary, type Tick } from './event-types.js';
import { SampleWindow } from './sample-window.js';

export type { InstanceCounts, InvocationSummary, Tick };
import { percentile } from '../core/stats.js';
import type { InvocationStore } from '../control/invocations.js';
import type { Scheduler } from '../control/scheduler.js';
import type { Principal } from '../control/tenants.js';

/** Something that receives ticks (an SSE connection). */
export interface Subscriber {
  principal: Principal;
  send(tick: Tick): void;
}

const WINDOW_MS = 60_000;
const RECENT_PER_TICK = 50;
/** Bound on the window's memory (at 100 invocations/s a minute is 6,000). */
const WINDOW_CAP = 50_000;

/** True when `principal` may see what belongs to `tenant`. */
export function canSee(principal: Principal, tenant: string): boolean {
  return principal.role === 'admin' || principal.tenant === tenant;
}

/** Collects finished invocations and sends ticks to subscribers. `start()` / `stop()`. */
export class EventFeed {
  private readonly subscribers = new Set<Subscriber>();
  private pending: InvocationSummary[] = [];
  /** The last minute's finished invocations (one more than the cap: trimmed once it is passed). */
  private readonly window = new SampleWindow(WINDOW_CAP + 1);
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: {
      invocations: InvocationStore;
      scheduler: Scheduler;
      clock: Clock;
      tickMs?: number;
    },
  ) {}

  get tickMs(): number {
    return this.deps.tickMs ?? 1000;
  }

  /** Starts listening for invocations. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.deps.invocations.onFinished((b, d) => {
      const now = this.deps.clock.now();
      // The minute's window is kept even with no page open (so a page opened now shows the last
      // minute); summaries only while someone watches. A burst beyond the cap keeps its count in
      // the window, not every summary.
      if (this.subscribers.size > 0 && this.pending.length < WINDOW_CAP)
        this.pending.push(summarize({ ...b, ...d }, now));
      this.window.push(b.tenant, b.functionName, now, d.totalMs ?? 0, d.cold === true, d.status === 'failed');
      if (this.window.length > WINDOW_CAP) this.trim(now, WINDOW_CAP / 10);
    });
  }

  /** Stops the ticks and drops every subscriber. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.subscribers.clear();
  }

  /** Adds a subscriber; it gets a first tick at once. Returns the unsubscribe. */
  subscribe(sub: Subscriber): () => void {
    this.subscribers.add(sub);
    const now = this.deps.clock.now();
    this.trim(now, 0);
    sub.send(this.tickFor(sub.principal, [], now));
    this.schedule();
    return () => this.subscribers.delete(sub);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Sends one tick now (the timer calls this; tests on a ManualClock advance it). */
  tick(): void {
    this.timer = undefined;
    const now = this.deps.clock.now();
    this.trim(now, 0);
    const batch = this.pending;
    this.pending = [];
    for (const sub of this.subscribers) sub.send(this.tickFor(sub.principal, batch, now));
    this.schedule();
  }

  /**
   * Drops samples older than the window, and at least `atLeast` of the oldest (when over the cap:
   * dropping a tenth at once keeps the cost per invocation constant).
   */
  private trim(now: number, atLeast: number): void {
    const cutoff = now - WINDOW_MS;
    let drop = Math.min(atLeast, this.window.length);
    while (drop < this.window.length && this.window.atOf(drop) < cutoff) drop++;
    if (drop > 0) this.window.dropOldest(drop);
  }

  private schedule(): void {
    if (this.timer || this.subscribers.size === 0) return;
    this.timer = this.deps.clock.setTimer(() => this.tick(), this.tickMs);
  }

  /** Instance counts of what `principal` may see, by tier and state. */
  instanceCounts(principal: Principal): InstanceCounts {
    const out: InstanceCounts = {};
    for (const worker of this.deps.scheduler.all()) {
      for (const pool of worker.poolCounts()) {
        if (!canSee(principal, pool.tenant)) continue;
        const t = (out[pool.tier] ??= { starting: 0, idle: 0, busy: 0, evicting: 0 });
        for (const s of Object.keys(t) as InstanceState[]) t[s] += pool.counts[s];
      }
    }
    return out;
  }

  private tickFor(principal: Principal, batch: InvocationSummary[], now: number): Tick {
    const mine = principal.role === 'admin' ? batch : batch.filter((s) => s.tenant === principal.tenant);
    const functions: Tick['functions'] = {};
    const latencies: number[] = [];
    let windowCold = 0;
    this.window.forEach((s) => {
      if (!canSee(principal, s.tenant)) return;
      const f = (functions[s.key] ??= [0, 0, 0]);
      f[0]++;
      if (s.cold) {
        f[1]++;
        windowCold++;
      }
      if (s.error) f[2]++;
      latencies.push(s.totalMs);
    });
    latencies.sort((a, b) => a - b);
    let cold = 0;
    let errors = 0;
    for (const s of mine) {
      if (s.cold) cold++;
      if (s.status === 'failed') errors++;
    }
    const recent = mine.length > RECENT_PER_TICK ? mine.slice(-RECENT_PER_TICK) : mine;
    return {
      t: now,
      tickMs: this.tickMs,
      invocations: mine.length,
      cold,
      errors,
      window: {
        ms: WINDOW_MS,
        invocations: latencies.length,
        cold: windowCold,
        p50: latencies.length ? percentile(latencies, 50) : 0,
        p99: latencies.length ? percentile(latencies, 99) : 0,
      },
      instances: this.instanceCounts(principal),
      functions,
      recent,
      omitted: mine.length - recent.length,
    };
  }
}
