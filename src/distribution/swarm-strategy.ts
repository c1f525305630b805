/**
 * BitTorrent-style distribution, after Uber's Kraken: a tracker on the control plane knows, per
 * function ("torrent") and per block ("piece"), which hosts hold it and which are receiving it, and
 * hands each asking host a few of them, the registry (the origin seeder) last.
 *
 * Design choices, and where they differ from Kraken:
 * - **A piece is one block** (512 KiB), not Kraken's 4 MiB. Blocks are already addressed and verified
 *   one by one, the lazy loader asks for single blocks, and images are tens of MiB rather than GiB,
 *   so small pieces give rarest-first more pieces to spread and cost one HTTP request each.
 * - **Hosts that are receiving a piece are sources too.** A peer answers a request for a block it is
 *   still receiving the moment it arrives, so hosts that start together do not all go to the
 *   registry for the same block: the first asker fetches it from the registry, later askers stream it
 *   from the first. A retrying receiver is only pointed at receivers that started before it, so two
 *   hosts never wait on each other.
 * - **Rarest first** is the hosts' piece selection ({@link SwarmStrategy.rarestFirst}), from the
 *   tracker's counts ({@link SwarmStrategy.holders}); ties are broken per host by a hash, so hosts that
 *   start together start on different blocks (BitTorrent's random first piece).
 * - **Bounded connections**: a host runs at most `maxConcurrentFetches` (Kraken: 10 per torrent)
 *   fetches per function; the tracker spreads uploads by naming first the peers with the fewest
 *   uploads assigned, and names a peer at `maxUploadsPerPeer` only after every peer below it, holder
 *   or receiver (a busy holder's upload is shared by all it serves, so a receiver with spare upload
 *   is the faster source: with 8 MiB pieces at 64 simulated hosts, naming holders first whatever
 *   their load had one host upload 1.6 GiB and the swarm take twice as long).
 */
import { checkPositiveInt } from './check-options.js';
import { BlockLedger } from './block-ledger.js';
import { hash32 } from '../core/hash32.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';
import type { Digest } from '../image/manifest.js';
import type { BlockRequest, DistributionStrategy, SourceChange, StrategyFactory } from './strategy.js';
import { type BlockOrigin, REGISTRY_ORIGIN } from './strategy.js';

/** Options of {@link swarmStrategy}. */
export interface SwarmStrategyInit {
  /** Fetches one host runs at once per function; default 10 (Kraken's connections per torrent). */
  maxConcurrentFetches?: number;
  /** Peers named per block before the registry; default 4. */
  peersPerBlock?: number;
  /** Uploads assigned to one peer before it is named only after less busy ones; default 10. */
  maxUploadsPerPeer?: number;
}

/** Builds the `swarm` strategy (its tracker included). */
export function swarmStrategy(init: SwarmStrategyInit = {}): StrategyFactory {
  return () => new SwarmStrategy(init);
}

/** The tracker and the swarm strategy in one: state lives on the control plane. */
export class SwarmStrategy implements DistributionStrategy {
  readonly name = 'swarm' as const;
  readonly rarestFirst = true;
  readonly maxConcurrentFetches: number;
  private readonly peersPerBlock: number;
  private readonly maxUploadsPerPeer: number;
  private readonly ledger = new BlockLedger();
  private readonly members = new Map<FunctionKey, Set<HostId>>();
  /** Per function, `receiver \0 digest` → the peer named first to it (an upload assigned to that peer). */
  private readonly assigned = new Map<FunctionKey, Map<string, HostId>>();
  private readonly uploads = new Map<HostId, number>();

  constructor(init: SwarmStrategyInit = {}) {
    this.maxConcurrentFetches = init.maxConcurrentFetches ?? 10;
    this.peersPerBlock = init.peersPerBlock ?? 4;
    this.maxUploadsPerPeer = init.maxUploadsPerPeer ?? 10;
    checkPositiveInt('maxConcurrentFetches', this.maxConcurrentFetches);
    checkPositiveInt('peersPerBlock', this.peersPerBlock);
    checkPositiveInt('maxUploadsPerPeer', this.maxUploadsPerPeer);
  }

  join(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    let set = this.members.get(fn);
    if (!set) this.members.set(fn, (set = new Set()));
    set.add(host);
    return [];
  }

  remove(fn: FunctionKey, host: HostId): readonly SourceChange[] {
    this.ledger.dropHost(fn, host);
    const set = this.members.get(fn);
    set?.delete(host);
    if (set?.size === 0) this.members.delete(fn);
    const assigned = this.assigned.get(fn);
    if (assigned) {
      for (const [key, peer] of [...assigned]) {
        if (peer === host || key.startsWith(`${host}\0`)) this.release(fn, key);
      }
    }
    return [];
  }

  leave(host: HostId): readonly SourceChange[] {
    const fns = new Set([...this.members.keys(), ...this.ledger.functions(), ...this.assigned.keys()]);
    for (const fn of fns) this.remove(fn, host);
    this.uploads.delete(host);
    return [];
  }

  /**
   * Peers below the upload cap first, then those at it; within each, holders before earlier
   * receivers, then fewer assigned uploads first, ties broken by a hash of asker and block. Records
   * the asker as receiving.
   */
  sourcesFor(request: BlockRequest): readonly BlockOrigin[] {
    const { fn, digest, host } = request;
    const holders = this.ledger.holdersOf(fn, digest).filter((h) => h !== host);
    const receivers = this.ledger.receiversOf(fn, digest);
    const self = receivers.indexOf(host);
    const earlier = (self === -1 ? receivers : receivers.slice(0, self)).filter((h) => h !== host);
    const peers = this.rank(holders, earlier, host, digest).slice(0, this.peersPerBlock);
    if (!this.ledger.holds(fn, digest, host)) this.ledger.receiving(fn, digest, host);
    const key = `${host}\0${digest}`;
    this.release(fn, key);
    const first = peers[0];
    if (first !== undefined) {
      let map = this.assigned.get(fn);
      if (!map) this.assigned.set(fn, (map = new Map()));
      map.set(key, first);
      this.uploads.set(first, (this.uploads.get(first) ?? 0) + 1);
    }
    return [...peers.map((p) => ({ kind: 'peer' as const, host: p })), REGISTRY_ORIGIN];
  }

  blockStored(request: BlockRequest): void {
    this.ledger.stored(request.fn, request.digest, request.host);
    this.release(request.fn, `${request.host}\0${request.digest}`);
  }

  sourceFailed(request: BlockRequest, origin: BlockOrigin): void {
    if (origin.kind !== 'peer') return;
    this.ledger.forget(request.fn, request.digest, origin.host);
    const key = `${request.host}\0${request.digest}`;
    if (this.assigned.get(request.fn)?.get(key) === origin.host) this.release(request.fn, key);
  }

  holders(fn: FunctionKey, digest: Digest): number {
    return this.ledger.holdersOf(fn, digest).length + this.ledger.receiversOf(fn, digest).length;
  }

  /** Uploads currently assigned to `host` (for tests and metrics). */
  uploadsOf(host: HostId): number {
    return this.uploads.get(host) ?? 0;
  }

  private rank(holders: HostId[], receivers: HostId[], asker: HostId, digest: Digest): HostId[] {
    const entry = (p: HostId, receiving: number) => {
      const load = this.uploads.get(p) ?? 0;
      const busy = load >= this.maxUploadsPerPeer ? 1 : 0;
      return { p, busy, receiving, load, tie: hash32(`${asker}\0${digest}\0${p}`) };
    };
    return [...holders.map((p) => entry(p, 0)), ...receivers.map((p) => entry(p, 1))]
      .sort((a, b) => a.busy - b.busy || a.receiving - b.receiving || a.load - b.load || a.tie - b.tie)
      .map((x) => x.p);
  }

  private release(fn: FunctionKey, key: string): void {
    const map = this.assigned.get(fn);
    const peer = map?.get(key);
    if (peer === undefined || !map) return;
    map.delete(key);
    if (map.size === 0) this.assigned.delete(fn);
    const n = (this.uploads.get(peer) ?? 1) - 1;
    if (n <= 0) this.uploads.delete(peer);
    else this.uploads.set(peer, n);
  }
}
