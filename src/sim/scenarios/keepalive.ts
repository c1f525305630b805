/**
 * The `keepalive` scenario: every keep-alive policy, in several settings, on every trace, through
 * {@link simulateKeepAlive}; reports cold-start %, the spread of per-function cold-start %, and
 * wasted memory-time. Two instance models:
 * - `sim-keepalive.json` + `sim-keepalive.svg` (the main results): instances run one invocation at
 *   a time, as the live pool does by default, so bursts need several instances;
 * - `sim-keepalive-single-instance.json`: one instance per function serves everything, the model of
 *   Shahrad et al.'s own simulation, where only keep-alive decisions cause cold starts.
 * Each file is an array with one object per trace.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { costWindow } from '../../policy/cost-window.js';
import { greedyDualKeepAlive, hybridRefined } from '../../policy/catalog.js';
import { GreedyDualCache } from '../../policy/greedy-dual.js';
import { hybridHistogram } from '../../policy/hybrid-histogram.js';
import { fixedKeepAlive } from '../../policy/keep-alive.js';
import { KindlingError } from '../../core/errors.js';
import type { MinuteArrivals } from '../../trace/azure2019.js';
import { readTraceDir } from '../../trace/load.js';
import {
  arrivalOrder,
  simulateKeepAlive,
  type KeepAliveSimOptions,
  type SimWorkload,
} from '../keepalive-sim.js';
import { paretoDocument, paretoPanel } from '../pareto-svg.js';
import { peakBusyMemoryMb, traceWorkload } from '../workload.js';
import type { Scenario } from './registry.js';

const MIN = 60_000;

/** One policy setting of the comparison. */
export interface PolicySetting {
  name: string;
  /** Family, for the plot's colours. */
  series: 'fixed' | 'hybrid' | 'greedy-dual' | 'cost-window';
  /** Fresh policy state for one run (policies learn, so every run gets its own). */
  make(w: SimWorkload): Omit<KeepAliveSimOptions, 'coldStartMs'>;
}

/**
 * The settings compared: fixed 5/10/20/60 min, hybrid ×4, Greedy-Dual ×3 budgets, cost-window ×5
 * (default; per-invocation pricing; 20- and 60-minute break-even; 60 minutes with per-function
 * weight 3) and hybrid-refined.
 */
export function keepAliveSettings(): PolicySetting[] {
  const tenMin = 10 * MIN;
  const fixed = (m: number): PolicySetting => ({
    name: `fixed-${m}m`,
    series: 'fixed',
    make: () => ({ policy: fixedKeepAlive(), configuredKeepAliveMs: m * MIN }),
  });
  // Greedy-Dual budgets relative to the workload's peak busy memory (the least any host needs).
  const gd = (factor: number): PolicySetting => ({
    name: `greedy-dual-${factor}x-peak`,
    series: 'greedy-dual',
    make: (w) => {
      const memoryMb = Math.max(1, peakBusyMemoryMb(w) * factor);
      return {
        policy: greedyDualKeepAlive(),
        configuredKeepAliveMs: tenMin,
        warmCache: new GreedyDualCache(memoryMb),
        memoryMb,
      };
    },
  });
  return [
    fixed(5),
    fixed(10),
    fixed(20),
    fixed(60),
    {
      name: 'hybrid',
      series: 'hybrid',
      make: () => ({ policy: hybridHistogram(), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'hybrid-fallback-4h',
      series: 'hybrid',
      make: () => ({
        policy: hybridHistogram({ fallbackKeepAliveMs: 4 * 60 * MIN }),
        configuredKeepAliveMs: tenMin,
      }),
    },
    {
      name: 'hybrid-idle-from-arrival',
      series: 'hybrid',
      make: () => ({ policy: hybridHistogram({ idleFrom: 'arrival' }), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'hybrid-p10-p95',
      series: 'hybrid',
      make: () => ({
        policy: hybridHistogram({ headPercentile: 0.1, tailPercentile: 0.95 }),
        configuredKeepAliveMs: tenMin,
      }),
    },
    gd(1.5),
    gd(2),
    gd(4),
    {
      name: 'cost-window',
      series: 'cost-window',
      make: () => ({ policy: costWindow(), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'hybrid-refined',
      series: 'cost-window',
      make: () => ({ policy: hybridRefined(), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'cost-window-per-invocation',
      series: 'cost-window',
      make: () => ({ policy: costWindow({ functionWeight: 0 }), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'cost-window-be20m',
      series: 'cost-window',
      make: () => ({ policy: costWindow({ breakEvenMs: 20 * MIN }), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'cost-window-be60m',
      series: 'cost-window',
      make: () => ({ policy: costWindow({ breakEvenMs: 60 * MIN }), configuredKeepAliveMs: tenMin }),
    },
    {
      name: 'cost-window-be60m-fw3',
      series: 'cost-window',
      make: () => ({
        policy: costWindow({ breakEvenMs: 60 * MIN, functionWeight: 3 }),
        configuredKeepAliveMs: tenMin,
      }),
    },
  ];
}

/** One row of the results. */
export interface KeepAliveRow {
  name: string;
  coldStartPct: number;
  p75FunctionColdStartPct: number;
  wastedMemGiBh: number;
  medianFunctionColdStartPct: number;
  p99FunctionColdStartPct: number;
  invocations: number;
  coldStarts: number;
  prewarms: number;
  memoryBudgetMb?: number;
  overcommits?: number;
}

/** The results of one trace. */
export interface KeepAliveTraceResult {
  trace: string;
  format: string;
  functions: number;
  invocations: number;
  horizonMs: number;
  coldStartMs: number;
  /** Invocations per instance at once (Infinity is written as null in JSON: one instance per function). */
  instanceConcurrency: number;
  /** How a 2019 trace's per-minute counts were placed inside their minutes (2019 traces only). */
  minuteArrivals?: MinuteArrivals;
  policies: KeepAliveRow[];
}

/** Linear-interpolated quantile of sorted values. */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const round = (v: number, digits = 3) => Number(v.toFixed(digits));

/** Runs every setting on one workload. */
export function runKeepAlive(
  trace: string,
  w: SimWorkload,
  format: string,
  settings: PolicySetting[] = keepAliveSettings(),
  coldStartMs = 500,
  concurrency = 1,
): KeepAliveTraceResult {
  const order = arrivalOrder(w);
  const policies = settings.map((s) => {
    const opts = s.make(w);
    const r = simulateKeepAlive(w, { ...opts, coldStartMs, concurrency }, order);
    const perFn = r.functions
      .filter((f) => f.invocations > 0)
      .map((f) => (100 * f.coldStarts) / f.invocations)
      .sort((a, b) => a - b);
    const row: KeepAliveRow = {
      name: s.name,
      coldStartPct: round((100 * r.coldStarts) / Math.max(1, r.invocations)),
      p75FunctionColdStartPct: round(quantile(perFn, 0.75)),
      wastedMemGiBh: round(r.wastedMbMs / 1024 / 3_600_000, 4),
      medianFunctionColdStartPct: round(quantile(perFn, 0.5)),
      p99FunctionColdStartPct: round(quantile(perFn, 0.99)),
      invocations: r.invocations,
      coldStarts: r.coldStarts,
      prewarms: r.prewarms,
    };
    if (opts.memoryMb !== undefined && Number.isFinite(opts.memoryMb)) {
      row.memoryBudgetMb = Math.round(opts.memoryMb);
      row.overcommits = r.overcommits;
    }
    return row;
  });
  return {
    trace,
    format,
    functions: w.functions.length,
    invocations: order.times.length,
    horizonMs: w.horizonMs,
    coldStartMs,
    instanceConcurrency: concurrency,
    policies,
  };
}

/** The scenario registered as `keepalive`. */
export const keepAliveScenario: Scenario = {
  name: 'keepalive',
  description:
    'every keep-alive policy (fixed, hybrid-histogram, greedy-dual, cost-window; several settings each) on every trace: cold-start % and wasted memory-time',
  async run({ traces, outDir, say, minuteArrivals = 'spread' }) {
    const results: KeepAliveTraceResult[] = [];
    const single: KeepAliveTraceResult[] = [];
    const settings = keepAliveSettings();
    // Another arrival model than the default gets its own files, beside the default's.
    const suffix = minuteArrivals === 'spread' ? '' : `-arrivals-${minuteArrivals}`;
    const show = (res: KeepAliveTraceResult) => {
      for (const p of res.policies)
        say(
          `  ${p.name.padEnd(22)} cold ${p.coldStartPct.toFixed(2).padStart(6)} %   p75/fn ${p.p75FunctionColdStartPct.toFixed(1).padStart(5)} %   wasted ${p.wastedMemGiBh.toFixed(3).padStart(8)} GiB·h`,
        );
    };
    for (const dir of traces) {
      const trace = await readTraceDir(dir, { minuteArrivals });
      const name = basename(dir.replace(/\/+$/, ''));
      if (suffix && trace.format !== 'azure2019') {
        say(
          `${name}: ${trace.format} has a timestamp per invocation, so --minute-arrivals does not apply; skipped`,
        );
        continue;
      }
      const w = traceWorkload(trace);
      const arrivals = trace.minuteArrivals ? `, arrivals in the minute: ${trace.minuteArrivals}` : '';
      say(
        `${name}: ${trace.functions.length} functions, ${trace.format}${arrivals}; ${settings.length} policy settings`,
      );
      const tag = (r: KeepAliveTraceResult) =>
        trace.minuteArrivals ? { ...r, minuteArrivals: trace.minuteArrivals } : r;
      const res = tag(runKeepAlive(name, w, trace.format, settings));
      show(res);
      results.push(res);
      say(`${name}, one instance per function (the paper's model):`);
      const one = tag(runKeepAlive(name, w, trace.format, settings, 500, Number.POSITIVE_INFINITY));
      show(one);
      single.push(one);
    }
    if (results.length === 0)
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        `--minute-arrivals ${minuteArrivals} applies to Azure 2019 traces (per-minute counts), and none was given`,
      );
    mkdirSync(outDir, { recursive: true });
    const json = join(outDir, `sim-keepalive${suffix}.json`);
    writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
    const singleJson = `sim-keepalive${suffix}-single-instance.json`;
    writeFileSync(join(outDir, singleJson), JSON.stringify(single, null, 2) + '\n');
    const svg = join(outDir, `sim-keepalive${suffix}.svg`);
    const series = new Map(settings.map((s) => [s.name, s.series]));
    writeFileSync(
      svg,
      paretoDocument(
        results.map((r) =>
          paretoPanel(
            `${r.trace}: keep-alive policies${suffix ? `, arrivals in the minute: ${minuteArrivals}` : ''}`,
            'wasted memory (GiB·h)',
            'cold starts (%)',
            r.policies.map((p) => ({
              label: p.name,
              series: series.get(p.name) ?? 'other',
              x: p.wastedMemGiBh,
              y: p.coldStartPct,
            })),
          ),
        ),
      ),
    );
    say(`wrote ${json}, ${svg} and ${singleJson}`);
    return results;
  },
};
