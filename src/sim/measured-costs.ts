/**
 * Model inputs taken from measurements, not constants: the sandbox cold starts of
 * `bench/results/sandbox.json` (written by `npm run bench:sandbox`), the cluster benchmark's own
 * function's among them. The distribution scenarios read
 * them from the results directory they write to, else from the repository's `bench/results/`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KindlingError } from '../core/errors.js';

/** The repository's `bench/results/` (this file runs from dist/src/sim/). */
export const REPO_RESULTS = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

/** The first of `names` found in `outDir`, else the first in the repository's results; undefined if none. */
export function findResult(outDir: string, names: readonly string[]): string | undefined {
  for (const dir of [outDir, REPO_RESULTS])
    for (const name of names) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
  return undefined;
}

/** `file` as results files should name it: relative to the repository when inside it. */
export function displayPath(file: string): string {
  const rel = relative(join(REPO_RESULTS, '..', '..'), file);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

/** A measured sandbox cold start: where it came from and its median. */
export interface MeasuredStart {
  file: string;
  tier: string;
  coldP50Ms: number;
}

interface SandboxFile {
  tiers?: Record<string, { coldP50Ms?: unknown }>;
  meta?: { bigFunction?: { startupMiB?: unknown } };
}

function readSandboxFile(outDir: string): { file: string; doc: SandboxFile } {
  const file = findResult(outDir, ['sandbox.json']);
  if (!file)
    throw new KindlingError(
      'KINDLING_NOT_FOUND',
      `no sandbox.json in ${outDir} or ${REPO_RESULTS}: run \`npm run bench:sandbox\` first (the simulator takes container start costs from it)`,
    );
  return { file, doc: JSON.parse(readFileSync(file, 'utf8')) as SandboxFile };
}

function coldP50(doc: SandboxFile, tier: string): number | undefined {
  const v = doc.tiers?.[tier]?.coldP50Ms;
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

/** The median cold start of `tier` in sandbox.json; KINDLING_NOT_FOUND naming the fix when absent. */
export function sandboxColdStart(outDir: string, tier: string): MeasuredStart {
  const { file, doc } = readSandboxFile(outDir);
  const v = coldP50(doc, tier);
  if (v === undefined)
    throw new KindlingError(
      'KINDLING_NOT_FOUND',
      `${file} has no coldP50Ms for tier "${tier}"; tiers there: ${Object.keys(doc.tiers ?? {}).join(', ')}`,
      { file, tier },
    );
  return { file: displayPath(file), tier, coldP50Ms: v };
}

/** The cluster benchmark's function started by `npm run bench:sandbox`, and what it reads at start. */
export interface MeasuredBigFunctionStart extends MeasuredStart {
  startupMiB: number;
}

/**
 * The cold start of the cluster benchmark's own function (`bench/lib/big-function.ts`: it reads
 * its startup file at load), the faster of the process tier's plain and runtime-snapshot starts as a
 * cluster worker's trial picks; undefined when sandbox.json predates those rows.
 */
export function bigFunctionColdStart(outDir: string): MeasuredBigFunctionStart | undefined {
  const { file, doc } = readSandboxFile(outDir);
  const startupMiB = doc.meta?.bigFunction?.startupMiB;
  if (typeof startupMiB !== 'number' || !(startupMiB > 0)) return undefined;
  let best: MeasuredBigFunctionStart | undefined;
  for (const tier of ['process/plain (big function)', 'process/runtime-snapshot (big function)']) {
    const v = coldP50(doc, tier);
    if (v !== undefined && (!best || v < best.coldP50Ms))
      best = { file: displayPath(file), tier, coldP50Ms: v, startupMiB };
  }
  return best;
}

/**
 * The part of its image the cluster benchmark's function reads at start (`startup.bin`; the rest of
 * its node_modules is never read): its startup working set. Slacker measured 6.4% at container start.
 */
export const DIST_BENCH_STARTUP_FRACTION = 1 / 16;

/** MiB the cluster benchmark's function reads at start from an image of `imageMiB`. */
export function distBenchStartupMiB(imageMiB: number): number {
  return imageMiB * DIST_BENCH_STARTUP_FRACTION;
}

/** One run of the cluster benchmark, as `bench/dist.ts` writes it to `bench/results/dist.json`. */
export interface DistBenchRun {
  strategy: string;
  lazy: boolean;
  hosts: number;
  /** Day of the measurement (YYYY-MM-DD); absent in runs before it was recorded. */
  date?: string;
  allReadyS: number;
  p50ReadyS: number;
  registryMiB: number;
  peerMiB: number;
  /** Mean MiB a host fetched before its sandbox could start (the whole image unless lazy). */
  startMiB: number;
  /** Longest time a host took to have the whole image local (after the handler ran, when lazy). */
  wholeImageS: number;
  /** Seconds each host took, in host order. */
  readyS: number[];
  failures: number;
  /**
   * Median and maximum of each cold-start phase over the N invocations, in ms (where the time went:
   * `fetch` is the blocks needed before start, `queue` includes waiting for the host's manifest).
   */
  phasesP50Ms?: Partial<Record<string, number>>;
  phasesMaxMs?: Partial<Record<string, number>>;
  /** False in a `--ab-priority` comparison run whose hosts fetched the rest as foreground. */
  backgroundPriority?: boolean;
  /**
   * How the links queued (`src/cluster/link-shaping.ts`): a fair queue per peer, or one FIFO.
   * Runs measured before the links had fair queues (2026-12-06) lack it: their links were token
   * buckets with one FIFO.
   */
  linkQueue?: 'fair' | 'fifo';
  /**
   * True where the hosts asked servers to send their blocks one at a time (`--requester-turns`):
   * `--ab-turns` comparison runs, and the medians of the night of 2026-12-06, when that was the
   * default. Absent: without turns.
   */
  requesterTurns?: boolean;
  /**
   * One-way delay per link end, ms (`--latency`, `--ab-latency`): netem's where the kernel has it,
   * else a delay line's (`src/cluster/delay-line.ts`). Absent: no delay.
   */
  latencyMs?: number;
  /**
   * CPU time the whole machine spent (every process: control plane, workers, sandboxes, the
   * benchmark) from the cold-start requests until the last host answered, seconds; and that as a
   * share of the machine's cores over the same time. Absent in runs before it was recorded.
   */
  waveCpuS?: number;
  waveCpuShare?: number;
  /**
   * The wave's CPU seconds by who spent them (`control plane`, `workers`, `sandboxes`,
   * `benchmark`, `kernel threads`, `interrupts`, `other`; processes that ended during the wave
   * are missing).
   */
  waveCpuByRoleS?: Partial<Record<string, number>>;
  /**
   * With `bench:dist --repeat K`: the point was measured K times and this record is the run with
   * the median all-ready time (the lower middle one when K is even), so its other fields belong to
   * the same run; every run's all-ready and median-host times, in the order they were measured.
   * Absent when the point was measured once.
   */
  repeats?: { allReadyS: number[]; p50ReadyS: number[] };
}

/** The cluster benchmark's results file. */
export interface DistBenchResult {
  imageMiB: number;
  network: 'netns' | 'loopback';
  nicMbit: number;
  registryNicMbit: number;
  machine: { cpus: number; node: string };
  runs: DistBenchRun[];
}

/**
 * Folds repeated measurements of the same point (same `series(run)` and host count) into one run
 * each: the run with the median all-ready time (the lower middle one for an even count, so the
 * record is a run that happened, not an average of runs), carrying every repeat's all-ready and
 * median-host times in measurement order. Points keep the order of their first measurement.
 */
export function medianRuns(
  runs: readonly DistBenchRun[],
  series: (run: DistBenchRun) => string,
): DistBenchRun[] {
  const groups = new Map<string, DistBenchRun[]>();
  for (const r of runs) {
    const key = `${series(r)}@${r.hosts}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()].map((g) => {
    if (g.length === 1) return g[0]!;
    const sorted = [...g].sort((a, b) => a.allReadyS - b.allReadyS);
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    return {
      ...median,
      repeats: { allReadyS: g.map((r) => r.allReadyS), p50ReadyS: g.map((r) => r.p50ReadyS) },
    };
  });
}
