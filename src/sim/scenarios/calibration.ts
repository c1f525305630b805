/**
 * The `calibration` scenario: the distribution model at the test cluster's size (2-16 hosts, 100
 * Mbit/s hosts, a 200 Mbit/s registry, the benchmark's image), against what the real cluster
 * benchmark measured (`bench/results/dist.json` from `npm run bench:dist`; else `dist-quick.json`,
 * said so in the output). Reports the error of the all-hosts-ready time per run.
 *
 * The simulated runs ask for the image as the cluster does (`cluster/image-fetch.ts`: every block as
 * background work, so swarm picks rarest first). The test cluster runs the control plane and all N
 * workers on this one machine, so the runs use the simulator's CPU model with every host and the
 * registry (the control plane) on one machine of the benchmark's cores (`machine.cpus` in dist.json),
 * each process capped at one core. Its inputs are measurements, never fitted to the benchmark:
 * - per-MiB CPU costs of receiving (HTTP, sha256, store write, distribution requests), sending (peer
 *   server or registry) and the control plane's distribution API, and of materialising (verify,
 *   decompress, write the files): `bench/results/cpu-costs.json` from `npm run bench:cpu`, which
 *   pushes real blocks through the real fetcher, peer server and distribution API over veth links
 *   shaped like the cluster's (the loopback figures when netns was unavailable; the output says which);
 * - the links' goodput: what a plain TCP stream gets through one of the cluster's shaped links, as a
 *   fraction of the shaping rate (Ethernet, IP and TCP headers count against the `tc` shaper),
 *   from the same benchmark; every link's rate in the model is scaled by it;
 * - the sandbox cold start of the benchmark's own function (it reads its startup file at load): the
 *   faster of the process tier's plain and runtime-snapshot starts (a cluster worker's tier picks
 *   the faster by a trial), median from `bench/results/sandbox.json`, as CPU work on the host (a
 *   minimal function's when that file has no rows for it at this image's startup size, said so);
 * - the benchmark's one-host runs, when it has them (`one-host-reference.ts`): bench:cpu's costs
 *   scaled to what the cluster's own worker, control plane and kernel spent per MiB there, and the
 *   time those runs took beyond the model, charged to every host before its first start. They are
 *   the reference and not counted; the runs at 2-16 hosts are compared, and also simulated with
 *   bench:cpu's costs alone to show what the reference changes.
 * Each run is also simulated with nominal link rates and no CPU (the network alone) and with the
 * CPU at nominal link rates, to show what each part adds. Lazy runs start each host once the
 * benchmark function's startup working set (the part of the image it reads) is local.
 */
import { TREE_PIPELINE_DEPTH } from '../../cluster/distribution.js';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { lineChart, svgDocument } from '../../../bench/lib/svg-plot.js';
import { KindlingError } from '../../core/errors.js';
import { measuredCpuCosts } from '../cpu-costs.js';
import {
  roundTo as round,
  simulateDistribution,
  type DistSimCpu,
  type DistSimStrategy,
} from '../dist-sim.js';
import {
  bigFunctionColdStart,
  DIST_BENCH_STARTUP_FRACTION,
  displayPath,
  distBenchStartupMiB,
  findResult,
  sandboxColdStart,
  type DistBenchResult,
  type DistBenchRun,
  type MeasuredStart,
} from '../measured-costs.js';
import { extraStartS, oneHostCosts, scaleToOneHost, type OneHostCosts } from '../one-host-reference.js';
import type { Scenario } from './registry.js';

const MiB = 1024 * 1024;
const BLOCK = 512 * 1024;

/**
 * A results file of the cluster benchmark. Files written before a field existed lack it, so the
 * fields added later are optional here.
 */
type MeasuredRun = Omit<DistBenchRun, 'startMiB' | 'wholeImageS' | 'readyS' | 'failures'> &
  Partial<Pick<DistBenchRun, 'startMiB' | 'wholeImageS' | 'readyS' | 'failures'>>;
type MeasuredFile = Omit<DistBenchResult, 'runs' | 'network' | 'machine'> &
  Partial<Pick<DistBenchResult, 'network' | 'machine'>> & { runs: MeasuredRun[] };

/** One compared run. */
export interface CalibrationRow {
  strategy: string;
  lazy: boolean;
  hosts: number;
  /** A one-host run: the reference the inputs were taken from, so not counted as compared. */
  reference: boolean;
  simAllReadyS: number;
  simP50ReadyS: number;
  simRegistryMiB: number;
  simPeerMiB: number;
  measuredAllReadyS: number | null;
  measuredRegistryMiB: number | null;
  /** (sim − measured) ÷ measured, %; null without a measurement. */
  errorPct: number | null;
  /** The network part alone: seconds until the last host held the whole image, model (null when lazy) and benchmark. */
  simWholeImageS: number | null;
  measuredWholeImageS: number | null;
  /** (sim − measured) ÷ measured of the whole-image time, %; null when the benchmark did not record it. */
  fetchErrorPct: number | null;
  /** Seconds from whole image to ready: materialisation and start in the model, and the benchmark's (all-ready − whole-image). */
  simAfterFetchS: number | null;
  measuredAfterFetchS: number | null;
  /** The same run without the CPU model, at nominal link rates (the network alone), and its error, %. */
  simNetworkOnlyAllReadyS: number;
  networkOnlyErrorPct: number | null;
  /** The same run with the CPU model at nominal link rates (no header overhead), and its error, %. */
  simNominalLinksAllReadyS: number;
  nominalLinksErrorPct: number | null;
  /** The same run with bench:cpu's costs as they are and no extra start time (no one-host reference), and its error, %. */
  simBenchCpuOnlyAllReadyS: number;
  benchCpuOnlyErrorPct: number | null;
}

/** The one-host reference: the processes' costs, the scaled CPU inputs, the start time beyond the model. */
export interface OneHostInputs extends OneHostCosts {
  cpu: DistSimCpu;
  /** Seconds the one-host run took beyond the model's, whole image and lazy (0 when not measured). */
  extraStartS: { whole: number; lazy: number };
}

/** Runs within the target, of those compared, split into whole-image and lazy runs. */
export interface WithinTarget {
  whole: { withinTarget: number; compared: number };
  lazy: { withinTarget: number; compared: number };
}

/** The results file. */
export interface CalibrationResult {
  measuredFrom: string | null;
  note: string;
  imageMiB: number;
  hostMbps: number;
  registryMbps: number;
  network: string | null;
  inputs: {
    sandboxStartMs: number;
    sandboxStartFrom: string;
    /** The CPU model's inputs: one machine of `cores` for every host and the control plane. */
    cpu: DistSimCpu;
    cpuFrom: string;
    /** Goodput of a shaped link as a fraction of its rate (1 when not measured); the model's links run at rate × this. */
    linkGoodputFraction: number;
    /**
     * The benchmark's one-host runs as the reference (`one-host-reference.ts`); null without them,
     * when the model runs on bench:cpu's costs as they are.
     */
    oneHost: OneHostInputs | null;
  };
  targetPct: number;
  rows: CalibrationRow[];
  /** Runs within the target, of those compared (1-host reference runs are not); `byKind` splits them into whole-image and lazy runs. */
  withinTarget: number;
  compared: number;
  byKind: WithinTarget;
  /** The same count with bench:cpu's costs as they are and no one-host reference. */
  benchCpuOnly: WithinTarget;
}

const TARGET_PCT = 20;
const STRATEGIES = ['registry', 'swarm', 'tree'] as const;

/** A run to simulate (and compare, when the benchmark measured it). */
interface Wanted {
  strategy: string;
  lazy: boolean;
  hosts: number;
}

/**
 * The sandbox start the model charges each host: the cluster benchmark's own function (it reads its
 * startup file at load) when bench:sandbox measured it with this image's startup size, else the
 * process tier's start of a minimal function, with `why`. Either is the faster of plain and
 * runtime-snapshot starts: a cluster worker's tier picks the faster by a trial.
 */
function measuredStart(outDir: string, imageMiB: number): MeasuredStart & { why?: string } {
  const big = bigFunctionColdStart(outDir);
  const startupMiB = distBenchStartupMiB(imageMiB);
  if (big && big.startupMiB === startupMiB) return big;
  const minimal = ['process/plain', 'process/runtime-snapshot']
    .map((tier) => sandboxColdStart(outDir, tier))
    .reduce((a, b) => (b.coldP50Ms < a.coldP50Ms ? b : a));
  return {
    ...minimal,
    why: big
      ? `a minimal function's: sandbox.json measured the benchmark's function reading ${big.startupMiB} MiB at start, this image's reads ${startupMiB} MiB`
      : "a minimal function's: sandbox.json has no rows for the benchmark's function (run `npm run bench:sandbox`)",
  };
}

/** Reads the benchmark's results: dist.json, else dist-quick.json; undefined when neither exists. */
export function readMeasured(outDir: string): { file: string; data: MeasuredFile } | undefined {
  const file = findResult(outDir, ['dist.json', 'dist-quick.json']);
  if (!file) return undefined;
  const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<MeasuredFile>;
  for (const k of ['imageMiB', 'nicMbit', 'registryNicMbit'] as const)
    if (typeof data[k] !== 'number' || !(data[k] > 0))
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `${file}: ${k} must be a number > 0, got ${String(data[k])}`,
      );
  if (!Array.isArray(data.runs))
    throw new KindlingError('KINDLING_INVALID_CONFIG', `${file}: runs must be an array`);
  return { file, data: data as MeasuredFile };
}

/** Runs the scenario; `quick`: 2 and 4 hosts, an 8 MiB image unless measurements say otherwise. */
export async function runCalibration(opts: {
  outDir: string;
  say(line: string): void;
  quick?: boolean;
  write?: boolean;
}): Promise<CalibrationResult> {
  const { outDir, say } = opts;
  const measured = readMeasured(outDir);
  let note: string;
  if (!measured) {
    note =
      'no bench/results/dist.json or dist-quick.json: model predictions only, nothing to compare (run `npm run bench:dist`)';
  } else if (measured.file.endsWith('dist-quick.json')) {
    note = `dist.json not found: compared with the quick benchmark, ${displayPath(measured.file)}`;
  } else {
    note = `compared with ${displayPath(measured.file)}`;
  }
  say(note);
  const m = measured?.data;
  const imageMiB = m?.imageMiB ?? (opts.quick ? 8 : 256);
  const hostMbps = m?.nicMbit ?? 100;
  const registryMbps = m?.registryNicMbit ?? 200;
  const start = measuredStart(outDir, imageMiB);
  const measuredCpu = measuredCpuCosts(outDir);
  const cores = m?.machine?.cpus ?? availableParallelism();
  const cpu: DistSimCpu = {
    machines: 'shared',
    cores,
    processCores: 1,
    receiveMsPerMiB: measuredCpu.costs.receiveMsPerMiB,
    sendMsPerMiB: measuredCpu.costs.sendMsPerMiB,
    controlMsPerMiB: measuredCpu.costs.controlMsPerMiB,
    materialiseMsPerMiB: measuredCpu.materialiseMsPerMiB,
  };
  // A loopback cluster limits payload bytes in its transport, so headers do not count there.
  const goodput = m?.network === 'loopback' ? 1 : (measuredCpu.linkGoodputFraction ?? 1);
  const cpuFrom = `${measuredCpu.file} (${measuredCpu.path} path, measured on ${measuredCpu.machine.cpus} cores, ${measuredCpu.machine.model})`;
  say(
    `inputs: sandbox start ${start.coldP50Ms} ms (${start.tier}${start.why ? `; ${start.why}` : ''}); CPU model: every host and the control plane on one machine of ${cores} cores, one core per process; CPU ms/MiB receive ${cpu.receiveMsPerMiB}, send ${cpu.sendMsPerMiB}, control plane ${cpu.controlMsPerMiB}, materialise ${cpu.materialiseMsPerMiB}, from ${cpuFrom}; links at ${round(100 * goodput, 1)}% of their rate (${m?.network === 'loopback' ? 'a loopback cluster: its limits count payload only' : measuredCpu.linkGoodputFraction === undefined ? 'not measured: no netns path in the costs file' : 'plain TCP over a shaped link, same file'})`,
  );
  const wanted: Wanted[] = m
    ? m.runs.map((r) => ({ strategy: r.strategy, lazy: r.lazy, hosts: r.hosts }))
    : (opts.quick ? [2, 4] : [2, 4, 8, 16]).flatMap((hosts) =>
        STRATEGIES.map((strategy) => ({ strategy, lazy: false, hosts })),
      );
  const simulate = (w: Wanted, o: { cpu?: DistSimCpu; linkFraction: number; extraStartS?: number }) =>
    simulateDistribution({
      strategy: w.strategy as DistSimStrategy,
      hosts: w.hosts,
      imageBytes: imageMiB * MiB,
      pieceBytes: BLOCK,
      // A lazy run's hosts start once the function's startup working set is local: the part of
      // the image the benchmark's function reads at start (its recorder host has left by then).
      ...(w.lazy ? { lazy: true, workingSetFraction: DIST_BENCH_STARTUP_FRACTION } : { lazy: false }),
      // As cluster mode runs the tree (see TreeStrategyInit.pipelineDepth).
      treePipelineDepth: TREE_PIPELINE_DEPTH,
      hostMbps: hostMbps * o.linkFraction,
      registryMbps: registryMbps * o.linkFraction,
      containerStartMs: start.coldP50Ms,
      ...(o.cpu ? { cpu: o.cpu } : {}),
      ...(o.extraStartS ? { hostReadyMs: 1000 * o.extraStartS } : {}),
      // As the measured run's hosts asked for it (`kindling worker --requester-turns`).
      requesterTurns: measuredRun(w)?.requesterTurns === true,
    });
  function measuredRun(w: Wanted) {
    return m?.runs.find((x) => x.strategy === w.strategy && x.lazy === w.lazy && x.hosts === w.hosts);
  }

  // The benchmark's one-host runs, when it has them, set the costs and the extra start time.
  const costs = m && oneHostCosts(m.runs, cpu);
  let oneHost: OneHostInputs | null = null;
  if (costs) {
    const scaled = scaleToOneHost(cpu, costs);
    const extra = { whole: 0, lazy: 0 };
    for (const lazy of [false, true]) {
      const pairs: { measuredS: number; simulatedS: number }[] = [];
      for (const strategy of STRATEGIES) {
        const w = { strategy, lazy, hosts: 1 };
        const real = measuredRun(w);
        if (real)
          pairs.push({
            measuredS: real.allReadyS,
            simulatedS: (await simulate(w, { cpu: scaled, linkFraction: goodput })).allStartedS,
          });
      }
      extra[lazy ? 'lazy' : 'whole'] = extraStartS(pairs);
    }
    oneHost = { ...costs, cpu: scaled, extraStartS: extra };
    say(
      `one-host reference (median of ${costs.runs} runs): the worker ${costs.workerMsPerMiB} CPU-ms/MiB (${costs.workerScale}× bench:cpu's receive + materialise), the control plane ${costs.controlPlaneMsPerMiB} (${costs.controlPlaneScale}× send + control), the kernel ${costs.kernelMsPerMiB}; start beyond the model ${extra.whole} s whole image, ${extra.lazy} s lazy`,
    );
  } else if (m)
    say(
      `no one-host runs with per-role CPU in ${displayPath(measured!.file)}: bench:cpu's costs as they are (run \`npm run bench:dist -- --hosts 1 --merge\`)`,
    );

  const rows: CalibrationRow[] = [];
  for (const w of wanted) {
    if (!(STRATEGIES as readonly string[]).includes(w.strategy)) {
      say(`skipping a measured run of unknown strategy "${w.strategy}"`);
      continue;
    }
    const inputs = {
      cpu: oneHost?.cpu ?? cpu,
      extraStartS: oneHost?.extraStartS[w.lazy ? 'lazy' : 'whole'] ?? 0,
    };
    const r = await simulate(w, { ...inputs, linkFraction: goodput });
    const net = await simulate(w, { linkFraction: 1 });
    const nominal = await simulate(w, { ...inputs, linkFraction: 1 });
    const benchCpuOnly = oneHost ? await simulate(w, { cpu, linkFraction: goodput }) : r;
    const real = measuredRun(w);
    const reference = w.hosts === 1 && oneHost !== null;
    const err = (sim: number) => (real ? round((100 * (sim - real.allReadyS)) / real.allReadyS, 1) : null);
    const errorPct = err(r.allStartedS);
    // A lazy host is ready with its working set; the model stops before the rest of its image is local.
    const simWholeImageS = w.lazy ? null : Math.max(...r.readyS);
    const realWhole = typeof real?.wholeImageS === 'number' ? real.wholeImageS : null;
    rows.push({
      strategy: w.strategy,
      lazy: w.lazy,
      hosts: w.hosts,
      reference,
      simAllReadyS: r.allStartedS,
      simP50ReadyS: r.p50StartedS,
      simRegistryMiB: r.registryMiB,
      simPeerMiB: r.peerMiB,
      measuredAllReadyS: real?.allReadyS ?? null,
      measuredRegistryMiB: real?.registryMiB ?? null,
      errorPct,
      simWholeImageS,
      measuredWholeImageS: realWhole,
      fetchErrorPct:
        realWhole && simWholeImageS !== null
          ? round((100 * (simWholeImageS - realWhole)) / realWhole, 1)
          : null,
      simAfterFetchS: simWholeImageS === null ? null : round(r.allStartedS - simWholeImageS),
      measuredAfterFetchS: real && realWhole !== null && !w.lazy ? round(real.allReadyS - realWhole) : null,
      simNetworkOnlyAllReadyS: net.allStartedS,
      networkOnlyErrorPct: err(net.allStartedS),
      simNominalLinksAllReadyS: nominal.allStartedS,
      nominalLinksErrorPct: err(nominal.allStartedS),
      simBenchCpuOnlyAllReadyS: benchCpuOnly.allStartedS,
      benchCpuOnlyErrorPct: err(benchCpuOnly.allStartedS),
    });
    say(
      `${(w.strategy + (w.lazy ? '+lazy' : '')).padEnd(14)} N=${String(w.hosts).padStart(2)}  sim ${r.allStartedS.toFixed(2).padStart(7)} s` +
        (real
          ? `  measured ${real.allReadyS.toFixed(2).padStart(7)} s  error ${signed(errorPct)}` +
            (reference ? ' (the reference run)' : '') +
            (realWhole !== null && simWholeImageS !== null
              ? `   whole image: sim ${simWholeImageS.toFixed(2)} s, measured ${realWhole.toFixed(2)} s`
              : '') +
            `   (bench:cpu's costs alone: ${benchCpuOnly.allStartedS.toFixed(2)} s, ${signed(err(benchCpuOnly.allStartedS))}; network alone: ${net.allStartedS.toFixed(2)} s, ${signed(err(net.allStartedS))}; CPU at nominal link rates: ${nominal.allStartedS.toFixed(2)} s, ${signed(err(nominal.allStartedS))})`
          : '  (no measurement)'),
    );
  }
  const compared = rows.filter((r) => r.errorPct !== null && !r.reference);
  const withinTarget = (pick: (r: CalibrationRow) => number | null): WithinTarget => {
    const count = (lazy: boolean) => {
      const rs = compared.filter((r) => r.lazy === lazy);
      return { withinTarget: rs.filter((r) => Math.abs(pick(r)!) <= TARGET_PCT).length, compared: rs.length };
    };
    return { whole: count(false), lazy: count(true) };
  };
  const byKind = withinTarget((r) => r.errorPct);
  const benchCpuOnly = withinTarget((r) => r.benchCpuOnlyErrorPct);
  const result: CalibrationResult = {
    measuredFrom: measured ? displayPath(measured.file) : null,
    note,
    imageMiB,
    hostMbps,
    registryMbps,
    network: m?.network ?? null,
    inputs: {
      sandboxStartMs: start.coldP50Ms,
      sandboxStartFrom: `${start.tier} coldP50Ms in ${start.file}, as CPU work on the host${start.why ? ` (${start.why})` : ''}`,
      cpu,
      cpuFrom,
      linkGoodputFraction: goodput,
      oneHost,
    },
    targetPct: TARGET_PCT,
    rows,
    withinTarget: byKind.whole.withinTarget + byKind.lazy.withinTarget,
    compared: compared.length,
    byKind,
    benchCpuOnly,
  };
  if (compared.length > 0) {
    const networkOnly = withinTarget((r) => r.networkOnlyErrorPct).whole;
    say(
      `whole-image runs: ${byKind.whole.withinTarget} of ${byKind.whole.compared} within ±${TARGET_PCT}% of the measurement (the network alone: ${networkOnly.withinTarget} of ${networkOnly.compared})`,
    );
    if (byKind.lazy.compared > 0)
      say(`lazy runs: ${byKind.lazy.withinTarget} of ${byKind.lazy.compared} within ±${TARGET_PCT}%`);
    if (oneHost)
      say(
        `with bench:cpu's costs alone (no one-host reference): whole image ${benchCpuOnly.whole.withinTarget} of ${benchCpuOnly.whole.compared}, lazy ${benchCpuOnly.lazy.withinTarget} of ${benchCpuOnly.lazy.compared}; the one-host runs are the reference and not counted`,
      );
  }
  if (opts.write !== false) {
    mkdirSync(outDir, { recursive: true });
    const json = join(outDir, 'sim-calibration.json');
    writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(join(outDir, 'sim-calibration.svg'), plot(result));
    say(`wrote ${json} and sim-calibration.svg`);
  }
  return result;
}

function signed(pct: number | null): string {
  return pct === null ? '–' : `${pct >= 0 ? '+' : ''}${pct}%`;
}

function plot(r: CalibrationResult): string {
  const name = (x: CalibrationRow) => x.strategy + (x.lazy ? '+lazy' : '');
  const strategies = [...new Set(r.rows.map(name))];
  const series = strategies.flatMap((s) => {
    const rows = r.rows.filter((x) => name(x) === s);
    const out = [{ name: `${s} (sim)`, points: rows.map((x) => ({ x: x.hosts, y: x.simAllReadyS })) }];
    const real = rows.filter((x) => x.measuredAllReadyS !== null);
    if (real.length > 0)
      out.push({
        name: `${s} (measured)`,
        points: real.map((x) => ({ x: x.hosts, y: x.measuredAllReadyS! })),
      });
    return out;
  });
  return svgDocument(
    [
      lineChart(
        `All hosts ready: model vs cluster — ${r.imageMiB} MiB image, ${r.hostMbps} Mbit/s hosts, ${r.registryMbps} Mbit/s registry`,
        'hosts started at once',
        'seconds',
        series,
        { log2x: true },
      ),
    ],
    720,
    380,
  );
}

/** The scenario registered as `calibration`. */
export const calibrationScenario: Scenario = {
  name: 'calibration',
  description:
    'the distribution model with the test cluster’s bandwidths, calibrated at one host and compared with the real cluster benchmark at 2-16 hosts (bench/results/dist.json): error of the all-hosts-ready time per run',
  run: ({ outDir, say }) => runCalibration({ outDir, say }),
};
