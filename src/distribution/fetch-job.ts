/**
 * One function's block fetch on one host: the startup working set first (then `ready`), the rest in
 * the background, blocks asked for on demand ahead of both. Runs a bounded number of lanes (the
 * strategy's connection limit), asks the {@link SourceDirectory} for each block's sources just before
 * fetching it, tries them in order, verifies every block against its digest, and re-points a fetch
 * when the host's preferred source changes. Created by {@link BlockFetcher.fetch}.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { KindlingError, toKindlingError } from '../core/errors.js';
import type { BlobStore } from '../image/blob-store.js';
import { sha256Digest } from '../image/digest.js';
import type { Digest } from '../image/manifest.js';
import type { HostId } from './function-tree.js';
import type { FetchReport, FetchRequest } from './fetch-report.js';
import { MicrotaskBatcher } from './microtask-batcher.js';
import type { SourceDirectory } from './source-directory.js';
import { REGISTRY_ORIGIN, type BlockOrigin, type SourceChange, type Transport } from './strategy.js';
import { hash32 } from '../core/hash32.js';
import type { BlockArrival } from './transfer-progress.js';

/**
 * The part of a host's block store the fetcher uses: the platform passes its {@link BlobStore}; the
 * simulator, or a test, may pass an in-memory one.
 */
export type HostBlockStore = Pick<BlobStore, 'has' | 'present' | 'putTrusted'>;

/** What a job gets from its {@link BlockFetcher}. */
export interface FetchJobParts {
  readonly host: HostId;
  readonly store: HostBlockStore;
  readonly directory: SourceDirectory;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly fetchTimeoutMs: number;
  readonly maxConcurrentFetches: number;
  readonly maxRounds: number;
  readonly retryDelayMs: number;
  /**
   * Called when a block is stored (the fetcher wakes its waiters), with its verified bytes when this
   * job fetched them (not when the store already held the block).
   */
  readonly onStored: (digest: Digest, bytes?: Uint8Array) => void;
}

/** Sources when the control plane cannot be asked. */
const REGISTRY_ONLY: readonly BlockOrigin[] = Object.freeze([REGISTRY_ORIGIN]);
/** Fetches at once when the control plane cannot tell the strategy's limit. */
const FALLBACK_CONCURRENCY = 4;

const DEMAND = 0;
const WORKING_SET = 1;
const BACKGROUND = 2;

interface BlockState {
  readonly digest: Digest;
  /** Order within a priority (manifest order; negative once promoted within the background). */
  index: number;
  readonly tie: number;
  priority: number;
  state: 'queued' | 'active' | 'done';
  availability: number;
}

interface Attempt {
  readonly digest: Digest;
  readonly origin: BlockOrigin;
  readonly controller: AbortController;
  why: 'repoint' | 'timeout' | undefined;
}

/** A running fetch; see the module comment. */
export class FetchJob {
  /** Resolves once every working-set block is local; rejects if one cannot be fetched. */
  readonly ready: Promise<void>;
  /** Resolves with the report once every block is local; rejects on the first block that cannot be. */
  readonly done: Promise<FetchReport>;
  /** Live counters (final once `done` settles). */
  readonly report: FetchReport;
  private readonly blocks = new Map<Digest, BlockState>();
  private readonly workingSet: Set<Digest>;
  private readonly attempts = new Set<Attempt>();
  private readonly controller = new AbortController();
  private readonly sourcesBatch: MicrotaskBatcher<Digest, readonly BlockOrigin[]>;
  private readonly storedBatch: MicrotaskBatcher<{ digest: Digest; arrival: BlockArrival }, void>;
  private concurrency = 1;
  private rarestFirst = false;
  /** The last index given to a block promoted within the background (counts down from 0). */
  private promotedIndex = 0;
  /** True while background blocks wait for {@link releaseBackground} (see `holdBackground`). */
  private backgroundHeld = false;
  private holdTimer: TimerHandle | undefined;
  private wsRemaining: number;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  private idle: (() => void)[] = [];
  private failure: KindlingError | undefined;
  private sinceAvailability = 0;
  private lanesRunning = 0;
  /** Set the moment the last lane ends: from then on the job takes no more blocks. */
  private closed = false;

  constructor(
    readonly request: FetchRequest,
    private readonly parts: FetchJobParts,
  ) {
    const { fn, repository } = request;
    const ordered = [...(request.workingSet ?? []), ...request.blocks];
    this.workingSet = new Set(request.workingSet ?? request.blocks);
    for (const digest of ordered) {
      if (this.blocks.has(digest)) continue;
      this.blocks.set(digest, {
        digest,
        index: this.blocks.size,
        tie: hash32(`${parts.host}\0${digest}`),
        priority: this.workingSet.has(digest) ? WORKING_SET : BACKGROUND,
        state: 'queued',
        availability: 0,
      });
    }
    this.wsRemaining = this.workingSet.size;
    this.report = {
      fn,
      blocks: this.blocks.size,
      blocksCached: 0,
      blocksFetched: 0,
      bytesFromRegistry: 0,
      bytesFromPeers: 0,
      bytesByPeer: {},
      origins: new Map(),
      order: [],
      blocksLocalAtReady: undefined,
      corrupt: 0,
      failovers: 0,
      repointed: 0,
    };
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // `ready` is often not awaited when `done` is; its rejection is reported through `done` as well.
    this.ready.catch(() => undefined);
    this.sourcesBatch = new MicrotaskBatcher(async (digests) => {
      try {
        const answer = await parts.directory.sources(fn, repository, digests);
        return answer.blocks.map((b) => b.sources);
      } catch (err) {
        // The control plane is unreachable: the registry still has every block.
        this.noteDirectoryError(err);
        return digests.map(() => REGISTRY_ONLY);
      }
    });
    this.storedBatch = new MicrotaskBatcher<{ digest: Digest; arrival: BlockArrival }, void>(
      async (items) => {
        await parts.directory.stored(
          fn,
          repository,
          items.map((i) => i.digest),
          items.map((i) => i.arrival),
        );
        return items.map(() => undefined);
      },
    );
    request.signal?.addEventListener('abort', () => this.abort(request.signal?.reason), { once: true });
    if (request.holdBackground) {
      this.backgroundHeld = true;
      this.holdTimer = parts.clock.setTimer(
        () => this.releaseBackground(),
        request.holdBackgroundMs ?? 30_000,
      );
    }
    this.done = this.run();
    // A finished or failed job leaves no hold timer behind.
    this.done.then(
      () => this.releaseBackground(),
      () => this.releaseBackground(),
    );
  }

  /** True when `digest` is one of this job's blocks and not yet stored. */
  isPending(digest: Digest): boolean {
    const b = this.blocks.get(digest);
    return b !== undefined && b.state !== 'done';
  }

  /**
   * Adds blocks to a running job (at demand priority when `demand`, else background); blocks it
   * already has are left as they are, except that `demand` promotes a queued one. Returns false when
   * the job has finished and takes no more blocks: start a new one.
   */
  want(digests: readonly Digest[], demand = false): boolean {
    if (this.closed) return false;
    for (const digest of digests) {
      const known = this.blocks.get(digest);
      if (known) {
        if (demand) this.promote(digest);
        continue;
      }
      this.blocks.set(digest, {
        digest,
        index: this.blocks.size,
        tie: hash32(`${this.parts.host}\0${digest}`),
        priority: demand ? DEMAND : BACKGROUND,
        state: 'queued',
        availability: 0,
      });
      this.report.blocks++;
    }
    this.wakeLanes();
    return true;
  }

  /**
   * Moves a queued block ahead of everything else (a sandbox or a peer's foreground request is
   * waiting for it), or, with `background`, ahead of the other background blocks only (a peer's
   * background request: fetched next, but still as background, so the priority holds upstream).
   */
  promote(digest: Digest, background = false): void {
    const b = this.blocks.get(digest);
    if (!b || b.state !== 'queued') return;
    if (!background) {
      if (b.priority === DEMAND) return;
      b.priority = DEMAND;
    } else {
      if (b.priority !== BACKGROUND) return;
      b.index = --this.promotedIndex;
    }
    this.wakeLanes();
  }

  /** Lets the background blocks go (see `holdBackground`); calling it again does nothing. */
  releaseBackground(): void {
    if (this.holdTimer !== undefined) this.parts.clock.clearTimer(this.holdTimer);
    this.holdTimer = undefined;
    if (!this.backgroundHeld) return;
    this.backgroundHeld = false;
    this.wakeLanes();
  }

  /** Cancels the job: in-flight fetches are aborted and `done` rejects with `reason`. */
  abort(reason?: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(
      reason ?? new KindlingError('KINDLING_UNAVAILABLE', `fetch of ${this.request.fn} was cancelled`),
    );
    for (const a of this.attempts) a.controller.abort(this.controller.signal.reason);
    this.wakeLanes();
  }

  /** The host's preferred source for this function changed: restart in-flight fetches elsewhere. */
  sourceChanged(change: SourceChange): void {
    for (const a of this.attempts) {
      if (!sameOrigin(a.origin, change.source)) {
        a.why = 'repoint';
        a.controller.abort(new KindlingError('KINDLING_UNAVAILABLE', 'source changed'));
      }
    }
  }

  private async run(): Promise<FetchReport> {
    const { directory, store } = this.parts;
    const { fn, repository } = this.request;
    try {
      const limits = await directory.join(fn, repository).catch((err: unknown) => {
        // Without the control plane, fetch from the registry with a modest parallelism.
        this.noteDirectoryError(err);
        return { maxConcurrentFetches: FALLBACK_CONCURRENCY, rarestFirst: false };
      });
      this.concurrency = Math.max(1, Math.min(limits.maxConcurrentFetches, this.parts.maxConcurrentFetches));
      this.rarestFirst = limits.rarestFirst;
      const held = await store.present(this.blocks.keys());
      const cached: Digest[] = [];
      for (const b of this.blocks.values()) {
        if (!held.has(b.digest)) continue;
        cached.push(b.digest);
        this.report.blocksCached++;
        this.markDone(b);
      }
      if (cached.length > 0) {
        await directory.stored(fn, repository, cached).catch((err: unknown) => this.noteDirectoryError(err));
      }
      if (this.rarestFirst)
        await this.refreshAvailability().catch((err: unknown) => this.noteDirectoryError(err));
      if (this.wsRemaining === 0) this.readyNow();
      this.lanesRunning = this.concurrency;
      await Promise.all(Array.from({ length: this.concurrency }, () => this.countedLane()));
      this.throwIfStopped();
      return this.report;
    } catch (err) {
      this.closed = true;
      const e = this.failure ?? (this.controller.signal.aborted ? this.controller.signal.reason : err);
      this.abort(e);
      this.rejectReady(e);
      throw e;
    }
  }

  private throwIfStopped(): void {
    if (this.failure) throw this.failure;
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
  }

  private async countedLane(): Promise<void> {
    try {
      await this.lane();
    } finally {
      if (--this.lanesRunning === 0) this.closed = true;
    }
  }

  /** One connection's worth of work: take the best queued block, fetch it, repeat. */
  private async lane(): Promise<void> {
    for (;;) {
      this.throwIfStopped();
      const next = this.pick();
      if (!next) {
        if (![...this.blocks.values()].some((b) => b.state === 'active' || this.isHeld(b))) return;
        // Another lane may requeue a block (re-pointed) or a block may be promoted: wait for news.
        await new Promise<void>((resolve) => this.idle.push(resolve));
        continue;
      }
      next.state = 'active';
      try {
        await this.fetchBlock(next);
      } catch (err) {
        if (!this.controller.signal.aborted) this.failure = toKindlingError(err, 'KINDLING_UNAVAILABLE');
        throw this.failure ?? err;
      } finally {
        this.wakeLanes();
      }
    }
  }

  private pick(): BlockState | undefined {
    let best: BlockState | undefined;
    for (const b of this.blocks.values()) {
      if (b.state !== 'queued' || this.isHeld(b)) continue;
      if (!best || this.before(b, best)) best = b;
    }
    return best;
  }

  private before(a: BlockState, b: BlockState): boolean {
    if (a.priority !== b.priority) return a.priority < b.priority;
    // Rarest first among the working set and among the background blocks no peer has asked for
    // (those promoted go first); demand keeps the order it was asked in. Every working-set block
    // must be local before the start, so their order matters only to the others: hosts that started
    // together and took it in manifest order asked for the same blocks at once, and the tracker,
    // which prefers a peer already receiving a block to the registry, chained them, each host one
    // hop behind the one before it. Ties break by a hash of host and block, so hosts that see the
    // same counts still spread over different blocks.
    if (a.priority !== DEMAND && this.rarestFirst && a.index >= 0 && b.index >= 0) {
      if (a.availability !== b.availability) return a.availability < b.availability;
      return a.tie < b.tie;
    }
    return a.index < b.index;
  }

  /** Fetches one block: rounds of (ask sources, try each in order) until one verifies. */
  private async fetchBlock(b: BlockState): Promise<void> {
    const errors: string[] = [];
    for (let round = 0; round < this.parts.maxRounds;) {
      this.throwIfStopped();
      const sources = await this.sourcesBatch.add(b.digest);
      let repointed = false;
      for (const origin of sources) {
        const outcome = await this.tryOrigin(b, origin);
        if (outcome === 'stored') return;
        if (outcome === 'repoint') {
          repointed = true;
          break;
        }
        errors.push(outcome);
      }
      if (repointed) continue;
      round++;
      if (round < this.parts.maxRounds) await this.delay(this.parts.retryDelayMs * round);
    }
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      `block ${b.digest} of ${this.request.fn} could not be fetched by host ${this.parts.host} from any source in ${this.parts.maxRounds} rounds: ${errors.slice(-4).join('; ')}`,
      { fn: this.request.fn, digest: b.digest, host: this.parts.host, errors: errors.slice(-8) },
    );
  }

  /** One attempt; `stored`, `repoint`, or a description of what went wrong. */
  private async tryOrigin(b: BlockState, origin: BlockOrigin): Promise<'stored' | 'repoint' | string> {
    const { transport, clock, store, host } = this.parts;
    const { fn, repository } = this.request;
    const attempt: Attempt = { digest: b.digest, origin, controller: new AbortController(), why: undefined };
    this.attempts.add(attempt);
    const timer: TimerHandle = clock.setTimer(() => {
      attempt.why = 'timeout';
      attempt.controller.abort(
        new KindlingError('KINDLING_TIMEOUT', `fetch took longer than ${this.parts.fetchTimeoutMs} ms`),
      );
    }, this.parts.fetchTimeoutMs);
    let bytes: Uint8Array;
    try {
      bytes = await transport.fetchBlock(
        origin,
        {
          fn,
          repository,
          digest: b.digest,
          host,
          ...(this.isBackground(b) ? { background: true } : {}),
        },
        attempt.controller.signal,
      );
    } catch (err) {
      this.throwIfStopped();
      if (attempt.why === 'repoint') {
        this.report.repointed++;
        return 'repoint';
      }
      return this.failed(b, origin, attempt.why === 'timeout' ? 'KINDLING_TIMEOUT' : codeOf(err), err);
    } finally {
      clock.clearTimer(timer);
      this.attempts.delete(attempt);
    }
    const actual = sha256Digest(bytes);
    if (actual !== b.digest) {
      this.report.corrupt++;
      return this.failed(b, origin, 'KINDLING_BLOCK_CORRUPT', `bytes hash to ${actual}`);
    }
    // Checked just above: hashing 512 KiB again costs as much as the check.
    await store.putTrusted(b.digest, bytes);
    if (origin.kind === 'registry') this.report.bytesFromRegistry += bytes.length;
    else {
      this.report.bytesFromPeers += bytes.length;
      this.report.bytesByPeer[origin.host] = (this.report.bytesByPeer[origin.host] ?? 0) + bytes.length;
    }
    this.report.origins.set(b.digest, origin);
    this.report.order.push(b.digest);
    this.report.blocksFetched++;
    this.markDone(b, bytes);
    void this.storedBatch
      .add({ digest: b.digest, arrival: { origin, bytes: bytes.length } })
      .catch((err: unknown) => this.noteDirectoryError(err));
    if (this.rarestFirst && ++this.sinceAvailability >= this.concurrency) {
      this.sinceAvailability = 0;
      void this.refreshAvailability().catch((err: unknown) => this.noteDirectoryError(err));
    }
    return 'stored';
  }

  /** A queued background block waiting for {@link releaseBackground}; one a peer asked for is not. */
  private isHeld(b: BlockState): boolean {
    return this.backgroundHeld && b.state === 'queued' && b.priority === BACKGROUND && b.index >= 0;
  }

  /** A transfer no sandbox waits for (see {@link FetchRequest.backgroundRest}). */
  private isBackground(b: BlockState): boolean {
    return this.request.backgroundRest === true && b.priority === BACKGROUND;
  }

  private failed(b: BlockState, origin: BlockOrigin, code: string, err: unknown): string {
    this.report.failovers++;
    void this.parts.directory
      .failed(this.request.fn, this.request.repository, b.digest, origin)
      .catch((e: unknown) => this.noteDirectoryError(e));
    const where = origin.kind === 'registry' ? 'registry' : `peer ${origin.host}`;
    const message = typeof err === 'string' ? err : err instanceof Error ? err.message : String(err);
    return `${where}: ${code} ${message}`;
  }

  /**
   * A report to the control plane that did not arrive costs only accuracy (a holder not named, a bad
   * peer named again), never correctness: blocks are verified on arrival. So it is counted, not thrown.
   */
  private noteDirectoryError(err: unknown): void {
    this.directoryErrors.push(toKindlingError(err, 'KINDLING_UNAVAILABLE').message);
    if (this.directoryErrors.length > 16) this.directoryErrors.splice(0, this.directoryErrors.length - 16);
  }

  /** Reports to the control plane that failed (last 16), for diagnosis. */
  readonly directoryErrors: string[] = [];

  private markDone(b: BlockState, bytes?: Uint8Array): void {
    if (b.state === 'done') return;
    b.state = 'done';
    this.parts.onStored(b.digest, bytes);
    if (this.workingSet.has(b.digest) && --this.wsRemaining === 0) this.readyNow();
  }

  private wakeLanes(): void {
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  private readyNow(): void {
    if (this.report.blocksLocalAtReady !== undefined) return;
    this.report.blocksLocalAtReady = this.report.blocksCached + this.report.blocksFetched;
    this.resolveReady();
  }

  private async refreshAvailability(): Promise<void> {
    const queued = [...this.blocks.values()].filter((b) => b.state === 'queued' && b.priority !== DEMAND);
    if (queued.length === 0) return;
    const counts = await this.parts.directory.availability(
      this.request.fn,
      queued.map((b) => b.digest),
    );
    queued.forEach((b, i) => (b.availability = counts[i] ?? 0));
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.parts.clock.setTimer(resolve, ms);
      this.controller.signal.addEventListener(
        'abort',
        () => {
          this.parts.clock.clearTimer(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}

function sameOrigin(a: BlockOrigin, b: BlockOrigin | undefined): boolean {
  if (!b) return false;
  return a.kind === 'registry' ? b.kind === 'registry' : b.kind === 'peer' && b.host === a.host;
}

function codeOf(err: unknown): string {
  return KindlingError.is(err) ? err.code : 'KINDLING_UNAVAILABLE';
}
