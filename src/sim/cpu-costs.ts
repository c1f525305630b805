/**
 * Measured CPU costs of Kindling's data path, the inputs of the simulator's CPU model: written by
 * `npm run bench:cpu` (`bench/cpu-costs.ts`) to `bench/results/cpu-costs.json`, which pushes real
 * blocks through the real fetcher, peer server and distribution API and reads each process's
 * `process.cpuUsage()`. Read here from the results directory a scenario writes to, else from the
 * repository's `bench/results/`.
 */
import { readFileSync } from 'node:fs';
import { KindlingError } from '../core/errors.js';
import { displayPath, findResult, REPO_RESULTS } from './measured-costs.js';

/** CPU ms per MiB of blocks moved, per role, on one network path. */
export interface CpuPathCosts {
  /** The fetching worker: HTTP receive, sha256 verification, store write, its distribution requests. */
  receiveMsPerMiB: number;
  /** The serving worker (peer server): read from the store, verify, HTTP send. */
  sendMsPerMiB: number;
  /** The control plane answering the fetcher's sources/stored requests. */
  controlMsPerMiB: number;
  /** Rate the measured fetch ran at, Mbit/s. */
  mbps: number;
  passes: Omit<CpuPathCosts, 'passes'>[];
}

/** `bench/results/cpu-costs.json`. */
export interface CpuCostsFile {
  note: string;
  /** `loadAverage1m`: the machine's 1-minute load when the run began (other work inflates CPU per byte). */
  machine: { cpus: number; model: string; node: string; loadAverage1m?: number };
  mib: number;
  blockKiB: number;
  /** `netns`: veth + tc shaping (`link-shaping.ts`), as the test cluster; `loopback`: 127.0.0.1, unshaped. */
  paths: { netns?: CpuPathCosts; loopback?: CpuPathCosts };
  /**
   * A plain TCP stream over one shaped host link (netns only): its goodput as a fraction of the
   * shaping rate — Ethernet, IP and TCP headers and the shaper, no Kindling code.
   */
  link?: { shapedMbps: number; goodputFraction: number };
  /** The real `materializeImage` from a full block cache (read, verify, decompress, write), CPU ms per MiB. */
  materialiseMsPerMiB: number;
  /**
   * The `GLIBC_TUNABLES` the processes above ran with, as a local cluster starts its processes
   * (`cluster/malloc-tuning.ts`); absent in files written before the tuning existed.
   */
  mallocTunables?: string;
  /** The same measurements in the same run with malloc at glibc's defaults, for comparison. */
  defaultMalloc?: { netns?: CpuPathCosts; loopback?: CpuPathCosts; materialiseMsPerMiB: number };
}

/** The costs a scenario uses, and where they came from. */
export interface MeasuredCpuCosts {
  file: string;
  path: 'netns' | 'loopback';
  costs: CpuPathCosts;
  materialiseMsPerMiB: number;
  machine: CpuCostsFile['machine'];
  /** Goodput of a shaped link as a fraction of its rate, when measured (netns). */
  linkGoodputFraction: number | undefined;
}

/**
 * The measured costs, preferring the `netns` path (the test cluster's) over `loopback`;
 * KINDLING_NOT_FOUND naming the fix when there are none.
 */
export function measuredCpuCosts(outDir: string): MeasuredCpuCosts {
  const file = findResult(outDir, ['cpu-costs.json']);
  if (!file)
    throw new KindlingError(
      'KINDLING_NOT_FOUND',
      `no cpu-costs.json in ${outDir} or ${REPO_RESULTS}: run \`npm run bench:cpu\` first (the simulator's CPU model takes its per-MiB costs from it)`,
    );
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<CpuCostsFile>;
  const path = doc.paths?.netns ? 'netns' : 'loopback';
  const costs = doc.paths?.[path];
  const ok = (v: unknown): v is number => typeof v === 'number' && v >= 0 && Number.isFinite(v);
  if (
    !costs ||
    !ok(costs.receiveMsPerMiB) ||
    !ok(costs.sendMsPerMiB) ||
    !ok(costs.controlMsPerMiB) ||
    !ok(doc.materialiseMsPerMiB)
  )
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `${file}: needs paths.netns or paths.loopback with receiveMsPerMiB, sendMsPerMiB and controlMsPerMiB, and materialiseMsPerMiB (numbers ≥ 0); run \`npm run bench:cpu\` again`,
      { file },
    );
  return {
    file: displayPath(file),
    path,
    costs,
    materialiseMsPerMiB: doc.materialiseMsPerMiB,
    machine: doc.machine ?? { cpus: 0, model: 'unknown', node: 'unknown' },
    linkGoodputFraction:
      ok(doc.link?.goodputFraction) && doc.link.goodputFraction > 0 && doc.link.goodputFraction <= 1
        ? doc.link.goodputFraction
        : undefined,
  };
}
