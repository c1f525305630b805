/**
 * The seams of image distribution, declared here with no logic (as DESIGN.md's "Distribution
 * strategies" and issue 4 describe them). A {@link DistributionStrategy} decides where each host
 * fetches each block from; a {@link Transport} moves one block from one source to one host. The real
 * platform implements the transport over HTTP between worker agents and the registry's `/v2` API; the
 * simulator implements it over modelled links. Strategies (`registry`, `swarm`, `tree`) are written
 * against these interfaces only, so the same strategy code runs in both.
 */
import type { Clock } from '../core/clock.js';
import type { Digest } from '../image/manifest.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';

/** The strategies issue 4 asks for. */
export type StrategyName = 'registry' | 'swarm' | 'tree';

/**
 * Where a block can come from: the registry, or a peer host that holds (or is receiving) it. (Named
 * apart from `image/source.ts`'s `BlockSource`, the reader a worker uses once a source is chosen.)
 */
export type BlockOrigin = { readonly kind: 'registry' } | { readonly kind: 'peer'; readonly host: HostId };

/** The registry as a source (one frozen value, shared). */
export const REGISTRY_ORIGIN: BlockOrigin = Object.freeze({ kind: 'registry' });

/** One block a host needs, for one function's image. */
export interface BlockRequest {
  readonly fn: FunctionKey;
  /** The registry repository the image lives in (registry access is checked per repository). */
  readonly repository: string;
  /** Digest of the block's compressed bytes, as the manifest lists it. */
  readonly digest: Digest;
  /** The host that needs the block. */
  readonly host: HostId;
  /**
   * True when no sandbox is waiting for the block (the rest of a lazily loaded image): servers send
   * it after their foreground uploads (see `upload-priority.ts`).
   */
  readonly background?: boolean;
}

/** A host whose preferred block source for a function changed (a tree host re-parented, say). */
export interface SourceChange {
  readonly fn: FunctionKey;
  readonly host: HostId;
  /** The new preferred source; `undefined` when the host no longer takes part in `fn`'s distribution. */
  readonly source: BlockOrigin | undefined;
}

/**
 * Moves blocks between hosts. Implementations: HTTP between worker agents (and to the registry's
 * `/v2` API) in the platform; modelled links with bandwidth sharing in the simulator.
 */
export interface Transport {
  /**
   * Fetches one block's compressed bytes from `source` on behalf of `request.host`. A peer that is still
   * receiving the block answers once it has it (this is what makes tree distribution stream block by
   * block instead of store-and-forward). Rejects with KINDLING_BLOB_UNKNOWN when the source does not
   * have it, KINDLING_UNAVAILABLE when the source cannot be reached, KINDLING_TIMEOUT, or an abort
   * error when `signal` fires. Does not verify the digest: the caller does, so that a corrupt block
   * is refetched from another source the strategy names.
   */
  fetchBlock(source: BlockOrigin, request: BlockRequest, signal?: AbortSignal): Promise<Uint8Array>;
}

/**
 * Decides where each host fetches each block from. Kept by the control plane (the FT manager and the
 * swarm tracker live there); worker agents ask it for sources and tell it what they now hold.
 * Membership calls return the hosts whose preferred source changed, so the caller can re-point their
 * in-flight transfers (FaaSNet re-parents the children of a host that leaves).
 *
 * Implementations are pure and deterministic (no clock reads, no I/O, no randomness), so the
 * simulator runs them as they are. Membership calls are not idempotent here (a tree insert of a host
 * already in the tree is a conflict); `DistributionHub` makes them so for callers that repeat.
 */
export interface DistributionStrategy {
  readonly name: StrategyName;
  /**
   * Block fetches one host runs at once for one function. `tree`: 1 (one upstream transfer, to the
   * parent); `swarm`: Kraken's 10 connections per torrent; `registry`: a parallelism that fills a link.
   */
  readonly maxConcurrentFetches: number;
  /**
   * True when hosts should pick working-set and background blocks rarest first (BitTorrent's piece
   * selection), using {@link DistributionStrategy.holders}. Only `swarm` sets it; the others keep the
   * caller's order.
   */
  readonly rarestFirst: boolean;
  /** `host` starts needing `fn`'s image (a cold start was placed there). */
  join(fn: FunctionKey, host: HostId): readonly SourceChange[];
  /** `host` no longer holds `fn` (its instances were reclaimed). */
  remove(fn: FunctionKey, host: HostId): readonly SourceChange[];
  /** `host` died or was drained: it leaves every function's distribution at once. */
  leave(host: HostId): readonly SourceChange[];
  /**
   * Candidate sources for one block, best first. The caller tries them in order and moves to the
   * next when a fetch fails or the bytes do not match the digest; the registry is always the last
   * resort. `registry` always answers the registry; `tree` answers the host's parent (then, only
   * used when the parent fails, other holders); `swarm` answers peers that hold or are receiving
   * the block, from the tracker. Never names `request.host` itself. A strategy may record the
   * answer (the swarm tracker counts the asking host as receiving the block from then on).
   */
  sourcesFor(request: BlockRequest): readonly BlockOrigin[];
  /**
   * `host` now holds a verified copy of the block. Strategies that track piece availability
   * (`swarm`'s tracker, for rarest-first) record it; others may ignore it.
   */
  blockStored(request: BlockRequest): void;
  /**
   * A fetch of `request` from `origin` failed (unreachable, timed out, corrupt bytes, or the peer did
   * not have it). Strategies stop naming that peer for that block; the caller has already moved on
   * to its next source.
   */
  sourceFailed(request: BlockRequest, origin: BlockOrigin): void;
  /** Hosts known to hold (or to be receiving) `digest` for `fn`: the availability rarest-first uses. */
  holders(fn: FunctionKey, digest: Digest): number;
}

/** What a strategy factory receives: its shared parts, injected (never imported as globals). */
export interface StrategyComponents {
  /** For strategies that talk to hosts themselves (probing a peer, announcing to a tracker). */
  readonly transport: Transport;
  /** For timeouts and choking intervals; never `Date.now()` or `setTimeout` directly. */
  readonly clock: Clock;
}

/** Builds a strategy from its components, in the `factory(init) => (components) => impl` style. */
export type StrategyFactory = (components: StrategyComponents) => DistributionStrategy;
