/**
 * The cluster benchmark's one-host runs as the calibration's reference: what the cluster's own
 * processes spend per MiB, and the time a start takes beyond what the model has.
 *
 * `npm run bench:cpu` measures each part of the data path in a process of its own (a fetcher, a
 * peer server, the distribution API, `materializeImage`), which gives the split between the parts.
 * The cluster's processes do more per byte than those harnesses: a worker also sends heartbeats and
 * reports, runs the agent and its HTTP server, and collects a larger heap's garbage; the kernel
 * moves the packets (interrupts and kernel threads, which no process is charged for). With one
 * host, a whole-image cold start in `bench:dist` moves the image once from the registry to one
 * worker, so its per-role CPU (`waveCpuByRoleS`) divided by the image size is those processes' own
 * cost per MiB, with no other host competing. {@link scaleToOneHost} scales bench:cpu's costs to it:
 * - the worker's receive and materialise, and a peer's send, by `workers ÷ (receive + materialise)`;
 * - the registry's send and the control plane's cost by `control plane ÷ (send + control)`;
 * - the kernel's share (interrupts and kernel threads ÷ MiB) added to the receive cost.
 * At one host every strategy names the registry as the only source, so the worker and the control
 * plane do the same work under each; each figure is the median over the strategies' one-host runs
 * (single runs of the same work vary by ±10-30% on this shared machine).
 *
 * The time a start takes beyond the model (`extraStartS`) is the one-host runs' all-ready time
 * minus the model's for them with these costs (the median over the strategies, whole-image and lazy
 * runs apart): time the model has no part for (request round trips, process scheduling), charged
 * to every host of that kind of run as a wait before its first container starts. It is clamped at
 * 0: the model is never made faster than it computes.
 *
 * The compared runs (2-16 hosts) are never used to set any of it.
 */
import { percentile, sortedCopy } from '../core/stats.js';
import type { DistSimCpu } from './dist-sim.js';
import type { DistBenchRun } from './measured-costs.js';

/** What the one-host whole-image runs say about the cluster's processes. */
export interface OneHostCosts {
  /** The runs the medians are over. */
  runs: number;
  /** The worker's CPU per MiB of image (receive and materialise), the control plane's per MiB served, the kernel's per MiB moved. */
  workerMsPerMiB: number;
  controlPlaneMsPerMiB: number;
  kernelMsPerMiB: number;
  /** workerMsPerMiB ÷ bench:cpu's receive + materialise; controlPlaneMsPerMiB ÷ its send + control. */
  workerScale: number;
  controlPlaneScale: number;
}

type Run = Pick<DistBenchRun, 'strategy' | 'lazy' | 'hosts' | 'registryMiB' | 'waveCpuByRoleS'>;

const r3 = (v: number) => Math.round(v * 1000) / 1000;

/** The median of `xs` by nearest rank (the lower middle value when even: a measured run, not a mean of two). */
const median = (xs: readonly number[]) => percentile(sortedCopy(xs), 50);

/**
 * The one-host whole-image runs as costs, against bench:cpu's `cpu`; undefined when the file has
 * none with the per-role CPU record (runs before it was recorded).
 */
export function oneHostCosts(runs: readonly Run[], cpu: DistSimCpu): OneHostCosts | undefined {
  const measured: { worker: number; control: number; kernel: number }[] = [];
  for (const run of runs) {
    const roles = run.waveCpuByRoleS;
    if (run.lazy || run.hosts !== 1 || !roles || !(run.registryMiB > 0)) continue;
    const workers = roles['workers'];
    const control = roles['control plane'];
    if (typeof workers !== 'number' || typeof control !== 'number') continue;
    const perMiB = (s: number) => (1000 * s) / run.registryMiB;
    const kernel = (roles['interrupts'] ?? 0) + (roles['kernel threads'] ?? 0);
    measured.push({ worker: perMiB(workers), control: perMiB(control), kernel: perMiB(kernel) });
  }
  if (measured.length === 0) return undefined;
  const workerMsPerMiB = median(measured.map((x) => x.worker));
  const controlPlaneMsPerMiB = median(measured.map((x) => x.control));
  return {
    runs: measured.length,
    workerMsPerMiB: r3(workerMsPerMiB),
    controlPlaneMsPerMiB: r3(controlPlaneMsPerMiB),
    kernelMsPerMiB: r3(median(measured.map((x) => x.kernel))),
    workerScale: r3(workerMsPerMiB / (cpu.receiveMsPerMiB + cpu.materialiseMsPerMiB)),
    controlPlaneScale: r3(controlPlaneMsPerMiB / (cpu.sendMsPerMiB + cpu.controlMsPerMiB)),
  };
}

/** bench:cpu's costs scaled to what the cluster's processes spend (see the module comment). */
export function scaleToOneHost(cpu: DistSimCpu, ref: OneHostCosts): DistSimCpu {
  return {
    ...cpu,
    receiveMsPerMiB: r3(cpu.receiveMsPerMiB * ref.workerScale + ref.kernelMsPerMiB),
    materialiseMsPerMiB: r3(cpu.materialiseMsPerMiB * ref.workerScale),
    sendMsPerMiB: r3(cpu.sendMsPerMiB * ref.workerScale),
    registrySendMsPerMiB: r3(cpu.sendMsPerMiB * ref.controlPlaneScale),
    controlMsPerMiB: r3(cpu.controlMsPerMiB * ref.controlPlaneScale),
  };
}

/**
 * The one-host runs' time beyond the model's, seconds: the median over the given pairs, clamped at
 * 0 (see the module comment); 0 without any.
 */
export function extraStartS(runs: readonly { measuredS: number; simulatedS: number }[]): number {
  if (runs.length === 0) return 0;
  return Math.max(0, r3(median(runs.map((r) => r.measuredS - r.simulatedS))));
}
