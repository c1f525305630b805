/**
 * What the simulator predicts for a trace replay against the live platform: the same trace on the
 * replay's compressed timeline (arrivals, execution times and the keep-alive divided by the
 * speedup), through the same keep-alive policy object the live pool would build, with the cold
 * start lasting what the replay's own cold starts took beyond their execution (their median). So a
 * replay can say, for any trace and policy, how far the live cold starts are from the model's.
 */
import { KindlingError } from '../core/errors.js';
import { defaultPolicies, type PolicyName } from '../policy/catalog.js';
import { invocationDurationMs, type Trace } from '../trace/trace.js';
import { simulateKeepAlive } from './keepalive-sim.js';
import { traceWorkload } from './workload.js';

/** A replay's invocation as the prediction needs it. */
export interface ReplayedInvocation {
  /** Trace function key. */
  fn: string;
  /** Index of the invocation within its function. */
  index: number;
  cold: boolean | undefined;
  /** Wall time from send to answer, ms. */
  latencyMs: number;
}

/** The simulator's answer for one replay. */
export interface ReplayPrediction {
  policy: PolicyName;
  coldStarts: number;
  invocations: number;
  /** The cold-start time simulated, ms of real (compressed) time. */
  coldStartMs: number;
}

/**
 * Median of what the replay's cold invocations took beyond their execution time, ms; 0 when there
 * were none.
 */
export function medianColdOverheadMs(
  trace: Trace,
  speedup: number,
  records: readonly ReplayedInvocation[],
): number {
  const byKey = new Map(trace.functions.map((f) => [f.key, f]));
  const overheads = records
    .filter((r) => r.cold === true)
    .map((r) => {
      const fn = byKey.get(r.fn);
      return Math.max(0, r.latencyMs - (fn ? invocationDurationMs(fn, r.index) / speedup : 0));
    })
    .sort((a, b) => a - b);
  if (overheads.length === 0) return 0;
  const mid = overheads.length >> 1;
  return overheads.length % 2 ? overheads[mid]! : (overheads[mid - 1]! + overheads[mid]!) / 2;
}

/**
 * Cold starts the simulator predicts for replaying `trace` at `speedup` with `policy` and a
 * configured keep-alive of `keepAliveMs` of trace time. Greedy-Dual decides by the host's memory,
 * which a replay does not fix, so it has no prediction (KINDLING_BAD_REQUEST).
 */
export function predictReplay(
  trace: Trace,
  options: { speedup: number; keepAliveMs: number; policy: PolicyName; coldStartMs: number },
): ReplayPrediction {
  if (options.policy === 'greedy-dual')
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      'greedy-dual evicts by the host memory budget, which a replay does not set: no simulator prediction',
    );
  const s = options.speedup;
  const w = traceWorkload(trace);
  const compressed = {
    horizonMs: w.horizonMs / s,
    functions: w.functions.map((f) => ({
      ...f,
      startsMs: f.startsMs.map((t) => t / s),
      durationMs: (i: number) => f.durationMs(i) / s,
    })),
  };
  const r = simulateKeepAlive(compressed, {
    policy: defaultPolicies()[options.policy],
    configuredKeepAliveMs: options.keepAliveMs / s,
    coldStartMs: options.coldStartMs,
  });
  return {
    policy: options.policy,
    coldStarts: r.coldStarts,
    invocations: r.invocations,
    coldStartMs: options.coldStartMs,
  };
}
