/**
 * Which way of starting the runtime is faster on this machine: spawning `node runtime.cjs`, or
 * restoring a V8 startup snapshot of the runtime. The snapshot skips loading the shim and its
 * modules but deserialises its own heap instead of Node's built-in one, and which costs less depends
 * on the machine: measured here on 2026-11-29 the snapshot saved ~4 ms a start (36 vs 41 ms), on
 * 2026-12-04 it cost ~20 ms more (107 vs 84 ms, `bench/results/sandbox-2026-12-04.json`). So the
 * process tier asks, once per memory size: both ways, alternately, a few times each, timed from the
 * spawn to the runtime's `runtime-ready` frame (stem-cell runtimes, which then wait and are killed).
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { KindlingError } from '../../core/errors.js';

/** What a trial found. */
export interface RuntimeStartTrial {
  /** Median milliseconds from spawn to `runtime-ready`, plain start. */
  plainMs: number;
  /** The same, restored from the runtime snapshot. */
  snapshotMs: number;
  /** True when the snapshot start was the faster. */
  useSnapshot: boolean;
  /** Starts timed each way. */
  samples: number;
}

/** How long one trial start may take before the trial gives up. */
const START_TIMEOUT_MS = 10_000;

/**
 * Times `samples` starts each way, alternating (so both see the same machine load), and compares the
 * medians. `spawnRuntime(fromSnapshot)` starts a stem-cell runtime with the channel on fd 3.
 */
export async function trialRuntimeStarts(
  spawnRuntime: (fromSnapshot: boolean) => ChildProcess,
  samples = 5,
): Promise<RuntimeStartTrial> {
  const plain: number[] = [];
  const snapshot: number[] = [];
  for (let i = 0; i < samples; i++) {
    // Alternate which goes first too: a start right after another may find caches warmer.
    for (const fromSnapshot of i % 2 === 0 ? [false, true] : [true, false]) {
      (fromSnapshot ? snapshot : plain).push(await timeStart(spawnRuntime, fromSnapshot));
    }
  }
  const plainMs = median(plain);
  const snapshotMs = median(snapshot);
  return { plainMs, snapshotMs, useSnapshot: snapshotMs < plainMs, samples };
}

/** Milliseconds from spawning one runtime to its first frame; the process is killed after. */
function timeStart(
  spawnRuntime: (fromSnapshot: boolean) => ChildProcess,
  fromSnapshot: boolean,
): Promise<number> {
  const t0 = performance.now();
  const child = spawnRuntime(fromSnapshot);
  const channel = child.stdio[3] as Readable | null | undefined;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    // Whatever happened, the process goes, once.
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      for (const stream of child.stdio) stream?.destroy();
      outcome();
    };
    const fail = (why: string): void =>
      finish(() =>
        reject(
          new KindlingError(
            'KINDLING_INIT_FAILED',
            `timing a ${fromSnapshot ? 'snapshot' : 'plain'} runtime start failed: ${why}`,
          ),
        ),
      );
    const timer = setTimeout(() => fail(`no runtime-ready within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    if (!channel) return fail('the runtime has no channel on fd 3');
    channel.once('data', () => {
      const ms = performance.now() - t0;
      finish(() => resolve(ms));
    });
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`the runtime exited (${signal ?? code}) before it was ready`));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[s.length >> 1] ?? 0) * 100) / 100;
}
