/**
 * Placement: which host runs an invocation. The embedded platform has one worker (in this process);
 * cluster mode adds and removes remote workers as they register and stop answering. Placement is
 * warm-first, then image locality:
 *
 * 1. a host that already runs the version and has room (fewer invocations in flight than its
 *    instances can take: `maxInstances × concurrency`), least loaded first;
 * 2. otherwise a cold start: a host that holds the image (its blocks are local, or it sits in the
 *    image's function tree and is receiving them), least loaded first;
 * 3. otherwise the least loaded host.
 *
 * Ties go round-robin, so a burst of cold starts spreads over equal hosts instead of piling onto the
 * first one.
 */
import { KindlingError } from '../core/errors.js';
import type { WorkerHandle } from '../worker/handle.js';
import { versionKey, type FunctionVersion } from './functions.js';

/** Options of one placement. */
export interface PlaceOptions {
  /** Run on this host (admin placement, for benchmarks and debugging); KINDLING_NOT_FOUND if unknown. */
  host?: string;
  /** Hosts already tried for this invocation (they failed); never picked again. */
  exclude?: ReadonlySet<string>;
}

export class Scheduler {
  private readonly workers = new Map<string, WorkerHandle>();
  private turn = 0;

  constructor(workers: WorkerHandle[] = []) {
    for (const w of workers) this.add(w);
  }

  /** Adds a host (a worker that registered). Replaces a previous handle with the same id. */
  add(worker: WorkerHandle): void {
    this.workers.set(worker.hostId, worker);
  }

  /** Removes a host (it left or stopped answering); returns whether it was there. */
  remove(hostId: string): boolean {
    return this.workers.delete(hostId);
  }

  get(hostId: string): WorkerHandle | undefined {
    return this.workers.get(hostId);
  }

  /** The worker that will run an invocation of `version`. */
  place(version: FunctionVersion, opts: PlaceOptions = {}): WorkerHandle {
    if (opts.host !== undefined) {
      const pinned = this.workers.get(opts.host);
      if (!pinned) {
        throw new KindlingError(
          'KINDLING_NOT_FOUND',
          `no host ${opts.host} in this cluster; GET /v1/cluster/hosts lists them`,
          { host: opts.host },
        );
      }
      return pinned;
    }
    // The embedded platform's case: one host and nothing excluded.
    if (this.workers.size === 1 && !opts.exclude?.size) {
      for (const only of this.workers.values()) return only;
    }
    const candidates: WorkerHandle[] = [];
    for (const w of this.workers.values()) if (!opts.exclude?.has(w.hostId)) candidates.push(w);
    if (candidates.length === 0) {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        this.workers.size === 0
          ? `no worker is available to run ${version.name}; start one with kindling worker`
          : `every worker failed to run ${version.name}; retry later`,
      );
    }
    if (candidates.length === 1) return candidates[0]!;
    const key = versionKey(version);
    const capacity = version.config.maxInstances * version.config.concurrency;
    const warm = candidates.filter((w) => w.runs(key) && w.inFlight < capacity);
    if (warm.length) return this.leastLoaded(warm);
    const local = candidates.filter((w) => w.holdsImage(version.imageDigest));
    if (local.length) return this.leastLoaded(local);
    return this.leastLoaded(candidates);
  }

  /** Every worker, for fan-out operations (warm-up, removal, metrics). */
  all(): readonly WorkerHandle[] {
    return [...this.workers.values()];
  }

  private leastLoaded(hosts: WorkerHandle[]): WorkerHandle {
    let min = Infinity;
    for (const h of hosts) min = Math.min(min, h.inFlight);
    const best = hosts.filter((h) => h.inFlight === min);
    return best[this.turn++ % best.length]!;
  }
}
