/** `kindling sim <scenario>`: runs a simulator scenario (see `src/sim/scenarios/`). */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KindlingError } from '../../core/errors.js';
import { getScenario, scenarioNames } from '../../sim/scenarios/index.js';
import { parseMinuteArrivals, type MinuteArrivals } from '../../trace/azure2019.js';
import { CliError } from '../cli-error.js';

export interface SimFlags {
  trace?: string[];
  out?: string;
  minuteArrivals?: string;
  json?: boolean;
}

/** The repository root (this file runs from dist/src/cli/commands/). */
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** Where traces live when `--trace` is not given: KINDLING_TRACES, else `../shared/data/traces/` next to the repository. */
export function defaultTraceRoot(): string {
  return process.env.KINDLING_TRACES ?? resolve(repoRoot, '..', 'shared', 'data', 'traces');
}

/** Every trace directory (one holding an invocations.csv) under `root`, sorted. */
export function traceDirsUnder(root: string): string[] {
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new CliError(
      `no --trace given and the trace directory ${root} does not exist; pass --trace DIR or set KINDLING_TRACES`,
    );
  const dirs = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'invocations.csv')))
    .map((e) => join(root, e.name))
    .sort();
  if (dirs.length === 0) throw new CliError(`no trace directories (with an invocations.csv) under ${root}`);
  return dirs;
}

/** `--minute-arrivals`, validated (a CliError naming the accepted models otherwise). */
export function minuteArrivalsFlag(text: string): MinuteArrivals {
  try {
    return parseMinuteArrivals(text);
  } catch (err) {
    if (KindlingError.is(err)) throw new CliError(`invalid --minute-arrivals: ${err.message}`, err.code);
    throw err;
  }
}

export async function sim(scenarioName: string, flags: SimFlags): Promise<void> {
  let scenario;
  try {
    scenario = getScenario(scenarioName);
  } catch (err) {
    if (KindlingError.is(err)) throw new CliError(err.message, err.code);
    throw err;
  }
  const traces = flags.trace?.length
    ? flags.trace.map((t) => resolve(t))
    : traceDirsUnder(defaultTraceRoot());
  const outDir = resolve(flags.out ?? join(repoRoot, 'bench', 'results'));
  const say = flags.json ? () => {} : (line: string) => console.log(line);
  const minuteArrivals =
    flags.minuteArrivals !== undefined ? minuteArrivalsFlag(flags.minuteArrivals) : undefined;
  const result = await scenario.run({ traces, outDir, say, ...(minuteArrivals ? { minuteArrivals } : {}) });
  if (flags.json) console.log(JSON.stringify(result, null, 2));
}

/** For `--help`. */
export function simHelp(): string {
  return `scenarios: ${scenarioNames().join(', ')}`;
}
