/**
 * Replays a workload trace through a keep-alive policy on one simulated host, on virtual time: the
 * same `KeepAlivePolicy` (and, for Greedy-Dual, the same `WarmCache`) objects the live worker pool
 * uses decide when idle instances go and when they are pre-warmed; the simulator only plays the
 * pool's part, with the pool's rules:
 * - an arrival takes the most recently used idle instance of its function (warm start) or starts a
 *   new instance (cold start); a pre-warmed instance counts as used when the instance it stands in
 *   for went idle, so arrivals meet instances in the order the policy's idle-time samples assume
 *   (`IdleStack`), not in the order their pre-warms happened to fire; instances run one invocation at a time (concurrency 1), so a burst
 *   needs as many instances as it has overlapping invocations;
 * - a cold instance is busy for `coldStartMs` plus the execution time; memory held while starting
 *   or running is not waste;
 * - when an instance becomes idle the policy is told (`onIdle`) and asked for `keepAliveMs` and
 *   `prewarmMs`: with a pre-warm it is unloaded at once and loaded again `prewarmMs` later, idle
 *   until `keepAliveMs`; an arrival that finds no loaded instance is cold and cancels the function's
 *   oldest pending pre-warm (the arrival it was for has come);
 * - with a warm cache (Greedy-Dual) nothing expires on a timer: a cold start that does not fit in
 *   the host's budget evicts the cache's victims first. If even evicting every idle instance is
 *   not enough (all busy) the host over-commits — counted in `overcommits` — rather than refusing
 *   the invocation, so every policy serves the same invocations.
 *
 * Wasted memory-time is the memory of loaded, idle instances × the time they were idle, up to the
 * end of the trace.
 */
import { KindlingError } from '../core/errors.js';
import type { TimerHandle } from '../core/clock.js';
import type { WarmCache } from '../policy/greedy-dual.js';
import {
  idleSchedule,
  type IdleInterval,
  type KeepAlivePolicy,
  type PolicyFunction,
} from '../policy/keep-alive.js';
import { SimHost } from './host.js';
import { SimClock } from './sim-clock.js';

/** One function of the workload, as the simulator needs it. */
export interface SimFunction {
  key: string;
  memoryMb: number;
  /** Start times, ms, sorted. */
  startsMs: readonly number[];
  /** Execution time of invocation i, ms. */
  durationMs(i: number): number;
}

/** The workload: functions and the time the trace ends. */
export interface SimWorkload {
  functions: readonly SimFunction[];
  horizonMs: number;
}

/** Options of one run. */
export interface KeepAliveSimOptions {
  policy: KeepAlivePolicy;
  /** The keep-alive each function is configured with (what `fixed` keeps), ms. */
  configuredKeepAliveMs: number;
  /** Greedy-Dual (or another cache): decides evictions under `memoryMb`; timers are not used. */
  warmCache?: WarmCache;
  /** Host memory budget, MiB (Infinity when the policy alone decides). */
  memoryMb?: number;
  /** Time a cold start adds before execution, ms (also the cache's cold-start cost). Default 500. */
  coldStartMs?: number;
  /**
   * Invocations one instance runs at once (the function config's `concurrency`). Default 1, as
   * the live pool's default and AWS Lambda. `Infinity` gives the model of Shahrad et al.'s
   * simulation: one instance per function serves everything, so only keep-alive causes cold starts.
   */
  concurrency?: number;
}

/** Per-function outcome. */
export interface FunctionOutcome {
  key: string;
  invocations: number;
  coldStarts: number;
}

/** Outcome of one run. */
export interface KeepAliveSimResult {
  policy: string;
  invocations: number;
  coldStarts: number;
  /** Idle loaded memory × time, MiB·ms. */
  wastedMbMs: number;
  prewarms: number;
  evictions: number;
  overcommits: number;
  peakMemoryMb: number;
  functions: FunctionOutcome[];
  events: number;
  /** Per invocation, in arrival order: function index and whether it was cold (for replay checks). */
  cold: Uint8Array;
}

interface Inst {
  id: number;
  fn: number;
  memoryMb: number;
  /** idle: loaded and free; busy: running; gone: unloaded. */
  state: 'idle' | 'busy' | 'gone';
  idleSince: number;
  /** Bumped each time it is offered as idle, so stale entries of {@link FnRuntime.idle} are skipped. */
  epoch: number;
  /** The idle schedule this instance is loaded for, when idle. */
  cycle: Cycle | undefined;
  /** Invocations running on it. */
  inflight: number;
  /** When its start completes (cold start), ms. */
  readyAt: number;
}

/** One idle period's load schedule ({@link idleSchedule}) being carried out. */
interface Cycle {
  fn: number;
  intervals: IdleInterval[];
  /** The interval in progress or next. */
  i: number;
  /** When the idle period began. */
  t0: number;
  inst: Inst | undefined;
  timer: TimerHandle | undefined;
}

interface IdleEntry {
  inst: Inst;
  epoch: number;
  /**
   * When the idle period the instance serves began: its own idle start, or for a pre-warmed
   * instance that of the instance it stands in for. Arrivals take the latest.
   */
  usedAt: number;
}

interface FnRuntime {
  pf: PolicyFunction;
  /** Idle instances by `usedAt`, latest last (lazy: entries whose epoch has moved on are stale). */
  idle: IdleEntry[];
  /** Cycles waiting to load an instance, oldest first. */
  pending: Cycle[];
  /** Instances running something (only tracked when concurrency > 1). */
  busy: Set<Inst>;
  invocations: number;
  coldStarts: number;
}

/** All arrivals of a workload in time order (computed once, shared by every policy run). */
export interface ArrivalOrder {
  times: Float64Array;
  fn: Int32Array;
  index: Int32Array;
}

/** Merges the functions' start times into one time-ordered list. */
export function arrivalOrder(w: SimWorkload): ArrivalOrder {
  let n = 0;
  for (const f of w.functions) n += f.startsMs.length;
  const fnOf = new Int32Array(n);
  const idx = new Int32Array(n);
  const t = new Float64Array(n);
  let k = 0;
  w.functions.forEach((f, fi) => {
    f.startsMs.forEach((s, i) => {
      t[k] = s;
      fnOf[k] = fi;
      idx[k] = i;
      k++;
    });
  });
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => t[a]! - t[b]! || fnOf[a]! - fnOf[b]! || idx[a]! - idx[b]!,
  );
  return {
    times: Float64Array.from(order, (i) => t[i]!),
    fn: Int32Array.from(order, (i) => fnOf[i]!),
    index: Int32Array.from(order, (i) => idx[i]!),
  };
}

/** Runs the workload through one policy; see the file comment. */
export function simulateKeepAlive(
  w: SimWorkload,
  opts: KeepAliveSimOptions,
  order: ArrivalOrder = arrivalOrder(w),
): KeepAliveSimResult {
  const coldStartMs = opts.coldStartMs ?? 500;
  if (!(coldStartMs >= 0))
    throw new KindlingError('KINDLING_INVALID_CONFIG', `coldStartMs must be ≥ 0, got ${coldStartMs}`);
  const concurrency = opts.concurrency ?? 1;
  if (!(concurrency >= 1))
    throw new KindlingError('KINDLING_INVALID_CONFIG', `concurrency must be ≥ 1, got ${concurrency}`);
  if (!(opts.configuredKeepAliveMs >= 0))
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `configuredKeepAliveMs must be ≥ 0, got ${opts.configuredKeepAliveMs}`,
    );
  const first = order.times.length > 0 ? Math.min(0, order.times[0]!) : 0;
  const clock = new SimClock(first);
  const host = new SimHost({ id: 'host-0', memoryMb: opts.memoryMb ?? Number.POSITIVE_INFINITY });
  const policy = opts.policy;
  const cache = opts.warmCache;
  const fns: FnRuntime[] = w.functions.map((f) => {
    if (!(f.memoryMb > 0))
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        `function ${f.key}: memoryMb must be > 0, got ${f.memoryMb}`,
      );
    return {
      pf: { key: f.key, configuredKeepAliveMs: opts.configuredKeepAliveMs, memoryMb: f.memoryMb },
      idle: [],
      pending: [],
      busy: new Set(),
      invocations: 0,
      coldStarts: 0,
    };
  });
  const byId = new Map<string, Inst>();
  let nextId = 0;
  let wasted = 0;
  let prewarms = 0;
  let evictions = 0;
  let overcommits = 0;
  const cold = new Uint8Array(order.times.length);

  const endIdle = (inst: Inst) => {
    wasted += (clock.now() - inst.idleSince) * inst.memoryMb;
  };
  const unload = (inst: Inst) => {
    if (inst.state === 'idle') endIdle(inst);
    inst.cycle = undefined;
    inst.state = 'gone';
    host.free(inst.memoryMb);
    byId.delete(String(inst.id));
  };
  const load = (fi: number, state: Inst['state']): Inst => {
    const inst: Inst = {
      id: nextId++,
      fn: fi,
      memoryMb: fns[fi]!.pf.memoryMb,
      state,
      idleSince: clock.now(),
      epoch: 0,
      cycle: undefined,
      inflight: 0,
      readyAt: clock.now(),
    };
    if (cache) {
      let victims = cache.victims(inst.memoryMb);
      if (!victims) {
        overcommits++;
        victims = cache
          .entries()
          .filter((e) => !e.busy)
          .map((e) => e.id);
      }
      for (const v of victims) {
        cache.evict(v);
        unload(byId.get(v)!);
        evictions++;
      }
    }
    host.allocate(inst.memoryMb);
    byId.set(String(inst.id), inst);
    return inst;
  };
  /** Offers a loaded, idle instance to arrivals, in `usedAt` order. */
  const offerIdle = (f: FnRuntime, inst: Inst, usedAt: number) => {
    const entry = { inst, epoch: ++inst.epoch, usedAt };
    let at = f.idle.length;
    while (at > 0 && f.idle[at - 1]!.usedAt > usedAt) at--;
    f.idle.splice(at, 0, entry);
  };
  /** Ends the loaded window of a cycle and moves on to its next one. */
  const endWindow = (c: Cycle) => {
    if (c.inst) unload(c.inst);
    evictions++;
    c.inst = undefined;
    c.i++;
    nextWindow(c);
  };
  /** Waits for the next window of a cycle, then loads an instance for it. */
  const nextWindow = (c: Cycle) => {
    const iv = c.intervals[c.i];
    if (!iv) return;
    const f = fns[c.fn]!;
    f.pending.push(c);
    c.timer = clock.at(c.t0 + iv[0], () => {
      f.pending.splice(f.pending.indexOf(c), 1);
      const warm = load(c.fn, 'idle');
      prewarms++;
      warm.cycle = c;
      c.inst = warm;
      // It stands in for the instance that went idle at t0 (see `usedAt`).
      offerIdle(f, warm, c.t0);
      c.timer = clock.at(c.t0 + iv[1], () => endWindow(c));
    });
  };
  const becomeIdle = (inst: Inst) => {
    const f = fns[inst.fn]!;
    const now = clock.now();
    inst.state = 'idle';
    inst.idleSince = now;
    if (cache) {
      cache.release(String(inst.id));
      offerIdle(f, inst, now);
      return;
    }
    policy.onIdle?.(f.pf, now);
    const c: Cycle = {
      fn: inst.fn,
      intervals: idleSchedule(policy, f.pf, now),
      i: 0,
      t0: now,
      inst: undefined,
      timer: undefined,
    };
    const first = c.intervals[0];
    if (first && first[0] <= 0) {
      // Stays loaded through the first window.
      c.inst = inst;
      inst.cycle = c;
      offerIdle(f, inst, now);
      c.timer = clock.at(now + first[1], () => endWindow(c));
      return;
    }
    unload(inst);
    evictions++;
    nextWindow(c);
  };

  /** One invocation on `inst` ended; the instance goes idle when it was the last. */
  const finish = (inst: Inst) => {
    if (--inst.inflight > 0) return;
    fns[inst.fn]!.busy.delete(inst);
    becomeIdle(inst);
  };

  for (let a = 0; a < order.times.length; a++) {
    const t = order.times[a]!;
    clock.run(t);
    const fi = order.fn[a]!;
    const f = fns[fi]!;
    const spec = w.functions[fi]!;
    f.invocations++;
    policy.onInvocation(f.pf, t);
    let busyFor = spec.durationMs(order.index[a]!);
    let inst: Inst | undefined;
    if (concurrency > 1) {
      // Pack onto the busiest running instance that has room, as the live pool does.
      for (const b of f.busy) if (b.inflight < concurrency && (!inst || b.inflight > inst.inflight)) inst = b;
      if (inst) {
        inst.inflight++;
        const joined = inst;
        clock.setTimer(() => finish(joined), Math.max(0, inst.readyAt - t) + busyFor);
        continue;
      }
    }
    while (f.idle.length > 0) {
      const e = f.idle.pop()!;
      if (e.inst.state === 'idle' && e.epoch === e.inst.epoch) {
        inst = e.inst;
        break;
      }
    }
    if (inst) {
      endIdle(inst);
      // The arrival ends the instance's idle schedule.
      if (inst.cycle?.timer) clock.clearTimer(inst.cycle.timer);
      inst.cycle = undefined;
      inst.state = 'busy';
      cache?.hit(String(inst.id));
    } else {
      f.coldStarts++;
      cold[a] = 1;
      // The arrival a pending pre-warm was waiting for has come: that schedule is over.
      const pending = f.pending.shift();
      if (pending?.timer) clock.clearTimer(pending.timer);
      inst = load(fi, 'busy');
      cache?.add({ id: String(inst.id), fnKey: spec.key, memoryMb: inst.memoryMb, coldStartMs });
      busyFor += coldStartMs;
      inst.readyAt = t + coldStartMs;
    }
    inst.inflight = 1;
    if (concurrency > 1) f.busy.add(inst);
    const running = inst;
    clock.setTimer(() => finish(running), busyFor);
  }
  clock.run(w.horizonMs);
  // Idle memory up to the end of the trace.
  for (const inst of byId.values()) if (inst.state === 'idle') endIdle(inst);

  let invocations = 0;
  let coldStarts = 0;
  for (const f of fns) {
    invocations += f.invocations;
    coldStarts += f.coldStarts;
  }
  return {
    policy: policy.name,
    invocations,
    coldStarts,
    wastedMbMs: wasted,
    prewarms,
    evictions,
    overcommits,
    peakMemoryMb: host.peakMb,
    functions: fns.map((f) => ({ key: f.pf.key, invocations: f.invocations, coldStarts: f.coldStarts })),
    events: clock.eventsProcessed,
    cold,
  };
}
