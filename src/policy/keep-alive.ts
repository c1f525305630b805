/**
 * Keep-alive policies decide how long an idle instance stays warm. They are pure and clock-driven:
 * the live worker pool and (later) the simulator call the same code.
 */

/** What a policy knows about a function. */
export interface PolicyFunction {
  /** Stable key of the function version (tenant/name@version). */
  key: string;
  /** The keep-alive the function was configured with, in milliseconds. */
  configuredKeepAliveMs: number;
  memoryMb: number;
}

/** A keep-alive policy. */
export interface KeepAlivePolicy {
  readonly name: string;
  /** Tells the policy an invocation of `fn` arrived at `now` (ms). Adaptive policies learn from this. */
  onInvocation(fn: PolicyFunction, now: number): void;
  /**
   * Optional: an instance of `fn` finished its work at `now` and is idle. Called before
   * {@link keepAliveMs} / {@link prewarmMs} for that instance, so a policy can measure idle time
   * from the end of an execution (as Shahrad et al. define it) rather than between arrivals.
   */
  onIdle?(fn: PolicyFunction, now: number): void;
  /** How long an instance of `fn` that has just become idle at `now` is kept before it is evicted. */
  keepAliveMs(fn: PolicyFunction, now: number): number;
  /**
   * Optional pre-warm decision for an instance of `fn` that has just become idle at `now`: 0 means
   * keep it warm from now on; a positive value means it may be unloaded now and started again at
   * `now + prewarmMs`, to stay warm until `now + keepAliveMs(fn, now)`. A caller that does not
   * pre-warm can ignore this and keep the instance for the whole `keepAliveMs`, which never causes
   * more cold starts, only more idle memory. Absent means 0.
   */
  prewarmMs?(fn: PolicyFunction, now: number): number;
  /**
   * Optional, most general form: the intervals, in ms from `now` (the moment an instance of `fn`
   * became idle), during which an instance should be loaded, sorted and disjoint. `[[0, k]]` is
   * plain keep-alive, `[[p, k]]` is keep-alive with pre-warm, `[[0, k1], [p2, k2]]` keeps the
   * instance for a short idle mode, unloads it, and loads it again ahead of a long one. An
   * arrival ends the schedule (it is served warm if an instance is loaded, cold otherwise). When
   * absent the schedule is `[[prewarmMs, keepAliveMs]]`; see {@link idleSchedule}.
   */
  schedule?(fn: PolicyFunction, now: number): IdleInterval[];
}

/** A [from, to) interval in ms after an instance became idle, during which it is loaded. */
export type IdleInterval = readonly [from: number, to: number];

/**
 * The load schedule of an instance of `fn` that became idle at `now`, whatever the policy
 * implements: its own `schedule`, else `[[prewarmMs, keepAliveMs]]` (empty when that is empty,
 * and a pre-warm at or past the keep-alive means no window). The live pool and the simulator both
 * act on this, so they cannot disagree on what a policy meant.
 */
export function idleSchedule(policy: KeepAlivePolicy, fn: PolicyFunction, now: number): IdleInterval[] {
  if (policy.schedule) return policy.schedule(fn, now);
  const keep = policy.keepAliveMs(fn, now);
  const pre = Math.max(0, policy.prewarmMs?.(fn, now) ?? 0);
  return pre < keep ? [[pre, keep]] : [];
}

/** The fixed policy: keep idle instances for the function's configured keep-alive (10 minutes by default, as AWS Lambda and OpenWhisk). */
export function fixedKeepAlive(): KeepAlivePolicy {
  return {
    name: 'fixed',
    onInvocation() {
      // A fixed window learns nothing.
    },
    keepAliveMs(fn) {
      return fn.configuredKeepAliveMs;
    },
  };
}
