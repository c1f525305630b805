/**
 * The host side of distribution: one per worker host. Starts {@link FetchJob}s (one per function at a
 * time), stores blocks in the host's block store (its `BlobStore`), routes {@link SourceChange}s from the
 * directory to the running jobs, and lets the peer server wait for a block the host is still
 * receiving ({@link BlockFetcher.waitForBlock}), which is what makes tree distribution stream.
 */
import type { Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { Digest } from '../image/manifest.js';
import { checkPositiveInt } from './check-options.js';
import { FetchJob, type HostBlockStore } from './fetch-job.js';
import type { FetchRequest } from './fetch-report.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';
import type { SourceDirectory } from './source-directory.js';
import type { Transport } from './strategy.js';

// The fetcher is the host side's entry point: its job and report types come with it.
export type { FetchJob, HostBlockStore } from './fetch-job.js';
export type { FetchReport, FetchRequest } from './fetch-report.js';

/** Options of {@link BlockFetcher}. */
export interface BlockFetcherOptions {
  /** This host's id, as the control plane names it. */
  host: HostId;
  /** This host's block cache (its BlobStore in the platform). */
  store: HostBlockStore;
  /** Where sources come from (in-process hub or the control plane over HTTP); must speak for `host`. */
  directory: SourceDirectory;
  transport: Transport;
  clock: Clock;
  /** Time limit of one block fetch from one source; default 30 000 ms (a tree child may wait on its parent). */
  fetchTimeoutMs?: number;
  /** This host's own cap on fetches per function (the strategy's limit applies too); default 16. */
  maxConcurrentFetches?: number;
  /** Rounds of asking for sources before a block is given up; default 5. */
  maxRounds?: number;
  /** Delay before round n+1 is `n × retryDelayMs`, so a source change can arrive; default 100 ms. */
  retryDelayMs?: number;
  /**
   * Bytes of the most recently fetched blocks kept in memory, verified, for {@link recentBlock}, while
   * the job that fetched them runs: a tree parent forwards a block to its children as it arrives
   * without reading and hashing it again; default 16 MiB (0: none).
   */
  recentBytes?: number;
}

/** Counters over every job this fetcher ran or runs, for the worker's metrics and heartbeats. */
export interface FetcherTotals {
  blocksFetched: number;
  bytesFromRegistry: number;
  bytesFromPeers: number;
  corrupt: number;
  failovers: number;
  repointed: number;
}

const TOTAL_KEYS = [
  'blocksFetched',
  'bytesFromRegistry',
  'bytesFromPeers',
  'corrupt',
  'failovers',
  'repointed',
] as const;

interface Arrival {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  /** Callers of waitForBlock still waiting on it. */
  waiters: number;
}

/** Fetches functions' blocks for one host; see the module comment. */
export class BlockFetcher {
  readonly host: HostId;
  readonly store: HostBlockStore;
  private readonly options: Required<Omit<BlockFetcherOptions, 'host' | 'store'>>;
  private readonly jobs = new Map<FunctionKey, FetchJob>();
  private readonly arrivals = new Map<Digest, Arrival>();
  private readonly recent = new Map<Digest, { bytes: Uint8Array; job: FetchJob }>();
  private recentTotal = 0;
  private readonly unsubscribe: () => void;
  private stopped = false;
  private readonly finished: FetcherTotals = {
    blocksFetched: 0,
    bytesFromRegistry: 0,
    bytesFromPeers: 0,
    corrupt: 0,
    failovers: 0,
    repointed: 0,
  };

  constructor(options: BlockFetcherOptions) {
    if (options.directory.host !== options.host) {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `the source directory speaks for host "${options.directory.host}", not "${options.host}"; give each host its own directory`,
      );
    }
    this.host = options.host;
    this.store = options.store;
    this.options = {
      directory: options.directory,
      transport: options.transport,
      clock: options.clock,
      fetchTimeoutMs: options.fetchTimeoutMs ?? 30_000,
      maxConcurrentFetches: options.maxConcurrentFetches ?? 16,
      maxRounds: options.maxRounds ?? 5,
      retryDelayMs: options.retryDelayMs ?? 100,
      recentBytes: options.recentBytes ?? 16 * 1024 * 1024,
    };
    checkPositiveInt('fetchTimeoutMs', this.options.fetchTimeoutMs);
    checkPositiveInt('maxConcurrentFetches', this.options.maxConcurrentFetches);
    checkPositiveInt('maxRounds', this.options.maxRounds);
    this.unsubscribe = options.directory.onSourceChange((change) =>
      this.jobs.get(change.fn)?.sourceChanged(change),
    );
  }

  /**
   * Starts fetching `request.blocks` (working set first). While a job for the same function runs, a
   * second call adds its blocks to that job (the working set of the second call is fetched ahead of
   * the background, but `ready` stays the first call's) and returns it.
   */
  fetch(request: FetchRequest): FetchJob {
    if (this.stopped) {
      throw new KindlingError('KINDLING_UNAVAILABLE', `the block fetcher of host ${this.host} is stopped`);
    }
    const running = this.jobs.get(request.fn);
    if (running?.want(request.workingSet ?? [], true) && running.want(request.blocks)) return running;
    const o = this.options;
    const job = new FetchJob(request, {
      host: this.host,
      store: this.store,
      directory: o.directory,
      transport: o.transport,
      clock: o.clock,
      fetchTimeoutMs: o.fetchTimeoutMs,
      maxConcurrentFetches: o.maxConcurrentFetches,
      maxRounds: o.maxRounds,
      retryDelayMs: o.retryDelayMs,
      onStored: (digest, bytes) => {
        if (bytes) this.remember(digest, bytes, job);
        this.arrived(digest);
      },
    });
    this.jobs.set(request.fn, job);
    const forget = (): void => {
      this.forgetRecent(job);
      for (const k of TOTAL_KEYS) this.finished[k] += job.report[k];
      if (this.jobs.get(request.fn) === job) this.jobs.delete(request.fn);
    };
    job.done.then(forget, forget);
    return job;
  }

  /** Totals over finished and running jobs. */
  totals(): FetcherTotals {
    const out = { ...this.finished };
    for (const job of this.jobs.values()) for (const k of TOTAL_KEYS) out[k] += job.report[k];
    return out;
  }

  /** The running job of `fn`, if any. */
  jobOf(fn: FunctionKey): FetchJob | undefined {
    return this.jobs.get(fn);
  }

  /** True when a running job will fetch `digest`. */
  isPending(digest: Digest): boolean {
    for (const job of this.jobs.values()) if (job.isPending(digest)) return true;
    return false;
  }

  /**
   * Resolves once `digest` is in the store: at once when it is there, else the moment a job stores it
   * (a job that has it queued moves it to the front; with `background`, to the front of its background
   * blocks only). Waits for blocks no job knows of too, as a job may be about to start; bound the
   * wait with `signal`, which rejects with the signal's reason.
   */
  waitForBlock(digest: Digest, signal?: AbortSignal, background = false): Promise<void> {
    return this.awaitStored(digest, signal, () => {
      for (const job of this.jobs.values()) job.promote(digest, background);
    });
  }

  /**
   * Resolves once `digest` is in the store, as {@link waitForBlock} does, but leaves every job's
   * queue as it is: for a reader that follows a running fetch in whatever order it goes (the worker
   * writes a whole image's files as their blocks arrive). Bound the wait with `signal`.
   */
  whenStored(digest: Digest, signal?: AbortSignal): Promise<void> {
    return this.awaitStored(digest, signal);
  }

  private async awaitStored(digest: Digest, signal?: AbortSignal, promote?: () => void): Promise<void> {
    signal?.throwIfAborted();
    let arrival = this.arrivals.get(digest);
    if (!arrival) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      arrival = { promise, resolve, waiters: 0 };
      this.arrivals.set(digest, arrival);
    }
    const mine = arrival;
    mine.waiters++;
    // Promote before the first await, so the caller knows the block is at the front when this returns.
    promote?.();
    try {
      if (await this.store.has(digest)) {
        this.arrived(digest);
        return;
      }
      if (!signal) return await mine.promise;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        mine.promise.then(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, reject);
      });
    } finally {
      // A waiter that gave up on a block nobody will store must not leave its entry behind.
      if (--mine.waiters === 0 && this.arrivals.get(digest) === mine && !this.isPending(digest)) {
        this.arrivals.delete(digest);
      }
    }
  }

  /**
   * Fetches one block now, ahead of every queued block (a sandbox reads a block outside the working
   * set): added to the function's running job, or fetched by a new one. Resolves once it is stored.
   */
  demand(fn: FunctionKey, repository: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    let job = this.jobs.get(fn);
    // Synchronous up to here, so the block is at the front of the queue when this returns.
    if (!job?.want([digest], true)) job = this.fetch({ fn, repository, blocks: [digest] });
    // The job's failure (no source had the block) ends the wait too.
    return Promise.race([
      this.waitForBlock(digest, signal),
      job.done.then(() => this.waitForBlock(digest, signal)),
    ]);
  }

  /** Cancels every job and stops listening for source changes. */
  stop(reason?: unknown): void {
    this.stopped = true;
    this.unsubscribe();
    for (const job of this.jobs.values()) {
      job.abort(reason ?? new KindlingError('KINDLING_UNAVAILABLE', `host ${this.host} stopped fetching`));
    }
  }

  /**
   * The bytes of `digest` when a running job of this fetcher fetched and verified it recently (see
   * `recentBytes`), else undefined: then read it from the store, which verifies it.
   */
  recentBlock(digest: Digest): Uint8Array | undefined {
    return this.recent.get(digest)?.bytes;
  }

  /** Keeps the newest blocks up to `recentBytes`, dropping the oldest (a Map iterates in insertion order). */
  private remember(digest: Digest, bytes: Uint8Array, job: FetchJob): void {
    const limit = this.options.recentBytes;
    if (bytes.length > limit || this.recent.has(digest)) return;
    this.recent.set(digest, { bytes, job });
    this.recentTotal += bytes.length;
    for (const [d, r] of this.recent) {
      if (this.recentTotal <= limit) break;
      this.recent.delete(d);
      this.recentTotal -= r.bytes.length;
    }
  }

  /** Drops a finished job's blocks: from now on they are read from the store, verified. */
  private forgetRecent(job: FetchJob): void {
    for (const [d, r] of this.recent) {
      if (r.job !== job) continue;
      this.recent.delete(d);
      this.recentTotal -= r.bytes.length;
    }
  }

  private arrived(digest: Digest): void {
    const arrival = this.arrivals.get(digest);
    if (!arrival) return;
    this.arrivals.delete(digest);
    arrival.resolve();
  }
}
