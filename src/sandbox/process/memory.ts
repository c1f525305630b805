/**
 * How a process instance's memory limit is split and measured.
 *
 * `memoryMb` is a limit on the whole process (resident set), as a cgroup would enforce it. Inside it,
 * V8's heap gets a share via `--max-old-space-size` / `--max-semi-space-size`, so that a function that
 * fills its heap gets a clean V8 out-of-memory instead of the watchdog's SIGKILL, and so that V8 collects
 * garbage before the process reaches the limit. The rest is for what V8's heap does not hold: Node's
 * own ~40 MiB (code, builtins snapshot, libuv, stacks) and Buffers/ArrayBuffers, which live off-heap
 * and which only the RSS watchdog can bound.
 *
 * Split: heap = min(¾ · memoryMb, memoryMb − 48 MiB), at least 16 MiB; of that, 3 semi-spaces (the
 * young generation) of heap/32 MiB each (1..16 MiB, V8's default being 16) and the rest old space.
 * E.g. 128 MiB → 80 MiB heap (2 MiB semi-spaces, 74 MiB old space); 1024 MiB → 768 MiB heap.
 */
import { readFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../core/clock.js';

/** Smallest memoryMb the process tier accepts: an idle Node process alone is ~40 MiB resident. */
export const MIN_MEMORY_MB = 64;

/** Memory for Node itself that the heap share always leaves free, in MiB. */
const NATIVE_RESERVE_MB = 48;

/** The V8 heap limits derived from a memory limit. */
export interface HeapLimits {
  /** `--max-old-space-size`, MiB. */
  oldSpaceMb: number;
  /** `--max-semi-space-size`, MiB. */
  semiSpaceMb: number;
  /** Whole V8 heap (old space + 3 semi-spaces), MiB. */
  heapMb: number;
}

/** V8 heap limits for an instance whose whole process may use `memoryMb` MiB (see the module comment). */
export function heapLimitsFor(memoryMb: number): HeapLimits {
  const heapMb = Math.max(16, Math.min(memoryMb - NATIVE_RESERVE_MB, Math.floor(memoryMb * 0.75)));
  const semiSpaceMb = Math.min(16, Math.max(1, Math.floor(heapMb / 32)));
  const oldSpaceMb = Math.max(8, heapMb - 3 * semiSpaceMb);
  return { oldSpaceMb, semiSpaceMb, heapMb: oldSpaceMb + 3 * semiSpaceMb };
}

/** The node flags that apply `heapLimitsFor(memoryMb)`. */
export function heapFlags(limits: HeapLimits): string[] {
  return [`--max-old-space-size=${limits.oldSpaceMb}`, `--max-semi-space-size=${limits.semiSpaceMb}`];
}

let pageSize: number | undefined;

/**
 * Resident set size of a process in bytes, from `/proc/<pid>/statm`; undefined when it cannot be read
 * (the process is gone, or this is not Linux).
 */
export function readRssBytes(pid: number): number | undefined {
  let statm: string;
  try {
    statm = readFileSync(`/proc/${pid}/statm`, 'latin1');
  } catch {
    // ENOENT/ESRCH: the process has exited (its exit is handled elsewhere); no /proc: not measurable.
    return undefined;
  }
  const pages = Number(statm.split(' ')[1]);
  return Number.isFinite(pages) ? pages * systemPageSize() : undefined;
}

/**
 * statm counts pages; the page size is 4 KiB on x86-64 but 16 or 64 KiB on some arm64 kernels. Node
 * does not expose it, so derive it once from our own process (statm pages vs rss bytes).
 */
function systemPageSize(): number {
  if (pageSize === undefined) {
    const pages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]);
    const ratio = process.memoryUsage.rss() / pages;
    pageSize = [4096, 16384, 65536].reduce((best, size) =>
      Math.abs(size - ratio) < Math.abs(best - ratio) ? size : best,
    );
  }
  return pageSize;
}

/**
 * Samples a process's RSS on a timer and calls `onOver` once when it exceeds `limitBytes`. The V8 heap
 * limit cannot see Buffers and other off-heap memory; this can (at `intervalMs` granularity).
 */
export class RssWatchdog {
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** Highest RSS seen, in bytes (for the heap-OOM message, which V8 reports without numbers). */
  peakBytes = 0;

  /**
   * Starts sampling at once.
   * @param intervalMs 0 disables the watchdog (it then never calls `onOver`).
   * @param onOver called once, with the RSS that crossed the limit; sampling stops then.
   */
  constructor(
    private readonly clock: Clock,
    private readonly pid: number,
    private readonly intervalMs: number,
    private readonly limitBytes: number,
    private readonly onOver: (rssBytes: number) => void,
  ) {
    this.schedule();
  }

  /** Stops sampling. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
  }

  private schedule(): void {
    if (this.intervalMs > 0 && !this.stopped)
      this.timer = this.clock.setTimer(() => this.check(), this.intervalMs);
  }

  private check(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const rss = readRssBytes(this.pid);
    if (rss !== undefined) {
      this.peakBytes = Math.max(this.peakBytes, rss);
      if (rss > this.limitBytes) {
        this.stop();
        return this.onOver(rss);
      }
    }
    this.schedule();
  }
}
