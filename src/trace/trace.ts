/**
 * The in-memory form of a workload trace, whatever file format it came from. The simulator and the
 * replay loader consume this; the readers (`azure2019.ts`, `azure2021.ts`) produce it.
 */
import type { MinuteArrivals } from './azure2019.js';

/** Execution-time statistics of one function, in milliseconds (cold-start time excluded). */
export interface DurationStats {
  /** Number of executions the statistics were computed from. */
  count: number;
  averageMs: number;
  minimumMs: number;
  maximumMs: number;
  /** Percentile → milliseconds, e.g. `{ 0: 12, 1: 13, 25: 20, 50: 31, 75: 40, 99: 95, 100: 120 }`. */
  percentilesMs: Record<number, number>;
}

/** One function of a trace. */
export interface TraceFunction {
  /** Unique key: `app/function` (function hashes are only unique together with their app). */
  key: string;
  /** Hash of the function. */
  function: string;
  /** Hash of the application the function belongs to. */
  app: string;
  /** Hash of the owner (2019 format only). */
  owner?: string;
  /** Trigger type, when the file names it (official 2019 files: `http`, `timer`, `queue`, …). */
  trigger?: string;
  /** Invocation start times in ms from the trace start, sorted ascending. */
  startsMs: number[];
  /** Per-invocation execution time in ms, aligned with `startsMs` (2021 format only). */
  durationsMs?: number[];
  /** Execution-time statistics (2019 `durations.csv`, or computed from `durationsMs`). */
  duration?: DurationStats;
  /** Average allocated memory of the function's application, in MiB (2019 `memory.csv`). */
  memoryMb?: number;
}

/** A whole trace. */
export interface Trace {
  /** Which format it was read from. */
  format: 'azure2019' | 'azure2021';
  /** Length of the trace in ms (1440 minutes for one 2019 day; the last invocation end for 2021). */
  horizonMs: number;
  /** Functions, sorted by key so every reader run gives the same order. */
  functions: TraceFunction[];
  /** How the 2019 trace's per-minute counts were placed inside their minutes (2019 format only). */
  minuteArrivals?: MinuteArrivals;
}

/** Memory of a function whose trace has none (the 2021 trace): the platform's default, MiB. */
export const DEFAULT_TRACE_MEMORY_MB = 128;
/** Execution time of a function whose trace has none (a 2019 day without durations.csv), ms. */
export const DEFAULT_TRACE_DURATION_MS = 1000;

/**
 * Execution time of invocation `i` of a trace function, ms: its own (2021), else the function's
 * average (2019 durations.csv), else {@link DEFAULT_TRACE_DURATION_MS}. The replay runs each
 * invocation this long and the simulator models it so.
 */
export function invocationDurationMs(fn: TraceFunction, i: number): number {
  return fn.durationsMs?.[i] ?? fn.duration?.averageMs ?? DEFAULT_TRACE_DURATION_MS;
}

/** Total number of invocations in a trace. */
export function invocationCount(trace: Trace): number {
  let n = 0;
  for (const f of trace.functions) n += f.startsMs.length;
  return n;
}

/** What {@link traceSlice} keeps. */
export interface TraceSliceOptions {
  /** Start of the window, ms of trace time (inclusive). Default 0. */
  fromMs?: number;
  /** End of the window, ms of trace time (exclusive). Default: the trace's end. */
  toMs?: number;
  /** Keep only functions with at least this many invocations in the window. Default 1. */
  minInvocations?: number;
  /** Keep only functions with at most this many invocations in the window. Default: no limit. */
  maxInvocations?: number;
}

/**
 * The invocations of a time window of a trace, moved to start at 0, of the functions whose
 * invocation count in the window is in range (for replaying part of a day: a slice a small machine
 * can play at a speedup that leaves cold starts their real length).
 */
export function traceSlice(trace: Trace, options: TraceSliceOptions): Trace {
  const from = options.fromMs ?? 0;
  const to = Math.min(options.toMs ?? trace.horizonMs, trace.horizonMs);
  const min = Math.max(1, options.minInvocations ?? 1);
  const max = options.maxInvocations ?? Number.POSITIVE_INFINITY;
  const functions: TraceFunction[] = [];
  for (const f of trace.functions) {
    const kept: number[] = [];
    f.startsMs.forEach((t, i) => {
      if (t >= from && t < to) kept.push(i);
    });
    if (kept.length < min || kept.length > max) continue;
    const fn: TraceFunction = { ...f, startsMs: kept.map((i) => f.startsMs[i]! - from) };
    if (f.durationsMs) fn.durationsMs = kept.map((i) => f.durationsMs![i]!);
    functions.push(fn);
  }
  return { ...trace, horizonMs: Math.max(0, to - from), functions };
}
