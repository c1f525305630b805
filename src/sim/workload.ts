/**
 * Turns a {@link Trace} into the simulator's workload: per-invocation durations and per-function
 * memory, with documented defaults where a trace has no such column.
 */
import { DEFAULT_TRACE_MEMORY_MB, invocationDurationMs, type Trace } from '../trace/trace.js';
import type { SimWorkload } from './keepalive-sim.js';

/**
 * The workload of a trace. Durations: the 2021 trace's own, per invocation; the 2019 trace's
 * per-function average (the file has only statistics, and the average keeps the busy time of a
 * function right, which is what sizes its instances). Memory: the application's average allocated
 * memory (2019), else {@link DEFAULT_TRACE_MEMORY_MB}.
 */
export function traceWorkload(trace: Trace): SimWorkload {
  return {
    horizonMs: trace.horizonMs,
    functions: trace.functions.map((f) => ({
      key: f.key,
      memoryMb: f.memoryMb !== undefined && f.memoryMb > 0 ? f.memoryMb : DEFAULT_TRACE_MEMORY_MB,
      startsMs: f.startsMs,
      durationMs: (i: number) => invocationDurationMs(f, i),
    })),
  };
}

/**
 * Highest memory held by running invocations alone (each on its own instance, no cold-start time):
 * the floor under any host budget, used to size Greedy-Dual budgets relative to the workload.
 */
export function peakBusyMemoryMb(w: SimWorkload): number {
  const events: [number, number][] = [];
  for (const f of w.functions)
    f.startsMs.forEach((s, i) => {
      events.push([s, f.memoryMb], [s + f.durationMs(i), -f.memoryMb]);
    });
  // Ends before starts at the same instant: an instance freed at t can serve an arrival at t.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let peak = 0;
  for (const [, d] of events) {
    cur += d;
    if (cur > peak) peak = cur;
  }
  return peak;
}
