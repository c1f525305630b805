/**
 * glibc malloc settings for the processes that move image blocks (the control plane and workers a
 * local cluster starts). A block's path through a process allocates several block-sized buffers
 * (the body, the decompressed bytes, a read from the store). At glibc's defaults a buffer that
 * size is often mapped fresh with `mmap` and faulted in page by page, and unmapped when V8 frees
 * it; page faults are dear on virtual machines (about 3 µs per 4 KiB page on the test machine, so
 * 0.4 ms per 512 KiB buffer). With allocations up to 4 MiB (the largest block) served from the heap,
 * and up to 64 MiB of freed heap kept for reuse, the buffers recycle memory that is already mapped:
 * `npm run bench:cpu` measures both settings in the same run (README, "CPU of the image data path").
 *
 * glibc reads `GLIBC_TUNABLES` when a process starts, so the setting is made in the environment of
 * the processes started, not in this one. A `GLIBC_TUNABLES` the operator set is left as it is, and
 * `KINDLING_MALLOC=default` turns the tuning off. Other C libraries ignore the variable.
 */

/** The tunables: block-sized allocations from the heap, freed heap kept up to 64 MiB. */
export const KINDLING_MALLOC_TUNABLES =
  'glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=67108864';

/** `env` with {@link KINDLING_MALLOC_TUNABLES} added, unless it sets its own or opts out (see the module comment). */
export function withMallocTuning(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.GLIBC_TUNABLES !== undefined || env.KINDLING_MALLOC === 'default') return env;
  return { ...env, GLIBC_TUNABLES: KINDLING_MALLOC_TUNABLES };
}
