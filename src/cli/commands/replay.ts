/** `kindling replay --trace DIR --speedup 60`: drives a running platform with a workload trace. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KindlingError } from '../../core/errors.js';
import { isPolicyName, POLICY_NAMES } from '../../policy/catalog.js';
import { medianColdOverheadMs, predictReplay } from '../../sim/replay-prediction.js';
import { readTraceDir } from '../../trace/load.js';
import { traceSlice } from '../../trace/trace.js';
import { minuteArrivalsFlag } from './sim.js';
import { replayTrace } from '../../trace/replay.js';
import { CliError } from '../cli-error.js';
import type { ApiClient } from '../client.js';

export interface ReplayFlags {
  trace: string;
  speedup?: string;
  keepAlive?: string;
  policy?: string;
  mode?: string;
  memoryScale?: string;
  minuteArrivals?: string;
  window?: string;
  invocations?: string;
  out?: string;
  json?: boolean;
}

function numberFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new CliError(`invalid ${flag} ${JSON.stringify(value)}: use a number from ${min} to ${max}`);
  return n;
}

/** `A:B` of non-negative numbers with A < B (B may be empty: no upper bound), or a CliError naming `flag`. */
function rangeFlag(value: string, flag: string, what: string, allowEqual = false): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)?\s*$/.exec(value);
  const lo = m ? Number(m[1]) : Number.NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : Number.POSITIVE_INFINITY;
  if (!m || !(hi > lo || (allowEqual && hi === lo)))
    throw new CliError(
      `invalid ${flag} ${JSON.stringify(value)}: use FROM:TO ${what} with FROM ${allowEqual ? '≤' : '<'} TO, e.g. ${allowEqual ? '10:400' : '0:30'}`,
    );
  return [lo, hi];
}

export async function replay(client: ApiClient, flags: ReplayFlags): Promise<void> {
  const speedup = numberFlag(flags.speedup, '--speedup', 60, 1, 1_000_000);
  const keepAliveMin = numberFlag(flags.keepAlive, '--keep-alive', 10, 0, 1440);
  const memoryScale = numberFlag(flags.memoryScale, '--memory-scale', 1, 0, 1);
  if (flags.policy !== undefined && !isPolicyName(flags.policy))
    throw new CliError(
      `invalid --policy ${JSON.stringify(flags.policy)}: use one of ${POLICY_NAMES.join(', ')}`,
    );
  const mode = flags.mode ?? 'sleep';
  if (mode !== 'sleep' && mode !== 'busy')
    throw new CliError(`invalid --mode ${JSON.stringify(mode)}: use sleep or busy`);
  const minuteArrivals =
    flags.minuteArrivals !== undefined ? minuteArrivalsFlag(flags.minuteArrivals) : undefined;
  const window =
    flags.window !== undefined ? rangeFlag(flags.window, '--window', 'minutes of trace') : undefined;
  const counts =
    flags.invocations !== undefined
      ? rangeFlag(flags.invocations, '--invocations', 'invocations per function in the window', true)
      : undefined;
  if (!client.endpoint.key)
    throw new CliError(
      'no API key: set KINDLING_API_KEY or run next to the data directory of `kindling up`',
      'KINDLING_UNAUTHORIZED',
    );
  const say = flags.json ? () => {} : (line: string) => console.log(line);
  const whole = await readTraceDir(resolve(flags.trace), minuteArrivals ? { minuteArrivals } : {}).catch(
    (err: unknown) => {
      throw KindlingError.is(err) ? new CliError(err.message, err.code) : err;
    },
  );
  const trace =
    window || counts
      ? traceSlice(whole, {
          ...(window ? { fromMs: window[0] * 60_000, toMs: window[1] * 60_000 } : {}),
          ...(counts ? { minInvocations: counts[0], maxInvocations: counts[1] } : {}),
        })
      : whole;
  if (trace.functions.length === 0)
    throw new CliError('no trace function has invocations in that --window and --invocations range');
  const invocations = trace.functions.reduce((n, f) => n + f.startsMs.length, 0);
  say(
    `replaying ${trace.functions.length} functions, ${invocations} invocations, ${(trace.horizonMs / 60_000).toFixed(1)} min of trace in ~${(trace.horizonMs / speedup / 1000).toFixed(0)} s (×${speedup})`,
  );
  // The system clock's timers do not keep the process alive on their own; this does, until done.
  const alive = setInterval(() => undefined, 1000);
  try {
    const result = await replayTrace({
      url: client.endpoint.url,
      apiKey: client.endpoint.key,
      trace,
      speedup,
      keepAliveMs: keepAliveMin * 60_000,
      mode,
      memoryScale,
      ...(flags.policy ? { keepAlivePolicy: flags.policy } : {}),
      say,
    });
    // The simulator's answer for the same trace, timeline and policy (greedy-dual has none).
    const simulated =
      flags.policy && flags.policy !== 'greedy-dual'
        ? predictReplay(trace, {
            speedup,
            keepAliveMs: keepAliveMin * 60_000,
            policy: flags.policy,
            coldStartMs: medianColdOverheadMs(trace, speedup, result.records),
          })
        : undefined;
    const summary = {
      trace: resolve(flags.trace),
      speedup,
      keepAliveMin,
      policy: flags.policy ?? '(platform default)',
      ...(trace.minuteArrivals ? { minuteArrivals: trace.minuteArrivals } : {}),
      ...(window ? { windowMin: [window[0], window[1]] } : {}),
      functions: trace.functions.length,
      invocations: result.invocations,
      coldStarts: result.coldStarts,
      coldStartPct: (100 * result.coldStarts) / Math.max(1, result.invocations),
      errors: result.errors,
      ...(simulated
        ? { simulated: { coldStarts: simulated.coldStarts, coldStartMs: simulated.coldStartMs } }
        : {}),
    };
    if (flags.out)
      writeFileSync(
        resolve(flags.out),
        JSON.stringify({ ...summary, records: result.records }, null, 2) + '\n',
      );
    if (flags.json) console.log(JSON.stringify(summary));
    else {
      say(
        `${result.invocations} invocations: ${result.coldStarts} cold (${summary.coldStartPct.toFixed(2)} %), ${result.errors} errors${flags.out ? `; records in ${flags.out}` : ''}`,
      );
      if (simulated)
        say(
          `simulator, same trace, timeline and policy (${simulated.policy}), cold starts of ${simulated.coldStartMs.toFixed(0)} ms ` +
            `(this run's median beyond execution): ${simulated.coldStarts} cold; live ÷ simulated = ` +
            `${(result.coldStarts / Math.max(1, simulated.coldStarts)).toFixed(2)}`,
        );
      else if (!flags.policy) say('pass --policy to compare with the simulator for the same policy');
    }
  } finally {
    clearInterval(alive);
  }
}
