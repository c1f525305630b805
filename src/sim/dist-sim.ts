/**
 * One image-distribution run in the simulator: N hosts start a function at the same instant and each
 * fetches its image with Kindling's own distribution code — the strategy (`registry`, `swarm`,
 * `tree` with its FT manager), the {@link DistributionHub}, and on every host a real
 * {@link BlockFetcher} with its {@link FetchJob}s — over a {@link SimTransport} on the max-min fair
 * {@link Network}, all on one {@link SimClock}. A host's containers start (a sandbox cold start each,
 * one after another) once its working set is local: the whole image without lazy loading.
 *
 * The fetch code is asynchronous (promises), the clock is not: {@link runSimulation} runs every event
 * of one virtual instant, then lets every promise continuation run (a macrotask turn) before the
 * next instant, so the code sees time move only between its awaits, as it would on a real clock.
 *
 * Granularity: the image is cut into pieces of `pieceBytes` (512 KiB is the real block size). At a
 * thousand hosts, 512 KiB pieces mean 1.5 M fetches, each a max-min recompute over thousands of
 * flows; runs that large use bigger pieces (see the faasnet-scale scenario, which also shows on a
 * smaller run how close the coarse result is to the block-level one).
 */
import { KindlingError } from '../core/errors.js';
import { BlockFetcher, type FetchJob } from '../distribution/block-fetcher.js';
import { DistributionHub } from '../distribution/distribution-hub.js';
import { RegistryStrategy } from '../distribution/registry-strategy.js';
import { InProcessSourceDirectory } from '../distribution/source-directory.js';
import type { DistributionStrategy } from '../distribution/strategy.js';
import { SwarmStrategy } from '../distribution/swarm-strategy.js';
import { TreeStrategy } from '../distribution/tree-strategy.js';
import { sha256Digest } from '../image/digest.js';
import type { Digest } from '../image/manifest.js';
import { Network, type NodeCpu } from './network.js';
import { SimBlockStore } from './sim-block-store.js';
import { SimClock } from './sim-clock.js';
import { SimTransport } from './sim-transport.js';
import { WholeImageSwarm } from './whole-image-swarm.js';

/** The strategies a run can use; `swarm-whole` is swarm with whole-image pieces (FaaSNet's Kraken). */
export const DIST_SIM_STRATEGIES = ['registry', 'swarm', 'swarm-whole', 'tree'] as const;
export type DistSimStrategy = (typeof DIST_SIM_STRATEGIES)[number];

/**
 * The hosts' CPU, for {@link DistSimOptions.cpu}: costs in CPU-ms per MiB, measured on a machine
 * (`npm run bench:cpu`), never fitted. See the network's CPU model.
 */
export interface DistSimCpu {
  /**
   * `shared`: every host and the registry (the control plane) run on one machine of `cores` cores —
   * the test cluster on one machine. `per-host`: each host, and the registry, has a machine of
   * `cores` cores to itself.
   */
  machines: 'shared' | 'per-host';
  cores: number;
  /** Cores one host's process (and the control plane's) can use at most; default 1. */
  processCores?: number;
  /** A host receiving a block: HTTP receive, verification, store write, its distribution requests. */
  receiveMsPerMiB: number;
  /** A peer, or the registry, sending a block. */
  sendMsPerMiB: number;
  /** The registry sending a block, when its process costs differ from a peer's; default `sendMsPerMiB`. */
  registrySendMsPerMiB?: number;
  /** The control plane (the registry's node) per MiB any host fetches: its distribution API. */
  controlMsPerMiB: number;
  /** A host once its blocks are local, per MiB of image: verify, decompress, write the files. */
  materialiseMsPerMiB: number;
}

/** Options of {@link simulateDistribution}. */
export interface DistSimOptions {
  strategy: DistSimStrategy;
  /** Hosts that start the function at once (≥ 1). */
  hosts: number;
  /** Image size, bytes (compressed, as it crosses the network). */
  imageBytes: number;
  /** Simulated piece size, bytes; 512 KiB is the real block. */
  pieceBytes: number;
  /** Start containers once the working set is local instead of the whole image. */
  lazy: boolean;
  /** Fraction of the image in the startup working set, when `lazy` (0 < f ≤ 1). */
  workingSetFraction?: number;
  /** Every host's NIC, Mbit/s each way. */
  hostMbps: number;
  /** The registry's NIC, Mbit/s each way. */
  registryMbps: number;
  /** Containers started per host (they share the host's image); default 1. A fraction spreads them: 2.5 → half the hosts start 3, half 2. */
  containersPerHost?: number;
  /**
   * Time to start one container once the image is ready, ms (a measured sandbox cold start). With
   * `cpu`, CPU-ms of work on the host instead of a fixed time.
   */
  containerStartMs: number;
  /** Time a host spends once its blocks are local before any container starts, ms (materialisation); default 0. */
  hostReadyMs?: number;
  /**
   * The CPU model: hosts' and the registry's processes on machines, with per-byte costs on every
   * transfer, materialisation and sandbox starts as CPU work. Default none: the network alone.
   */
  cpu?: DistSimCpu;
  /**
   * How a run without lazy loading asks for the image. `strategy` (default): every block as a
   * background block, so the strategy's piece order applies (rarest-first for swarm), and the host
   * starts when all are local. `manifest`: the whole image as the working set, as the cluster's
   * image fetch (`cluster/image-fetch.ts`) asks today; every host then fetches in manifest order,
   * which turns swarm's rarest-first off.
   */
  wholeImageOrder?: 'strategy' | 'manifest';
  /**
   * Sources send each host's blocks one at a time, in order, as servers do for hosts started with
   * `--requester-turns` (`distribution/requester-turns.ts`); default false, the cluster's default.
   */
  requesterTurns?: boolean;
  /** Blocks a tree host keeps in flight to its parent (TreeStrategyInit.pipelineDepth); default 1, FaaSNet's streaming. */
  treePipelineDepth?: number;
  /**
   * Per-fetch time limit handed to the fetchers, ms. The real 30 s default is a failure detector;
   * with coarse pieces over a saturated registry one piece can take longer, so runs default to a day.
   */
  fetchTimeoutMs?: number;
}

/** What one run measured. */
export interface DistSimResult {
  strategy: DistSimStrategy;
  lazy: boolean;
  hosts: number;
  containers: number;
  pieceKiB: number;
  pieces: number;
  workingSetPieces: number;
  /** Seconds until every container has started (FaaSNet's provisioning time). */
  allStartedS: number;
  /** Median container start, seconds. */
  p50StartedS: number;
  /** Seconds until each host's working set (or image) was local, in host order. */
  readyS: number[];
  registryMiB: number;
  peerMiB: number;
  /** Fewest pieces any host held when the run ended (every piece, for a run without lazy loading). */
  minPiecesHeld: number;
  /** Most any one host uploaded to peers, MiB. */
  maxUploadMiB: number;
  events: number;
  wallMs: number;
}

const MiB = 1024 * 1024;
const DAY_MS = 86_400_000;
const FN = 'sim/fn';

/** Checks the options, naming the bad one and its value. */
function check(o: DistSimOptions): void {
  const bad = (msg: string, extra: Record<string, unknown>) => {
    throw new KindlingError('KINDLING_INVALID_CONFIG', msg, extra);
  };
  if (!DIST_SIM_STRATEGIES.includes(o.strategy))
    bad(`strategy must be one of ${DIST_SIM_STRATEGIES.join(', ')}, got "${String(o.strategy)}"`, {
      strategy: o.strategy,
    });
  if (!Number.isInteger(o.hosts) || o.hosts < 1)
    bad(`hosts must be a whole number ≥ 1, got ${o.hosts}`, { hosts: o.hosts });
  for (const k of ['imageBytes', 'pieceBytes', 'hostMbps', 'registryMbps'] as const)
    if (!(o[k] > 0) || !Number.isFinite(o[k]))
      bad(`${k} must be a finite number > 0, got ${o[k]}`, { [k]: o[k] });
  if (o.lazy) {
    const f = o.workingSetFraction;
    if (f === undefined || !(f > 0 && f <= 1))
      bad(`a lazy run needs workingSetFraction in (0, 1], got ${String(f)}`, { workingSetFraction: f });
  }
  const c = o.containersPerHost ?? 1;
  if (!(c >= 1) || !Number.isFinite(c))
    bad(`containersPerHost must be a finite number ≥ 1, got ${c}`, { containersPerHost: c });
  for (const k of ['containerStartMs', 'hostReadyMs'] as const) {
    const v = o[k] ?? 0;
    if (!(v >= 0) || !Number.isFinite(v)) bad(`${k} must be a finite number ≥ 0, got ${v}`, { [k]: v });
  }
  if (o.cpu) {
    if (o.cpu.machines !== 'shared' && o.cpu.machines !== 'per-host')
      bad(`cpu.machines must be "shared" or "per-host", got "${String(o.cpu.machines)}"`, {
        machines: o.cpu.machines,
      });
    for (const k of [
      'sendMsPerMiB',
      'registrySendMsPerMiB',
      'controlMsPerMiB',
      'materialiseMsPerMiB',
    ] as const) {
      const v = o.cpu[k] ?? 0;
      if (!(v >= 0) || !Number.isFinite(v)) bad(`cpu.${k} must be a finite number ≥ 0, got ${v}`, { [k]: v });
    }
    // Cores, process cores and the receive cost (> 0) are checked by the network.
  }
}

/** A node's process on the CPU model's machines, for {@link Network.addNode}. */
function nodeCpu(network: Network, cpu: DistSimCpu, node: string): NodeCpu {
  let machine = 'machine';
  if (cpu.machines === 'per-host') network.addMachine((machine = `${node}/machine`), cpu.cores);
  else if (!network.hasMachine(machine)) network.addMachine(machine, cpu.cores);
  const sendMsPerMiB =
    node === 'registry' ? (cpu.registrySendMsPerMiB ?? cpu.sendMsPerMiB) : cpu.sendMsPerMiB;
  return {
    machine,
    processCores: cpu.processCores ?? 1,
    sendMsPerByte: sendMsPerMiB / MiB,
    receiveMsPerByte: cpu.receiveMsPerMiB / MiB,
  };
}

/** The image: `n` pieces with stand-in payloads (their digests are real), in manifest order. */
function makeImage(imageBytes: number, pieceBytes: number) {
  const n = Math.ceil(imageBytes / pieceBytes);
  const registry = new Map<Digest, Uint8Array>();
  const size = new Map<Digest, number>();
  const digests: Digest[] = [];
  for (let i = 0; i < n; i++) {
    const payload = Buffer.from(`sim piece ${i} of ${n}`);
    const d = sha256Digest(payload);
    registry.set(d, payload);
    size.set(d, i < n - 1 ? pieceBytes : imageBytes - pieceBytes * (n - 1));
    digests.push(d);
  }
  return { registry, size, digests };
}

function makeStrategy(name: DistSimStrategy, pieces: number, treePipelineDepth = 1): DistributionStrategy {
  switch (name) {
    case 'registry':
      return new RegistryStrategy(8);
    case 'swarm':
      return new SwarmStrategy();
    case 'swarm-whole':
      return new WholeImageSwarm(pieces);
    case 'tree':
      return new TreeStrategy({ pipelineDepth: treePipelineDepth });
  }
}

/**
 * Runs the clock until `finished()` or no event is left: every event of the next instant, then one
 * macrotask turn so promise continuations run before time moves on. Returns the events run.
 */
export async function runSimulation(clock: SimClock, finished: () => boolean): Promise<number> {
  let events = 0;
  for (;;) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (finished()) return events;
    const at = clock.nextEventAt();
    if (at === undefined) return events;
    events += clock.run(at);
  }
}

/** `v` rounded to `digits` decimals (results files keep a few). */
export function roundTo(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Containers on host `i` when `perHost` may be fractional (spread evenly, total = round(hosts × perHost)). */
function containersOn(i: number, perHost: number): number {
  return Math.round((i + 1) * perHost) - Math.round(i * perHost);
}

/** One run; see the module comment. */
export async function simulateDistribution(o: DistSimOptions): Promise<DistSimResult> {
  check(o);
  const wall = performance.now();
  const image = makeImage(o.imageBytes, o.pieceBytes);
  const pieces = image.digests.length;
  const wsPieces = o.lazy ? Math.max(1, Math.ceil(pieces * (o.workingSetFraction ?? 1))) : pieces;
  const workingSet = image.digests.slice(0, wsPieces);
  let wsBytes = 0;
  for (const d of workingSet) wsBytes += image.size.get(d) ?? 0;
  const clock = new SimClock();
  const network = new Network(clock);
  const cpu = o.cpu;
  network.addNode(
    'registry',
    { upMbps: o.registryMbps, downMbps: o.registryMbps },
    cpu && nodeCpu(network, cpu, 'registry'),
  );
  const transport = new SimTransport({
    network,
    registryNode: 'registry',
    registry: image.registry,
    sizeOf: (d) => image.size.get(d) ?? 0,
    ...(cpu?.controlMsPerMiB
      ? { controlCharge: { node: 'registry', msPerByte: cpu.controlMsPerMiB / MiB } }
      : {}),
    // As the registry and the peer servers: lazy loading's background blocks after foreground ones.
    uploadPriority: { clock },
    // As hosts started with --requester-turns: each requester's blocks one at a time.
    requesterTurns: o.requesterTurns === true,
  });
  const hub = new DistributionHub({
    strategies: [makeStrategy(o.strategy, pieces, o.treePipelineDepth)],
    clock,
  });
  const width = String(o.hosts - 1).length;
  const ids = Array.from({ length: o.hosts }, (_, i) => `h${String(i).padStart(width, '0')}`);
  const stores: SimBlockStore[] = [];
  const fetchers = ids.map((id) => {
    network.addNode(id, { upMbps: o.hostMbps, downMbps: o.hostMbps }, cpu && nodeCpu(network, cpu, id));
    const store = new SimBlockStore();
    stores.push(store);
    const fetcher = new BlockFetcher({
      host: id,
      store,
      directory: new InProcessSourceDirectory(hub, id),
      transport,
      clock,
      fetchTimeoutMs: o.fetchTimeoutMs ?? DAY_MS,
    });
    transport.addHost(id, store, fetcher);
    return fetcher;
  });

  const perHost = o.containersPerHost ?? 1;
  const readyAt: number[] = new Array<number>(o.hosts).fill(Number.NaN);
  const started: number[] = [];
  let containers = 0;
  let hostsStarted = 0;
  let failure: unknown;
  const jobs: FetchJob[] = fetchers.map((fetcher, i) => {
    const job = fetcher.fetch({
      fn: FN,
      repository: FN,
      blocks: image.digests,
      workingSet: o.lazy ? workingSet : o.wholeImageOrder === 'manifest' ? undefined : [],
      backgroundRest: o.lazy,
      // As a cluster host: the rest only once the host's first container has started.
      holdBackground: o.lazy,
    });
    // With an empty working set `ready` resolves at once: the host is ready when every block is.
    const ready = o.lazy || o.wholeImageOrder === 'manifest' ? job.ready : job.done;
    const count = containersOn(i, perHost);
    containers += count;
    const host = ids[i]!;
    /**
     * With CPU, as a cluster worker does: a whole image's files are written block by block as the
     * blocks arrive (`whenStored`, in arrival order), each block's share as CPU work on the host.
     */
    const materialised =
      cpu && !o.lazy
        ? Promise.all(
            image.digests.map((d) =>
              fetcher
                .whenStored(d)
                .then(
                  () =>
                    new Promise<void>((resolve) =>
                      network.compute(host, (cpu.materialiseMsPerMiB * (image.size.get(d) ?? 0)) / MiB, () =>
                        resolve(),
                      ),
                    ),
                ),
            ),
          )
        : undefined;
    /**
     * With CPU: the files, then the containers one after another, each as CPU work on the host. A
     * lazy host writes the working set's files first and the rest once every block is local; a
     * whole image's files are written as its blocks arrive (above).
     */
    const startOnCpu = (c: DistSimCpu): void => {
      const materialiseMs = (c.materialiseMsPerMiB * wsBytes) / MiB;
      if (o.lazy)
        job.done.then(
          () => network.compute(host, (c.materialiseMsPerMiB * (o.imageBytes - wsBytes)) / MiB, () => {}),
          () => {},
        );
      let left = count;
      const next = (): void => {
        if (left-- === 0) {
          hostsStarted++;
          return;
        }
        network.compute(host, o.containerStartMs, (_f, at) => {
          started.push(at);
          job.releaseBackground();
          next();
        });
      };
      if (materialised) void materialised.then(next);
      else network.compute(host, materialiseMs, next);
    };
    ready.then(
      () => {
        readyAt[i] = clock.now();
        clock.setTimer(() => {
          if (cpu) return startOnCpu(cpu);
          // Containers on one host start one after another.
          for (let k = 1; k <= count; k++) started.push(clock.now() + k * o.containerStartMs);
          clock.setTimer(() => job.releaseBackground(), o.containerStartMs);
          hostsStarted++;
        }, o.hostReadyMs ?? 0);
      },
      (err: unknown) => (failure ??= err),
    );
    job.done.catch((err: unknown) => (failure ??= err));
    return job;
  });
  const events = await runSimulation(clock, () => failure !== undefined || hostsStarted === o.hosts);
  for (const job of jobs) job.abort();
  if (failure !== undefined) throw failure;
  if (hostsStarted !== o.hosts)
    throw new KindlingError(
      'KINDLING_INTERNAL',
      `the simulation ran out of events with ${o.hosts - hostsStarted} of ${o.hosts} hosts not started (${o.strategy})`,
    );
  started.sort((a, b) => a - b);
  const s = (ms: number) => Math.round(ms) / 1000;
  return {
    strategy: o.strategy,
    lazy: o.lazy,
    hosts: o.hosts,
    containers,
    pieceKiB: o.pieceBytes / 1024,
    pieces,
    workingSetPieces: wsPieces,
    allStartedS: s(started[started.length - 1] ?? 0),
    p50StartedS: s(started[Math.floor((started.length - 1) / 2)] ?? 0),
    readyS: readyAt.map(s),
    registryMiB: Math.round((transport.registryBytes / MiB) * 10) / 10,
    peerMiB: Math.round((transport.peerBytes / MiB) * 10) / 10,
    minPiecesHeld: Math.min(...stores.map((st) => st.size)),
    maxUploadMiB: Math.round((Math.max(0, ...transport.uploadedBy.values()) / MiB) * 10) / 10,
    events,
    wallMs: Math.round(performance.now() - wall),
  };
}
