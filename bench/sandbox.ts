/**
 * `npm run bench:sandbox` — every sandbox tier and start path side by side, with the physical floors
 * measured in the same run:
 *  - cold start p50/p99: from `tier.start()` to the first invocation's result (request to handler
 *    running and answering), with the phase breakdown;
 *  - idle memory per instance: PSS from /proc/<pid>/smaps_rollup (shared pages divided among the
 *    processes that share them), and the density that implies in 2 GiB;
 *  - floors: fork/exec of /bin/true, a bare `node -e 0`, and `crun run` of a static busybox `true`
 *    (when crun and busybox-static are installed).
 * The "(big function)" rows start the cluster benchmark's function (`bench/lib/big-function.ts`,
 * reading the 16 MiB startup file of its full run's image at load): the simulator's calibration takes
 * that function's start from them.
 * Writes bench/results/sandbox.json and sandbox.svg. `--quick` for a short run; `--only TEXT` measures
 * only the rows whose key contains TEXT, and `--merge` puts them into the existing results file,
 * keeping its other rows (each row carries the date it was measured):
 *
 *   npm run bench:sandbox -- --only "big function" --merge
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, sortedCopy } from '../src/core/stats.js';
import { createContainerTier } from '../src/sandbox/container/index.js';
import { createIsolateTier } from '../src/sandbox/isolate/index.js';
import { createProcessTier, defaultBaseEnv, type ProcessTier } from '../src/sandbox/process/index.js';
import type { InstanceSpec, SandboxInstance, SandboxTier } from '../src/sandbox/tier.js';
import { hbarChart, svgDocument } from './lib/svg-plot.js';
import { crunTrueFloor } from './lib/crun-floor.js';
import { writeBigFunction } from './lib/big-function.js';
import { distBenchStartupMiB } from '../src/sim/measured-costs.js';

const quick = process.argv.includes('--quick');
const merge = process.argv.includes('--merge');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
if (onlyAt >= 0 && !only) throw new Error('--only needs the text of the row keys to measure');
if (only !== undefined && !merge)
  throw new Error('--only measures some rows: add --merge to put them into the existing results file');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = quick ? 15 : 60;
const IDLE_INSTANCES = quick ? 4 : 10;
const round = (n: number) => Math.round(n * 100) / 100;
/** The cluster benchmark's function reads this much at start in its full run (256 MiB image). */
const BIG_STARTUP_MIB = distBenchStartupMiB(256);

/** One tier and start path under test. */
interface Subject {
  key: string;
  tier: SandboxTier;
  /** The function's entry file in the code directory. */
  entry: string;
  /** Before the runs, outside the timed part (e.g. prepare a container bundle, build a snapshot). */
  setup?: () => Promise<void>;
  /** Instances share the host process (isolates): its PSS is divided among them. */
  sharesHost?: boolean;
  /** Called before each cold start, outside the timed part (e.g. let the stem-cell pool refill). */
  beforeStart?: () => Promise<void>;
  /** Idle memory of one instance in bytes, when the tier has its own way to say it. */
  idleBytes?: (instance: SandboxInstance) => number | undefined;
}

interface TierResult {
  startPaths: Record<string, number>;
  coldP50Ms: number;
  coldP99Ms: number;
  idleMemMiB: number;
  density2GiB: number;
  phasesP50: { sandbox: number; runtime: number; init: number; exec: number };
  runs: number;
  /** When this row was measured (rows of a `--merge` run are newer than the file's others). */
  date?: string;
}

/** PSS of a process and all its descendants (a container's node runs under crun). */
export function treePssBytes(pid: number): number | undefined {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  let total = 0;
  let found = false;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    const pss = pssBytes(p);
    if (pss !== undefined) {
      total += pss;
      found = true;
    }
    stack.push(...(children.get(p) ?? []));
  }
  return found ? total : undefined;
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

function spec(codeDir: string, n: number, entry = 'index.cjs'): InstanceSpec {
  return {
    instanceId: `bench-${n}`,
    functionName: 'bench',
    functionVersion: 1,
    codeDir,
    entry,
    env: {},
    memoryMb: 128,
    concurrency: 1,
    logLimitBytes: 64 * 1024,
  };
}

async function measure(subject: Subject, codeDir: string): Promise<TierResult> {
  await subject.setup?.();
  const totals: number[] = [];
  const startPaths: Record<string, number> = {};
  const phases = {
    sandbox: [] as number[],
    runtime: [] as number[],
    init: [] as number[],
    exec: [] as number[],
  };
  for (let i = 0; i < RUNS; i++) {
    await subject.beforeStart?.();
    const t0 = performance.now();
    const instance = await subject.tier.start(spec(codeDir, i, subject.entry));
    const outcome = await instance.invoke({ requestId: `r${i}`, event: { n: i }, timeoutMs: 10_000 });
    totals.push(performance.now() - t0);
    startPaths[instance.timings.startPath] = (startPaths[instance.timings.startPath] ?? 0) + 1;
    if (!outcome.ok) throw new Error(`${subject.key}: ${outcome.error.message}`);
    phases.sandbox.push(instance.timings.sandboxMs);
    phases.runtime.push(instance.timings.runtimeMs);
    phases.init.push(instance.timings.initMs);
    phases.exec.push(outcome.execMs);
    await instance.stop();
  }
  // Idle memory: several instances at rest, each having served one invocation.
  await subject.beforeStart?.();
  const hostBefore = pssBytes(process.pid) ?? 0;
  const idle: SandboxInstance[] = [];
  // Isolates are cheap and share the host: measure them at a realistic density.
  const idleCount = subject.sharesHost ? IDLE_INSTANCES * 10 : IDLE_INSTANCES;
  for (let i = 0; i < idleCount; i++) {
    const instance = await subject.tier.start(spec(codeDir, 1000 + i, subject.entry));
    await instance.invoke({ requestId: `idle${i}`, event: {}, timeoutMs: 10_000 });
    idle.push(instance);
    await subject.beforeStart?.();
  }
  await new Promise((r) => setTimeout(r, 200));
  // Isolates: each one's heap, plus an equal share of the host process they all live in.
  const hostShare = subject.sharesHost ? Math.max(0, pssBytes(process.pid) ?? 0) / idle.length : 0;
  const sizes = idle
    .map((i) =>
      subject.sharesHost
        ? (i.memoryBytes() ?? 0) + hostShare
        : i.pid !== undefined
          ? treePssBytes(i.pid)
          : undefined,
    )
    .filter((b): b is number => b !== undefined);
  // Density in 2 GiB: for isolates, what is left after the host process, divided by what one adds.
  const hostGrowthPerInstance = subject.sharesHost
    ? Math.max(0, (pssBytes(process.pid) ?? 0) - hostBefore) / idle.length
    : 0;
  await Promise.all(idle.map((i) => i.stop()));
  const idleMiB = sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length / (1024 * 1024) : NaN;
  const perInstanceMiB = subject.sharesHost ? hostGrowthPerInstance / (1024 * 1024) : idleMiB;
  const reservedMiB = subject.sharesHost ? hostBefore / (1024 * 1024) : 0;
  const p50 = (xs: number[]) => round(percentile(sortedCopy(xs), 50));
  return {
    coldP50Ms: p50(totals),
    coldP99Ms: round(percentile(sortedCopy(totals), 99)),
    idleMemMiB: round(idleMiB),
    density2GiB: perInstanceMiB > 0 ? Math.floor((2048 - reservedMiB) / perInstanceMiB) : 0,
    phasesP50: {
      sandbox: p50(phases.sandbox),
      runtime: p50(phases.runtime),
      init: p50(phases.init),
      exec: p50(phases.exec),
    },
    runs: totals.length,
    startPaths,
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

  // A function with 100 ms of top-level work, to show what a snapshot saves.
  writeFileSync(
    join(codeDir, 'slow.cjs'),
    'const t = Date.now(); let x = 0; while (Date.now() - t < 100) x++;\nexports.handler = async (event) => ({ ok: x > 0, n: event.n ?? 0 });\n',
  );
  writeFileSync(
    join(codeDir, 'portable.mjs'),
    'export default async (event) => ({ ok: true, n: event.n ?? 0 });\n',
  );
  // The cluster benchmark's function (bench/lib/big-function.ts): reads its startup file at load.
  writeBigFunction(codeDir, { entry: 'big.cjs', startupMiB: BIG_STARTUP_MIB });
  const plain = createProcessTier();
  const stem: ProcessTier = createProcessTier({ stemCells: { perMemoryMb: 1, memoryMb: [128] } });
  const snap: ProcessTier = createProcessTier({
    snapshots: { dir: join(work, 'snapshots'), runtime: 'always' },
  });
  const container = createContainerTier({ stateDir: join(work, 'containers') });
  const containerCells = createContainerTier({
    stateDir: join(work, 'container-cells'),
    stemCells: { perMemoryMb: 1 },
  });
  const subjects: Subject[] = [
    { key: 'process/plain', tier: plain, entry: 'index.cjs' },
    { key: 'process/stem-cell', tier: stem, entry: 'index.cjs', beforeStart: () => stem.stemCellsSettled() },
    {
      key: 'process/runtime-snapshot',
      tier: snap,
      entry: 'index.cjs',
      setup: async () => void (await snap.runtimeSnapshotFor(128)),
    },
    { key: 'process/plain (100 ms init)', tier: plain, entry: 'slow.cjs' },
    {
      key: 'process/snapshot (100 ms init)',
      tier: snap,
      entry: 'slow.cjs',
      // One plain start shows the slow init; then the snapshot is built, outside the timed runs.
      setup: async () => {
        const first = await snap.start(spec(codeDir, -1, 'slow.cjs'));
        await first.stop();
        await snap.snapshotFor(spec(codeDir, -1, 'slow.cjs'));
      },
    },
    // What the simulator's calibration takes as the cluster benchmark's start (a worker's process
    // tier starts plain or from the runtime snapshot, whichever its trial found faster).
    { key: 'process/plain (big function)', tier: plain, entry: 'big.cjs' },
    {
      key: 'process/runtime-snapshot (big function)',
      tier: snap,
      entry: 'big.cjs',
      setup: async () => void (await snap.runtimeSnapshotFor(128)),
    },
    { key: 'isolate/plain', tier: createIsolateTier(), entry: 'index.cjs', sharesHost: true },
    {
      key: 'container/prepared',
      tier: container,
      entry: 'index.cjs',
      setup: () => container.prepare(spec(codeDir, -2)),
    },
    {
      key: 'container/stem-cell',
      tier: containerCells,
      entry: 'index.cjs',
      // One start teaches the pool the memory size; then a cell is always ready before each start.
      setup: async () => {
        await (await containerCells.start(spec(codeDir, -3))).stop();
      },
      beforeStart: () => containerCells.cellsSettled(),
    },
  ];
  const chosen = subjects.filter((s) => only === undefined || s.key.includes(only));
  if (chosen.length === 0)
    throw new Error(`--only "${only}" matches no row; the rows: ${subjects.map((s) => s.key).join(', ')}`);
  const tiers: Record<string, TierResult> = {};
  try {
    for (const subject of chosen) {
      tiers[subject.key] = await measure(subject, codeDir);
      console.log(subject.key, JSON.stringify(tiers[subject.key]));
    }
  } finally {
    await Promise.all([...new Set(subjects.map((s) => s.tier))].map((t) => t.close()));
    rmSync(work, { recursive: true, force: true });
  }

  const date = new Date().toISOString();
  for (const t of Object.values(tiers)) t.date = date;
  const fresh = {
    tiers,
    floors,
    meta: {
      quick,
      runs: RUNS,
      idleInstances: IDLE_INSTANCES,
      /** The "(big function)" rows: the cluster benchmark's function, reading this much at start. */
      bigFunction: { startupMiB: BIG_STARTUP_MIB, code: 'bench/lib/big-function.ts' },
      node: process.version,
      date,
      env: Object.keys(defaultBaseEnv()),
    },
  };
  const out = join(repo, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const name = quick ? 'sandbox-quick' : 'sandbox';
  const result = merge ? mergeInto(join(out, `${name}.json`), fresh) : fresh;
  writeFileSync(join(out, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(out, `${name}.svg`), plot(result));
  console.log(`wrote bench/results/${name}.json and ${name}.svg`);
}

/**
 * The results file at `file` with `fresh`'s rows put in (replacing rows of the same key); the run's
 * floors and date are kept in `meta.merged`, beside the rows they belong to.
 */
function mergeInto(file: string, fresh: { tiers: Record<string, TierResult>; floors: object; meta: object }) {
  if (!existsSync(file)) throw new Error(`--merge: no results at ${file} to merge into; run without --merge`);
  const old = JSON.parse(readFileSync(file, 'utf8')) as {
    tiers: Record<string, TierResult>;
    floors: { forkExecMs: number; bareNodeMs: number; crunTrueMs: number | null };
    meta: { merged?: object[] } & Record<string, unknown>;
  };
  const { bigFunction } = fresh.meta as { bigFunction: unknown };
  return {
    tiers: { ...old.tiers, ...fresh.tiers },
    floors: old.floors,
    meta: {
      ...old.meta,
      bigFunction,
      merged: [
        ...(old.meta.merged ?? []),
        { tiers: Object.keys(fresh.tiers), floors: fresh.floors, meta: fresh.meta },
      ],
    },
  };
}

/** Cold start beside the floors, and idle memory per instance. */
function plot(result: {
  tiers: Record<string, TierResult>;
  floors: { forkExecMs: number; bareNodeMs: number; crunTrueMs: number | null };
}): string {
  const floors = [
    { label: 'floor: fork/exec /bin/true', value: result.floors.forkExecMs, series: 'floor' },
    { label: 'floor: bare node -e 0', value: result.floors.bareNodeMs, series: 'floor' },
    ...(result.floors.crunTrueMs !== null
      ? [{ label: 'floor: crun run busybox true', value: result.floors.crunTrueMs, series: 'floor' }]
      : []),
  ];
  const tiers = Object.entries(result.tiers);
  return svgDocument(
    [
      hbarChart(
        'Cold start p50: start → first result',
        'ms',
        [...floors, ...tiers.map(([key, t]) => ({ label: key, value: t.coldP50Ms, series: 'kindling' }))],
        640,
        340,
      ),
      hbarChart(
        'Idle memory per instance (PSS; isolates: heap + host share)',
        'MiB',
        tiers.map(([key, t]) => ({ label: key, value: t.idleMemMiB, series: 'kindling' })),
        640,
        340,
      ),
    ],
    640,
    340,
  );
}

if (process.argv.includes('--plot-only')) {
  const file = join(repo, 'bench', 'results', `${quick ? 'sandbox-quick' : 'sandbox'}.json`);
  if (!existsSync(file)) throw new Error(`no results at ${file}; run the benchmark first`);
  writeFileSync(file.replace(/\.json$/, '.svg'), plot(JSON.parse(readFileSync(file, 'utf8'))));
} else {
  await main();
}
