/**
 * `npm run bench:dist`: image distribution on a real test cluster. For each strategy and host count
 * N, a fresh cluster (control plane + N workers, each in its own network namespace with tc-shaped
 * links: 100 Mbit/s hosts, 200 Mbit/s registry) gets a function with a large node_modules deployed,
 * then a cold start of it on all N hosts at once (admin placement, `?host=`). Recorded per run: the
 * time until each host has run the handler (p50 and max) and the bytes the registry and the peers
 * served (from every worker's `GET /v1/worker/distribution`). The one-host runs are the simulator's
 * calibration reference (`src/sim/one-host-reference.ts`): what the cluster's processes spend per MiB.
 *
 *   npm run bench:dist                      # 256 MiB image, N = 1, 2, 4, 8, 16 (about 55 minutes)
 *   npm run bench:dist -- --quick           # 64 MiB image, N = 1, 2, 4, 8 (results in dist-quick.json)
 *   npm run bench:dist -- --mib 32 --hosts 2,4 # a custom run (also written to dist-quick.json)
 *   npm run bench:dist -- --strategies swarm --merge   # re-measure one strategy, keep the other runs
 *   npm run bench:dist -- --hosts 1 --merge # re-measure the one-host runs, keep the other runs
 *   npm run bench:dist -- --variants tree+lazy,registry+lazy [--merge]   # only these variants
 *   npm run bench:dist -- --ab-queue --variants registry+lazy --hosts 16   # fair queues vs one FIFO
 *   npm run bench:dist -- --ab-turns --variants tree+lazy,swarm --hosts 2,16   # requester turns vs none
 *   npm run bench:dist -- --repeat 3 --variants tree+lazy --merge   # each point 3 times, the median kept
 *   npm run bench:dist -- --latency 1ms --quick   # every link end delays 1 ms (netem or a delay line)
 *   npm run bench:dist -- --ab-latency --latency 1ms --variants tree,tree+lazy --hosts 2,16   # none vs 1 ms
 *   npm run bench:dist -- --plot-only [file]
 *
 * Writes bench/results/dist.json (`{imageMiB, runs: [{strategy, lazy, hosts, allReadyS, p50ReadyS,
 * registryMiB, peerMiB}]}`) and dist.svg. With `--repeat K` every point is measured K times, in K
 * sweeps over all points (so a slow stretch of the shared machine does not land on one point's
 * repeats), and the run with the median all-ready time is kept, with every repeat's times in
 * `repeats`. Needs root and iproute2 for the namespaces; without them it
 * runs a loopback cluster with bandwidth limited in the transport and says so in the JSON.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster } from '../src/cluster/local-cluster.js';
import { parseLinkQueue, type LinkQueue } from '../src/cluster/link-shaping.js';
import { netnsUnavailable, parseLatency } from '../src/cluster/netns.js';
import type { ImageFetchSummary } from '../src/cluster/image-fetch.js';
import {
  distBenchStartupMiB,
  medianRuns,
  type DistBenchResult,
  type DistBenchRun,
} from '../src/sim/measured-costs.js';
import { PHASES, type Phases } from '../src/core/phases.js';
import { writeBigFunction } from './lib/big-function.js';
import { lineChart, svgDocument } from './lib/svg-plot.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cliPath = join(root, 'bin', 'kindling.js');
const outDir = join(root, 'bench', 'results');
/** The clusters' warnings already printed (each says the same for every run). */
const warned = new Set<string>();
const MiB = 1024 * 1024;

type Run = DistBenchRun;
type Result = DistBenchResult;

/** The benchmark's function with an image of `mib` MiB (see bench/lib/big-function.ts). */
function makeFunction(dir: string, mib: number): void {
  const startupMiB = distBenchStartupMiB(mib);
  writeBigFunction(dir, { entry: 'index.js', startupMiB, restMiB: mib - startupMiB });
  writeFileSync(
    join(dir, 'kindling.json'),
    JSON.stringify({ name: 'big', bundle: false, entry: 'index.js' }),
  );
}

/**
 * One measurement. With `lazy`, the cluster has one more host that runs the function's first cold
 * start alone (which records the startup working set) and then leaves, so the N measured hosts all
 * start lazily and the recorder is not left behind as an extra seeder.
 */
async function runOnce(
  fnDir: string,
  strategy: string,
  hosts: number,
  network: 'netns' | 'loopback',
  lazy: boolean,
  {
    backgroundPriority = true,
    linkQueue = 'fair',
    requesterTurns = false,
    latencyMs = 0,
  }: {
    backgroundPriority?: boolean;
    linkQueue?: LinkQueue;
    requesterTurns?: boolean;
    latencyMs?: number;
  } = {},
) {
  const dataDir = mkdtempSync(join(tmpdir(), `kindling-dist-${strategy}-${hosts}-`));
  const cluster = await startLocalCluster({
    network,
    hosts: lazy ? hosts + 1 : hosts,
    nicBitsPerSec: 100e6,
    registryNicBitsPerSec: 200e6,
    linkQueue,
    latencyMs,
    dataDir,
    cliPath,
    controlArgs: ['--distribution', strategy, ...(lazy ? ['--lazy-loading'] : [])],
    workerArgs: [
      ...(backgroundPriority ? [] : ['--no-background-priority']),
      ...(requesterTurns ? ['--requester-turns'] : []),
    ],
    onOutput: (line) => {
      if (/warning|error/i.test(line)) console.error(line);
    },
  });
  for (const w of cluster.warnings.filter((w) => !warned.has(w))) {
    warned.add(w);
    console.log(`note: ${w}`);
  }
  try {
    execFileSync(
      process.execPath,
      [cliPath, '--url', cluster.controlUrl, '--data-dir', join(dataDir, 'control'), 'deploy', fnDir],
      { stdio: 'ignore' },
    );
    const measured = lazy ? cluster.hosts.slice(0, hosts) : cluster.hosts;
    if (lazy) {
      const recorder = cluster.hosts[hosts]!;
      await invokeOn(cluster.controlUrl, cluster.adminKey, recorder.id);
      const fn = (await (
        await fetch(`${cluster.controlUrl}/v1/functions/big/versions/1`, {
          headers: { authorization: `Bearer ${cluster.adminKey}` },
        })
      ).json()) as { imageDigest: string };
      for (let i = 0; ; i++) {
        const r = await fetch(`${cluster.controlUrl}/v1/cluster/working-sets/${fn.imageDigest}`, {
          headers: { authorization: `Bearer ${cluster.adminKey}` },
        });
        if (r.ok) break;
        if (i > 600) throw new Error('no working set was recorded');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await cluster.stop(recorder.id);
    }
    // Read before the clock starts: reading every process costs CPU and time itself.
    const byProcess0 = cpuByProcess();
    const cpu0 = machineCpuS();
    let cpuAtLast = cpu0;
    const t0 = performance.now();
    const times = await Promise.all(
      measured.map(async (h) => {
        const res = await fetch(`${cluster.controlUrl}/v1/functions/big/invoke?host=${h.id}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${cluster.adminKey}` },
          body: '{}',
        });
        const body = await res.text();
        const s = (performance.now() - t0) / 1000;
        cpuAtLast = machineCpuS(); // the last host's answer sets it last
        if (res.status !== 200) console.error(`  ${h.id}: ${res.status} ${body.slice(0, 200)}`);
        return { s, ok: res.status === 200, invocation: res.headers.get('x-kindling-invocation-id') };
      }),
    );
    // Read once, just after the last answer: reading every process costs CPU itself.
    const byProcessAtLast = cpuByProcess();
    // Bytes each host fetched before its sandbox started (the whole image unless lazy).
    const beforeStart: number[] = [];
    const phases: Phases[] = [];
    for (const t of times) {
      if (!t.invocation) continue;
      const r = await fetch(`${cluster.controlUrl}/v1/invocations/${t.invocation}`, {
        headers: { authorization: `Bearer ${cluster.adminKey}` },
      });
      const record = (await r.json()) as {
        fetch?: { bytesFromSource: number; imageBytes?: number };
        phases?: Phases;
      };
      if (record.fetch) beforeStart.push(record.fetch.bytesFromSource);
      if (record.phases) phases.push(record.phases);
    }
    // With lazy loading the rest of the image is still arriving: wait for every host's fetch to end.
    const summaries = new Map<string, ImageFetchSummary>();
    for (let i = 0; summaries.size < measured.length; i++) {
      if (i > 6000) throw new Error('image fetches did not finish within 10 minutes');
      for (const h of measured) {
        if (summaries.has(h.id)) continue;
        const res = await fetch(`${h.url}/v1/worker/distribution`, {
          headers: { authorization: `Bearer ${cluster.adminKey}` },
        });
        const f = ((await res.json()) as { fetches: ImageFetchSummary[] }).fetches.find((x) =>
          x.fn.includes('big'),
        );
        if (f) summaries.set(h.id, f);
      }
      if (summaries.size < measured.length) await new Promise((r) => setTimeout(r, 100));
    }
    let registry = 0;
    let peers = 0;
    let fetchMs = 0;
    for (const f of summaries.values()) {
      registry += f.bytesFromRegistry;
      peers += f.bytesFromPeers;
      fetchMs = Math.max(fetchMs, f.ms);
    }
    const sorted = times.map((t) => t.s).sort((a, b) => a - b);
    const run: Run = {
      strategy,
      lazy,
      hosts,
      date: new Date().toISOString().slice(0, 10),
      allReadyS: round(sorted[sorted.length - 1]!),
      p50ReadyS: round(sorted[Math.floor((sorted.length - 1) / 2)]!),
      registryMiB: round(registry / MiB),
      peerMiB: round(peers / MiB),
      startMiB: round(beforeStart.reduce((a, b) => a + b, 0) / Math.max(1, beforeStart.length) / MiB),
      wholeImageS: round(fetchMs / 1000),
      readyS: times.map((t) => round(t.s)),
      failures: times.filter((t) => !t.ok).length,
      phasesP50Ms: phaseStat(phases, (v) => v[Math.floor((v.length - 1) / 2)]!),
      phasesMaxMs: phaseStat(phases, (v) => v[v.length - 1]!),
      ...(backgroundPriority ? {} : { backgroundPriority }),
      ...(requesterTurns ? { requesterTurns } : {}),
      ...(network === 'netns' ? { linkQueue } : {}),
      ...(latencyMs ? { latencyMs } : {}),
      ...(cpuAtLast !== undefined && cpu0 !== undefined // both or neither: /proc/stat is there or not
        ? {
            waveCpuS: round(cpuAtLast - cpu0),
            waveCpuShare: round((cpuAtLast - cpu0) / (sorted[sorted.length - 1]! * availableParallelism())),
            waveCpuByRoleS: cpuDelta(byProcess0, byProcessAtLast),
          }
        : {}),
    };
    return run;
  } finally {
    await cluster.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const round = (v: number) => Math.round(v * 100) / 100;

/** Who spent CPU: the process roles of a test cluster, Linux's interrupt handling, and the rest. */
type CpuRole =
  | 'control plane'
  | 'workers'
  | 'sandboxes'
  | 'links'
  | 'benchmark'
  | 'kernel threads'
  | 'interrupts'
  | 'other';

/**
 * CPU seconds spent so far by each live process, keyed by pid with its role, plus the machine's
 * interrupt handling (irq + softirq in /proc/stat, which no process is charged for).
 */
function cpuByProcess(): Map<string, { role: CpuRole; s: number }> {
  const out = new Map<string, { role: CpuRole; s: number }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses: utime is the 12th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const s = (Number(fields[11]) + Number(fields[12])) / 100;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const role: CpuRole =
        cmd === ''
          ? 'kernel threads'
          : /kindling\.js .*\bup\b/.test(cmd)
            ? 'control plane'
            : /kindling\.js .*\bworker\b/.test(cmd)
              ? 'workers'
              : /runtime\.cjs|--snapshot-blob/.test(cmd)
                ? 'sandboxes'
                : /\/delay-line-[0-9a-f]+ /.test(cmd)
                  ? 'links'
                  : cmd.includes('bench/dist.js')
                    ? 'benchmark'
                    : 'other';
      out.set(pid, { role, s });
    } catch {
      // The process ended meanwhile.
    }
  }
  const ticks = machineTicks();
  if (ticks) out.set('irq', { role: 'interrupts', s: (ticks.irq + ticks.softirq) / 100 });
  return out;
}

/** CPU seconds per role between two {@link cpuByProcess} readings (processes that ended in between are missing). */
function cpuDelta(
  before: Map<string, { role: CpuRole; s: number }>,
  after: Map<string, { role: CpuRole; s: number }>,
): Partial<Record<CpuRole, number>> {
  const out: Partial<Record<CpuRole, number>> = {};
  for (const [pid, { role, s }] of after) {
    const was = before.get(pid);
    const d = s - (was && was.role === role ? was.s : 0);
    if (d > 0) out[role] = round((out[role] ?? 0) + d);
  }
  return out;
}

/**
 * CPU seconds the machine has spent busy since boot (every core; user, nice, system, interrupts,
 * steal; not idle or I/O wait), from /proc/stat; undefined where there is none.
 */
function machineCpuS(): number | undefined {
  const t = machineTicks();
  // USER_HZ: 100 on Linux whatever the kernel's HZ.
  return t && (t.user + t.nice + t.system + t.irq + t.softirq + t.steal) / 100;
}

/** The machine's CPU time so far in USER_HZ ticks, by kind (the `cpu` line of /proc/stat). */
function machineTicks():
  { user: number; nice: number; system: number; irq: number; softirq: number; steal: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return { user: user!, nice: nice!, system: system!, irq: irq!, softirq: softirq!, steal: steal ?? 0 };
  } catch {
    return undefined;
  }
}

/** One statistic of each phase over the invocations' records (`pick` gets the sorted values). */
function phaseStat(all: Phases[], pick: (sorted: number[]) => number): Record<string, number> {
  const out: Record<string, number> = {};
  if (all.length === 0) return out;
  for (const p of PHASES) out[p] = Math.round(pick(all.map((x) => x[p]).sort((a, b) => a - b)));
  return out;
}
/** A run's variant as the CLI and the plot name it: `tree`, `tree+lazy`. */
const variantName = (r: Pick<Run, 'strategy' | 'lazy'>) => `${r.strategy}${r.lazy ? '+lazy' : ''}`;
/** A run's line in the plot: its variant, and what an A/B comparison changed (`registry+lazy (fifo)`). */
const seriesName = (r: Run) =>
  variantName(r) +
  (r.backgroundPriority === false ? ' (no prio)' : '') +
  (r.linkQueue === 'fifo' ? ' (fifo)' : '') +
  (r.requesterTurns === true ? ' (turns)' : '') +
  (r.latencyMs ? ` (+${r.latencyMs} ms)` : '');
const variantsOrder = (r: Run) => ['registry', 'swarm', 'tree'].indexOf(r.strategy) * 2 + (r.lazy ? 1 : 0);

async function invokeOn(url: string, key: string, host: string): Promise<void> {
  const res = await fetch(`${url}/v1/functions/big/invoke?host=${host}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: '{}',
  });
  if (res.status !== 200) throw new Error(`cold start on ${host}: ${res.status} ${await res.text()}`);
}

function plot(result: Result): string {
  const strategies = [...new Set(result.runs.map(seriesName))];
  const series = (pick: (r: Run) => number) =>
    strategies.map((name) => ({
      name,
      points: result.runs.filter((r) => seriesName(r) === name).map((r) => ({ x: r.hosts, y: pick(r) })),
    }));
  const where = `${result.imageMiB} MiB image, ${result.nicMbit} Mbit/s hosts, ${result.registryNicMbit} Mbit/s registry (${result.network})`;
  return svgDocument(
    [
      lineChart(
        `All hosts ready — ${where}`,
        'hosts started at once',
        'seconds',
        series((r) => r.allReadyS),
        {
          log2x: true,
        },
      ),
      lineChart(
        'Bytes served by the registry',
        'hosts started at once',
        'MiB',
        series((r) => r.registryMiB),
        {
          log2x: true,
        },
      ),
    ],
    640,
    360,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--plot-only')) {
    const file = args.find((a) => a.endsWith('.json')) ?? join(outDir, 'dist.json');
    writeFileSync(file.replace(/\.json$/, '.svg'), plot(JSON.parse(readFileSync(file, 'utf8')) as Result));
    return;
  }
  const quick = args.includes('--quick');
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const imageMiB = Number(flag('--mib') ?? (quick ? 64 : 256));
  const hostCounts = (flag('--hosts') ?? (quick ? '1,2,4,8' : '1,2,4,8,16')).split(',').map(Number);
  if (!Number.isInteger(imageMiB) || imageMiB < 16 || hostCounts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--mib takes a whole number of MiB (at least 16); --hosts a list like 2,4,8');
  const merge = args.includes('--merge');
  // A subset merged into the full results (same image size) is not a custom run.
  const custom =
    flag('--mib') !== undefined ||
    flag('--link-queue') !== undefined ||
    flag('--latency') !== undefined ||
    (!merge && (flag('--hosts') !== undefined || flag('--variants') !== undefined));
  const only = flag('--strategies')?.split(',');
  const variants: [string, boolean][] = (only ?? ['registry', 'swarm', 'tree']).flatMap((s) => [
    [s, false],
    [s, true],
  ]) as [string, boolean][];
  // `--variants tree+lazy,registry`: only these strategy/lazy combinations (written to dist-quick.json).
  const pickVariants = flag('--variants')?.split(',');
  if (pickVariants) {
    const names = variants.map(([strategy, lazy]) => variantName({ strategy, lazy }));
    const unknown = pickVariants.filter((v) => !names.includes(v));
    if (unknown.length)
      throw new Error(`--variants: unknown ${unknown.join(', ')}; known: ${names.join(', ')}`);
    variants.splice(0, variants.length, ...variants.filter((_, i) => pickVariants.includes(names[i]!)));
  }
  const why = netnsUnavailable();
  const network = why ? 'loopback' : 'netns';
  if (why)
    console.log(
      `network namespaces unavailable (${why}): loopback cluster, bandwidth limited in the transport`,
    );
  const fnDir = mkdtempSync(join(tmpdir(), 'kindling-dist-fn-'));
  makeFunction(fnDir, imageMiB);
  const result: Result = {
    imageMiB,
    network,
    nicMbit: 100,
    registryNicMbit: 200,
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    runs: [],
  };
  // `--ab-priority`: each lazy run twice in a row, with and without background priority.
  // `--ab-queue`: each run twice in a row, the links with a fair queue per peer and with one FIFO.
  const abPriority = args.includes('--ab-priority');
  const abQueue = args.includes('--ab-queue');
  // `--ab-turns`: each run twice in a row, servers sending a host's blocks one at a time and not.
  const abTurns = args.includes('--ab-turns');
  // `--ab-latency`: each run twice in a row, the links without delay and with `--latency` (1 ms).
  const abLatency = args.includes('--ab-latency');
  if ([abPriority, abQueue, abTurns, abLatency].filter(Boolean).length > 1)
    throw new Error(
      '--ab-priority, --ab-queue, --ab-turns and --ab-latency are separate comparisons: pick one',
    );
  const latencyMs = flag('--latency') === undefined ? (abLatency ? 1 : 0) : parseLatency(flag('--latency')!);
  if (abLatency && !latencyMs)
    throw new Error('--ab-latency compares no delay with --latency MS: give a delay above 0');
  const linkQueue = parseLinkQueue(flag('--link-queue') ?? 'fair');
  type Setting = {
    backgroundPriority: boolean;
    linkQueue: LinkQueue;
    requesterTurns?: boolean;
    latencyMs?: number;
  };
  /** The settings each point runs with: two in a row for an A/B comparison, else one. */
  const settingsOf = (lazy: boolean): Setting[] => {
    const base: Setting = { backgroundPriority: true, linkQueue, ...(abLatency ? {} : { latencyMs }) };
    if (abTurns) return [base, { ...base, requesterTurns: true }];
    if (abLatency) return [base, { ...base, latencyMs }];
    if (abPriority && lazy) return [base, { ...base, backgroundPriority: false }];
    if (abQueue)
      return [
        { ...base, linkQueue: 'fair' },
        { ...base, linkQueue: 'fifo' },
      ];
    return [base];
  };
  const repeat = Number(flag('--repeat') ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 9)
    throw new Error(`--repeat takes a whole number of runs per point from 1 to 9, got ${flag('--repeat')}`);
  if (repeat > 1 && (abPriority || abQueue || abTurns || abLatency))
    throw new Error('--repeat is for the result tables; an A/B comparison pairs single runs');
  const measured: Run[] = [];
  try {
    for (let sweep = 1; sweep <= repeat; sweep++) {
      if (repeat > 1) console.log(`sweep ${sweep} of ${repeat}`);
      for (const hosts of hostCounts) {
        for (const [strategy, lazy] of variants) {
          for (const setting of settingsOf(lazy)) {
            const run = await runOnce(fnDir, strategy, hosts, network, lazy, setting);
            measured.push(run);
            console.log(
              `${seriesName(run).padEnd(13)} N=${String(hosts).padStart(2)}  all ready ${run.allReadyS.toFixed(2)} s  p50 ${run.p50ReadyS.toFixed(2)} s  before start ${run.startMiB.toFixed(1)} MiB  whole image ${run.wholeImageS.toFixed(2)} s  registry ${run.registryMiB.toFixed(0)} MiB  peers ${run.peerMiB.toFixed(0)} MiB${run.waveCpuS !== undefined ? `  CPU ${run.waveCpuS.toFixed(1)} s (${Math.round(100 * run.waveCpuShare!)}% of the cores)` : ''}${run.failures ? `  FAILURES ${run.failures}` : ''}`,
            );
            console.log(
              `  phases p50 ${JSON.stringify(run.phasesP50Ms)} max ${JSON.stringify(run.phasesMaxMs)}`,
            );
          }
        }
      }
    }
  } finally {
    rmSync(fnDir, { recursive: true, force: true });
  }
  result.runs = repeat > 1 ? medianRuns(measured, seriesName) : measured;
  mkdirSync(outDir, { recursive: true });
  const name = abPriority
    ? 'dist-priority'
    : abTurns
      ? 'dist-turns'
      : abQueue
        ? 'dist-queue'
        : abLatency
          ? 'dist-latency'
          : quick || custom
            ? 'dist-quick'
            : 'dist';
  if (merge) {
    // Re-measure some variants at some host counts and keep the file's other runs.
    const previous = JSON.parse(readFileSync(join(outDir, `${name}.json`), 'utf8')) as Result;
    if (previous.imageMiB !== result.imageMiB) throw new Error('--merge needs the same image size');
    const key = (r: Run) => `${variantName(r)}@${r.hosts}`;
    const remeasured = new Set(result.runs.map(key));
    const kept = previous.runs.filter((r) => !remeasured.has(key(r)));
    result.runs = [...kept, ...result.runs].sort(
      (a, b) => a.hosts - b.hosts || variantsOrder(a) - variantsOrder(b),
    );
  }
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(outDir, `${name}.svg`), plot(result));
  console.log(`wrote bench/results/${name}.json and .svg`);
}

await main();
