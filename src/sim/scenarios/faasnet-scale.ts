/**
 * The `faasnet-scale` scenario: FaaSNet's provisioning experiment (Wang et al., USENIX ATC'21, §5)
 * in the simulator, running Kindling's own strategies, hub and fetcher ({@link simulateDistribution}).
 * A 758 MB image, 1 Gbit/s host NICs, N hosts starting a function at once; the provisioning time is
 * the time until every container has started (working set or image local, then a measured
 * container cold start). Variants:
 * - `registry`: every host pulls the whole image from the registry (FaaSNet's baseline);
 * - `registry+lazy`: the same, but only the startup working set before starting (separates the two
 *   effects FaaSNet combines);
 * - `swarm-whole`: swarm where a host serves nothing until it holds the whole image (how FaaSNet ran
 *   Kraken: layer granularity);
 * - `swarm`: Kindling's piece-level swarm (rarest-first, hosts serve pieces as they get them);
 * - `tree`, `tree+lazy`: function trees, whole image and working set first (FaaSNet itself).
 *
 * Assumptions, each stated in the results file:
 * - working set 6.4% of the image (Slacker, FAST'16: 6.4% of an image's data is read at start; the
 *   FaaSNet paper gives no figure for its image);
 * - registry uplink 10 Gbit/s: FaaSNet's baseline is bound by the registry's bandwidth, so it must be
 *   finite; one registry node with a 10 GbE uplink is ten host NICs. Registry-bound times scale as
 *   N × bytes ÷ uplink, so another uplink scales those rows and nothing else;
 * - container start = the crun tier's measured median cold start (`container/prepared` in
 *   sandbox.json); a host's containers start one after another.
 *
 * Granularity: a run uses 512 KiB pieces (the real block) unless hosts × pieces fetched would exceed
 * {@link PIECE_BUDGET}; then the piece doubles until it fits. The coarsening check runs every variant
 * at 64 hosts both at 512 KiB and at the piece size its 1,000-host run uses, and reports the gap.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart, svgDocument } from '../../../bench/lib/svg-plot.js';
import {
  roundTo as round,
  simulateDistribution,
  type DistSimResult,
  type DistSimStrategy,
} from '../dist-sim.js';
import { sandboxColdStart } from '../measured-costs.js';
import type { Scenario } from './registry.js';

const KiB = 1024;
const BLOCK = 512 * KiB;
/** Piece fetches one run may simulate (hosts × pieces each host fetches before it starts). */
export const PIECE_BUDGET = 100_000;

/** One variant of the comparison. */
export interface Variant {
  name: string;
  strategy: DistSimStrategy;
  lazy: boolean;
  /**
   * Largest host count run (full runs). Piece-level swarm stops at 128: its wall time grows with N²
   * (N times the fetches, each event a max-min recompute over ten flows per host; 156 s at 128 hosts
   * here), so 1,000 hosts would take hours.
   */
  maxHosts?: number;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'registry', strategy: 'registry', lazy: false },
  { name: 'registry+lazy', strategy: 'registry', lazy: true },
  { name: 'swarm-whole', strategy: 'swarm-whole', lazy: false },
  { name: 'swarm', strategy: 'swarm', lazy: false, maxHosts: 128 },
  { name: 'tree', strategy: 'tree', lazy: false },
  { name: 'tree+lazy', strategy: 'tree', lazy: true },
];

/** FaaSNet's published figures (abstract and §5), for the comparison. */
export const FAASNET_PAPER = {
  containers: 2500,
  hosts: 1000,
  provisioningS: 8.3,
  speedupOverBaseline: 13.4,
  speedupOverKraken: 16.3,
  imageMB: 758,
  nicGbps: 1,
} as const;

/** The setup of a run of the scenario. */
export interface FaasnetSetup {
  imageBytes: number;
  hostMbps: number;
  registryMbps: number;
  workingSetFraction: number;
  hostCounts: number[];
  coarseningHosts: number;
  containerStartMs: number;
  containerStartFrom: string;
}

/** The piece size for a run: 512 KiB, doubled until hosts × pieces fetched ≤ {@link PIECE_BUDGET}. */
export function pieceFor(setup: FaasnetSetup, hosts: number, lazy: boolean): number {
  let piece = BLOCK;
  const fetched = (p: number) =>
    hosts * Math.ceil(Math.ceil(setup.imageBytes / p) * (lazy ? setup.workingSetFraction : 1));
  while (fetched(piece) > PIECE_BUDGET) piece *= 2;
  return piece;
}

function run(setup: FaasnetSetup, v: Variant, hosts: number, pieceBytes: number, containersPerHost = 1) {
  return simulateDistribution({
    strategy: v.strategy,
    lazy: v.lazy,
    workingSetFraction: setup.workingSetFraction,
    hosts,
    imageBytes: setup.imageBytes,
    pieceBytes,
    hostMbps: setup.hostMbps,
    registryMbps: setup.registryMbps,
    containerStartMs: setup.containerStartMs,
    containersPerHost,
  });
}

/** A run as the results file keeps it (per-host times dropped). */
export type FaasnetRow = Omit<DistSimResult, 'readyS'> & { variant: string };

const row = (variant: string, r: DistSimResult): FaasnetRow => {
  const out: FaasnetRow & { readyS?: number[] } = { variant, ...r };
  delete out.readyS;
  return out;
};

/** The whole results file. */
export interface FaasnetScaleResult {
  setup: FaasnetSetup & { workingSetSource: string; registryNote: string; pieceRule: string };
  runs: FaasnetRow[];
  /** 2,500 containers on the largest host count (FaaSNet's headline point). */
  paperPoint: FaasnetRow[];
  paper: typeof FAASNET_PAPER;
  /** At the largest host count: registry ÷ tree+lazy and swarm-whole ÷ tree+lazy, ours vs the paper. */
  speedups: { overBaseline: number; overKraken: number; paperOverBaseline: number; paperOverKraken: number };
  /** Every variant at `coarseningHosts` hosts, block-level vs the piece size its largest run uses. */
  coarsening: {
    variant: string;
    hosts: number;
    blockS: number;
    coarsePieceKiB: number;
    coarseS: number;
    diffPct: number;
  }[];
}

/** Runs the scenario; `quick` uses a 64 MiB image and 4-8 hosts (for tests). */
export async function runFaasnetScale(opts: {
  outDir: string;
  say(line: string): void;
  quick?: boolean;
  write?: boolean;
}): Promise<FaasnetScaleResult> {
  const { outDir, say } = opts;
  const start = sandboxColdStart(outDir, 'container/prepared');
  const setup: FaasnetSetup = {
    imageBytes: opts.quick ? 64 * 1024 * KiB : FAASNET_PAPER.imageMB * 1e6,
    hostMbps: 1000,
    registryMbps: 10_000,
    workingSetFraction: 0.064,
    hostCounts: opts.quick ? [4, 8] : [16, 64, 128, 256, 1000],
    coarseningHosts: opts.quick ? 4 : 64,
    containerStartMs: start.coldP50Ms,
    containerStartFrom: `${start.tier} coldP50Ms in ${start.file}`,
  };
  const largest = setup.hostCounts[setup.hostCounts.length - 1]!;
  const runs: FaasnetRow[] = [];
  const hostsOf = (v: Variant) => setup.hostCounts.filter((n) => opts.quick || n <= (v.maxHosts ?? n));
  for (const hosts of setup.hostCounts) {
    for (const v of VARIANTS.filter((x) => hostsOf(x).includes(hosts))) {
      const r = await run(setup, v, hosts, pieceFor(setup, hosts, v.lazy));
      runs.push(row(v.name, r));
      say(
        `${v.name.padEnd(14)} N=${String(hosts).padStart(4)}  all started ${r.allStartedS.toFixed(2).padStart(8)} s  p50 ${r.p50StartedS.toFixed(2).padStart(8)} s  registry ${r.registryMiB.toFixed(0).padStart(7)} MiB  piece ${r.pieceKiB} KiB  (${(r.wallMs / 1000).toFixed(1)} s)`,
      );
    }
  }
  const perHost = FAASNET_PAPER.containers / FAASNET_PAPER.hosts;
  const paperPoint: FaasnetRow[] = [];
  for (const v of VARIANTS.filter((x) => ['registry', 'swarm-whole', 'tree+lazy'].includes(x.name))) {
    const r = await run(setup, v, largest, pieceFor(setup, largest, v.lazy), perHost);
    paperPoint.push(row(v.name, r));
    say(
      `${v.name.padEnd(14)} ${r.containers} containers on ${largest} hosts: all started ${r.allStartedS.toFixed(2)} s`,
    );
  }
  const at = (name: string) => paperPoint.find((r) => r.variant === name)!.allStartedS;
  const speedups = {
    overBaseline: round(at('registry') / at('tree+lazy'), 1),
    overKraken: round(at('swarm-whole') / at('tree+lazy'), 1),
    paperOverBaseline: FAASNET_PAPER.speedupOverBaseline,
    paperOverKraken: FAASNET_PAPER.speedupOverKraken,
  };
  const coarsening: FaasnetScaleResult['coarsening'] = [];
  for (const v of VARIANTS) {
    const coarse = pieceFor(setup, Math.max(...hostsOf(v)), v.lazy);
    const fine = await run(setup, v, setup.coarseningHosts, BLOCK);
    const rough = coarse === BLOCK ? fine : await run(setup, v, setup.coarseningHosts, coarse);
    const diffPct = round((100 * (rough.allStartedS - fine.allStartedS)) / fine.allStartedS, 1);
    coarsening.push({
      variant: v.name,
      hosts: setup.coarseningHosts,
      blockS: fine.allStartedS,
      coarsePieceKiB: coarse / KiB,
      coarseS: rough.allStartedS,
      diffPct,
    });
    say(
      `coarsening ${v.name.padEnd(14)} N=${setup.coarseningHosts}: 512 KiB ${fine.allStartedS.toFixed(2)} s, ${coarse / KiB} KiB ${rough.allStartedS.toFixed(2)} s (${diffPct >= 0 ? '+' : ''}${diffPct}%)`,
    );
  }
  const result: FaasnetScaleResult = {
    setup: {
      ...setup,
      workingSetSource: 'Slacker (Harter et al., FAST 2016): 6.4% of an image is read at container start',
      registryNote:
        'one registry node with a 10 Gbit/s uplink (ten host NICs): FaaSNet’s baseline is registry-bandwidth-bound; registry-bound rows scale as N × bytes ÷ uplink',
      pieceRule: `512 KiB pieces, doubled until hosts × pieces fetched ≤ ${PIECE_BUDGET}`,
    },
    runs,
    paperPoint,
    paper: FAASNET_PAPER,
    speedups,
    coarsening,
  };
  say(
    `at ${largest} hosts, ${paperPoint[0]?.containers} containers: tree+lazy is ${speedups.overBaseline}× faster than the registry baseline (paper: 13.4×) and ${speedups.overKraken}× faster than whole-image swarm (paper, Kraken: 16.3×)`,
  );
  if (opts.write !== false) {
    mkdirSync(outDir, { recursive: true });
    const json = join(outDir, 'sim-faasnet-scale.json');
    writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(join(outDir, 'sim-faasnet-scale.svg'), faasnetPlot(result));
    say(`wrote ${json} and sim-faasnet-scale.svg`);
  }
  return result;
}

/** The results file's plot: provisioning time (all variants, then the fast ones alone) and registry bytes. */
export function faasnetPlot(r: FaasnetScaleResult): string {
  const series = (pick: (x: FaasnetRow) => number, only?: readonly string[]) =>
    VARIANTS.filter((v) => !only || only.includes(v.name)).map((v) => ({
      name: v.name,
      points: r.runs.filter((x) => x.variant === v.name).map((x) => ({ x: x.hosts, y: pick(x) })),
    }));
  const mb = Math.round(r.setup.imageBytes / 1e6);
  return svgDocument(
    [
      lineChart(
        `Provisioning time — ${mb} MB image, ${r.setup.hostMbps / 1000} Gbit/s hosts, ${r.setup.registryMbps / 1000} Gbit/s registry`,
        'hosts (one container each) started at once',
        'seconds until every container started',
        series((x) => x.allStartedS),
        { log2x: true },
      ),
      lineChart(
        'Provisioning time, the variants that stay under a minute',
        'hosts (one container each) started at once',
        'seconds until every container started',
        series((x) => x.allStartedS, ['registry+lazy', 'swarm', 'tree', 'tree+lazy']),
        { log2x: true },
      ),
      lineChart(
        'Bytes served by the registry',
        'hosts started at once',
        'MiB',
        series((x) => x.registryMiB),
        { log2x: true },
      ),
    ],
    640,
    360,
  );
}

/** The scenario registered as `faasnet-scale`. */
export const faasnetScaleScenario: Scenario = {
  name: 'faasnet-scale',
  description:
    'FaaSNet’s provisioning experiment: 758 MB image, 1 Gbit/s NICs, up to 1,000 hosts; registry, swarm (whole-image and piece-level) and tree (+lazy) through the real distribution code',
  run: ({ outDir, say }) => runFaasnetScale({ outDir, say }),
};
