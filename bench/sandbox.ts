/**
 * `npm run bench:sandbox` — every sandbox tier and start path side by side, with the physical floors
 * measured in the same run:
 *  - cold start p50/p99: from `tier.start()` to the first invocation's result (request to handler
 *    running and answering), with the phase breakdown;
 *  - idle memory per instance: PSS from /proc/<pid>/smaps_rollup (shared pages divided among the
 *    processes that share them), and the density that implies in 2 GiB;
 *  - floors: fork/exec of /bin/true, a bare `node -e 0`, and `crun run` of a static busybox `true`
 *    (when crun and busybox-static are installed).
 * Writes bench/results/sandbox.json and sandbox.svg. `--quick` for a short run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, sortedCopy } from '../src/core/stats.js';
import { createProcessTier, defaultBaseEnv, type ProcessTier } from '../src/sandbox/process/index.js';
import type { InstanceSpec, SandboxInstance, SandboxTier } from '../src/sandbox/tier.js';
import { barChart, svgDocument } from './lib/svg-plot.js';
import { crunTrueFloor } from './lib/crun-floor.js';

const quick = process.argv.includes('--quick');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = quick ? 15 : 60;
const IDLE_INSTANCES = quick ? 4 : 10;
const round = (n: number) => Math.round(n * 100) / 100;

/** One tier and start path under test. */
interface Subject {
  key: string;
  tier: SandboxTier;
  /** Called before each cold start, outside the timed part (e.g. let the stem-cell pool refill). */
  beforeStart?: () => Promise<void>;
  /** Idle memory of one instance in bytes, when the tier has its own way to say it. */
  idleBytes?: (instance: SandboxInstance) => number | undefined;
}

interface TierResult {
  coldP50Ms: number;
  coldP99Ms: number;
  idleMemMiB: number;
  density2GiB: number;
  phasesP50: { sandbox: number; runtime: number; init: number; exec: number };
  runs: number;
}

/** PSS of a process in bytes (its fair share of shared pages), from smaps_rollup. */
export function pssBytes(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function spec(codeDir: string, n: number): InstanceSpec {
  return {
    instanceId: `bench-${n}`,
    functionName: 'bench',
    functionVersion: 1,
    codeDir,
    entry: 'index.cjs',
    env: {},
    memoryMb: 128,
    concurrency: 1,
    logLimitBytes: 64 * 1024,
  };
}

async function measure(subject: Subject, codeDir: string): Promise<TierResult> {
  const totals: number[] = [];
  const phases = {
    sandbox: [] as number[],
    runtime: [] as number[],
    init: [] as number[],
    exec: [] as number[],
  };
  for (let i = 0; i < RUNS; i++) {
    await subject.beforeStart?.();
    const t0 = performance.now();
    const instance = await subject.tier.start(spec(codeDir, i));
    const outcome = await instance.invoke({ requestId: `r${i}`, event: { n: i }, timeoutMs: 10_000 });
    totals.push(performance.now() - t0);
    if (!outcome.ok) throw new Error(`${subject.key}: ${outcome.error.message}`);
    phases.sandbox.push(instance.timings.sandboxMs);
    phases.runtime.push(instance.timings.runtimeMs);
    phases.init.push(instance.timings.initMs);
    phases.exec.push(outcome.execMs);
    await instance.stop();
  }
  // Idle memory: several instances at rest, each having served one invocation.
  await subject.beforeStart?.();
  const idle: SandboxInstance[] = [];
  for (let i = 0; i < IDLE_INSTANCES; i++) {
    const instance = await subject.tier.start(spec(codeDir, 1000 + i));
    await instance.invoke({ requestId: `idle${i}`, event: {}, timeoutMs: 10_000 });
    idle.push(instance);
    await subject.beforeStart?.();
  }
  await new Promise((r) => setTimeout(r, 200));
  const sizes = idle
    .map((i) => subject.idleBytes?.(i) ?? (i.pid !== undefined ? pssBytes(i.pid) : undefined))
    .filter((b): b is number => b !== undefined);
  await Promise.all(idle.map((i) => i.stop()));
  const idleMiB = sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length / (1024 * 1024) : NaN;
  const p50 = (xs: number[]) => round(percentile(sortedCopy(xs), 50));
  return {
    coldP50Ms: p50(totals),
    coldP99Ms: round(percentile(sortedCopy(totals), 99)),
    idleMemMiB: round(idleMiB),
    density2GiB: Number.isFinite(idleMiB) ? Math.floor(2048 / idleMiB) : 0,
    phasesP50: {
      sandbox: p50(phases.sandbox),
      runtime: p50(phases.runtime),
      init: p50(phases.init),
      exec: p50(phases.exec),
    },
    runs: totals.length,
  };
}

/** Median wall time of `runs` runs of a command, each to its exit. */
async function commandFloor(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: 'ignore', env });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
    });
    times.push(performance.now() - t0);
  }
  return round(percentile(sortedCopy(times), 50));
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kindling-bench-sandbox-'));
  const codeDir = join(work, 'fn');
  mkdirSync(codeDir);
  writeFileSync(
    join(codeDir, 'index.cjs'),
    'exports.handler = async (event) => ({ ok: true, n: event.n ?? 0 });\n',
  );
  const minimalEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() };

  const floors = {
    forkExecMs: await commandFloor('/bin/true', [], minimalEnv),
    bareNodeMs: await commandFloor(process.execPath, ['-e', '0'], minimalEnv),
    crunTrueMs: null as number | null,
    crunNote: '' as string,
  };
  const crun = await crunTrueFloor(work, RUNS);
  if (typeof crun === 'number') floors.crunTrueMs = round(crun);
  else floors.crunNote = crun;
  console.log('floors', JSON.stringify(floors));

  const plain = createProcessTier();
  const stem: ProcessTier = createProcessTier({ stemCells: { perMemoryMb: 1, memoryMb: [128] } });
  const subjects: Subject[] = [
    { key: 'process/plain', tier: plain },
    { key: 'process/stem-cell', tier: stem, beforeStart: () => stem.stemCellsSettled() },
  ];
  const tiers: Record<string, TierResult> = {};
  try {
    for (const subject of subjects) {
      tiers[subject.key] = await measure(subject, codeDir);
      console.log(subject.key, JSON.stringify(tiers[subject.key]));
    }
  } finally {
    await Promise.all(subjects.map((s) => s.tier.close()));
    rmSync(work, { recursive: true, force: true });
  }

  const result = {
    tiers,
    floors,
    meta: {
      quick,
      runs: RUNS,
      idleInstances: IDLE_INSTANCES,
      node: process.version,
      date: new Date().toISOString(),
      env: Object.keys(defaultBaseEnv()),
    },
  };
  const out = join(repo, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const name = quick ? 'sandbox-quick' : 'sandbox';
  writeFileSync(join(out, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(out, `${name}.svg`), plot(result));
  console.log(`wrote bench/results/${name}.json and ${name}.svg`);
}

/** Cold start beside the floors, and idle memory per instance. */
function plot(result: {
  tiers: Record<string, TierResult>;
  floors: { forkExecMs: number; bareNodeMs: number; crunTrueMs: number | null };
}): string {
  const floorBars = [
    { name: 'fork/exec true', value: result.floors.forkExecMs },
    { name: 'bare node -e 0', value: result.floors.bareNodeMs },
    ...(result.floors.crunTrueMs !== null
      ? [{ name: 'crun run true', value: result.floors.crunTrueMs }]
      : []),
  ];
  return svgDocument(
    [
      barChart(
        'Cold start p50 (start → first result)',
        'ms',
        [
          { label: 'floors', bars: floorBars },
          ...Object.entries(result.tiers).map(([key, t]) => ({
            label: key,
            bars: [{ name: 'kindling', value: t.coldP50Ms }],
          })),
        ],
        640,
      ),
      barChart(
        'Idle memory per instance (PSS)',
        'MiB',
        Object.entries(result.tiers).map(([key, t]) => ({
          label: key,
          bars: [{ name: 'kindling', value: t.idleMemMiB }],
        })),
        640,
      ),
    ],
    640,
  );
}

if (process.argv.includes('--plot-only')) {
  const file = join(repo, 'bench', 'results', `${quick ? 'sandbox-quick' : 'sandbox'}.json`);
  if (!existsSync(file)) throw new Error(`no results at ${file}; run the benchmark first`);
  writeFileSync(file.replace(/\.json$/, '.svg'), plot(JSON.parse(readFileSync(file, 'utf8'))));
} else {
  await main();
}
