/**
 * A host's worker agent with this machine's sandbox tiers and keep-alive policies: what the embedded
 * platform runs in its own process and what `kindling worker` runs on every cluster host.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { toKindlingError, type KindlingError } from '../core/errors.js';
import { DEFAULT_FUNCTION_CONFIG } from '../control/function-config.js';
import { BlobStore } from '../image/blob-store.js';
import type { BlockSource } from '../image/source.js';
import { defaultPolicies, type PolicyName } from '../policy/catalog.js';
import { createContainerTier } from '../sandbox/container/index.js';
import { createIsolateTier } from '../sandbox/isolate/index.js';
import { createProcessTier, type RuntimeSnapshotMode } from '../sandbox/process/index.js';
import { WorkerAgent, type WorkerOptions } from './agent.js';

/** Where a host keeps its blocks, images and sandbox state. */
export interface HostDirs {
  blockCache: string;
  images: string;
  snapshots: string;
  containers: string;
}

export interface HostWorkerOptions {
  hostId?: string;
  dirs: HostDirs;
  /** Where images come from (the registry, directly or over HTTP). */
  source: BlockSource;
  clock: Clock;
  /** Process and container stem cells kept ready per memory size (0 turns them off). */
  stemCells: number;
  /** When the process tier restores its runtime snapshot (default `auto`: where a trial found it faster). */
  runtimeSnapshot?: RuntimeSnapshotMode;
  /** Keep-alive policy of functions that do not choose one. */
  keepAlivePolicy: PolicyName;
  /** Memory budget of the host for greedy-dual functions' instances, MiB. */
  memoryMb?: number;
  logLimitBytes: number;
  /** The host's block cache; default one in `dirs.blockCache`. */
  cache?: BlobStore;
  /** See the worker agent's `fetchImage` option. */
  fetchImage?: WorkerOptions['fetchImage'];
  /** See the worker agent's `onWorkingSet` option. */
  onWorkingSet?: WorkerOptions['onWorkingSet'];
  /** Fetch images at deploy (default true); see the worker agent's `prepareAhead` option. */
  prepareAhead?: boolean;
  onBackgroundError(err: KindlingError, key: string): void;
  /** Messages for the operator (containers an earlier run left, removed at start). */
  say?: (line: string) => void;
}

export function createHostWorker(opts: HostWorkerOptions) {
  const processTier = createProcessTier({
    clock: opts.clock,
    stemCells: { perMemoryMb: opts.stemCells, memoryMb: [DEFAULT_FUNCTION_CONFIG.memoryMb] },
    snapshots: { dir: opts.dirs.snapshots, runtime: opts.runtimeSnapshot ?? 'auto' },
  });
  // Partial image directories from a crash are dropped; complete ones are reused.
  cleanPartialImages(opts.dirs.images);
  const cache = opts.cache ?? new BlobStore(opts.dirs.blockCache);
  const containerTier = createContainerTier({
    clock: opts.clock,
    stateDir: opts.dirs.containers,
    stemCells: { perMemoryMb: opts.stemCells },
  });
  // A run that was killed (SIGKILL, a crash) left its containers in crun's state: removed now, in
  // the background, rather than at the first container start.
  containerTier.removeLeftovers().then(
    (ids) => {
      if (ids.length > 0)
        opts.say?.(`removed ${ids.length} container(s) an earlier run left behind: ${ids.join(' ')}`);
    },
    (err: unknown) => {
      const e = toKindlingError(err);
      if (opts.say) opts.say(`warning: could not remove the containers an earlier run left: ${e.message}`);
      else opts.onBackgroundError(e, 'leftover containers');
    },
  );
  const worker = new WorkerAgent({
    ...(opts.hostId !== undefined ? { hostId: opts.hostId } : {}),
    ...(opts.prepareAhead !== undefined ? { prepareAhead: opts.prepareAhead } : {}),
    ...(opts.fetchImage ? { fetchImage: opts.fetchImage } : {}),
    ...(opts.onWorkingSet ? { onWorkingSet: opts.onWorkingSet } : {}),
    tiers: {
      process: processTier,
      isolate: createIsolateTier(),
      container: containerTier,
    },
    source: opts.source,
    cache,
    imagesDir: opts.dirs.images,
    clock: opts.clock,
    policies: defaultPolicies(),
    defaultPolicy: opts.keepAlivePolicy,
    ...(opts.memoryMb !== undefined ? { memoryMb: opts.memoryMb } : {}),
    logLimitBytes: opts.logLimitBytes,
    onBackgroundError: opts.onBackgroundError,
  });
  return { worker, cache, stemCellCounts: () => processTier.stemCellCounts() };
}

function cleanPartialImages(imagesDir: string): void {
  if (!existsSync(imagesDir)) return;
  for (const entry of readdirSync(imagesDir)) {
    if (entry.startsWith('.tmp-')) rmSync(join(imagesDir, entry), { recursive: true, force: true });
  }
}
