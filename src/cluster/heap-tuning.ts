/**
 * A V8 heap setting for the processes that move image blocks (the control plane and workers a
 * local cluster starts). Such a process keeps a small old generation (about 18 MB for a worker)
 * and allocates fast in the young one: every socket read and every block is a fresh buffer. V8
 * starts an incremental mark-compact whenever the old generation's room below its limit is smaller
 * than the young generation's capacity, and with a small heap that limit is low (about 42 MB). A
 * worker fetching an image at 100 Mbit/s then ran a full mark-compact about every 0.3 s, with the
 * old generation holding 18 MB throughout (`--trace-gc`, `--trace-incremental-marking`). Starting
 * the old generation at 128 MB leaves that room, and those collections stop.
 *
 * Measured on the test cluster (one host fetching a 64 MiB image, three alternating pairs): the
 * worker spent 1.60-1.67 CPU-s against 2.12-2.36 without the flag; 64 MB gave 1.86-2.13. The
 * cost is memory: garbage may reach the larger limit before it is collected.
 *
 * V8 reads heap sizes when the process starts (Node does not accept this flag in NODE_OPTIONS), so
 * it goes on the command line of the processes started. `KINDLING_V8_HEAP=default` turns it off.
 */

/** The flags: the old generation starts at 128 MB. */
export const KINDLING_HEAP_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/** The Node flags a local cluster starts its processes with, unless `env` opts out (see the module comment). */
export function heapTuningFlags(env: NodeJS.ProcessEnv): readonly string[] {
  return env.KINDLING_V8_HEAP === 'default' ? [] : KINDLING_HEAP_FLAGS;
}
