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
