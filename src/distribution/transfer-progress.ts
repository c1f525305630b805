/**
 * How far each host's copy of each function's image has come, as the control plane hears it from the
 * hosts' `stored` reports: blocks local, and the bytes that came from the registry and from each peer.
 * What the dashboard draws on a function tree's edges while an image spreads. Pure bookkeeping, fed
 * by the {@link DistributionHub}; it never reads a clock or the network.
 */
import type { Digest } from '../image/manifest.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';
import type { BlockOrigin } from './strategy.js';

/** Where one stored block came from, and its size as fetched (compressed bytes). */
export interface BlockArrival {
  readonly origin: BlockOrigin;
  readonly bytes: number;
}

/** One host's transfer of one function's image. */
export interface HostTransfer {
  readonly host: HostId;
  /** Distinct blocks the host holds (fetched or already in its cache). */
  readonly blocksLocal: number;
  /** Of those, blocks that were already in its cache when its fetch started. */
  readonly blocksCached: number;
  readonly bytesFromRegistry: number;
  /** Bytes from peers, in total and per peer. */
  readonly bytesFromPeers: number;
  readonly bytesByPeer: Readonly<Record<HostId, number>>;
}

interface Entry {
  readonly blocks: Set<Digest>;
  cached: number;
  fromRegistry: number;
  fromPeers: number;
  readonly byPeer: Map<HostId, number>;
}

/** Per function, per host: blocks local and bytes by origin. */
export class TransferProgress {
  private readonly fns = new Map<FunctionKey, Map<HostId, Entry>>();

  /**
   * `host` now holds `digests` of `fn`. With `arrivals` (one per digest, in the same order) the blocks
   * were fetched from those origins; without, they were already in the host's cache. A block reported
   * twice counts once.
   */
  stored(
    host: HostId,
    fn: FunctionKey,
    digests: readonly Digest[],
    arrivals?: readonly BlockArrival[],
  ): void {
    let hosts = this.fns.get(fn);
    if (!hosts) this.fns.set(fn, (hosts = new Map()));
    let e = hosts.get(host);
    if (!e) {
      e = { blocks: new Set(), cached: 0, fromRegistry: 0, fromPeers: 0, byPeer: new Map() };
      hosts.set(host, e);
    }
    digests.forEach((digest, i) => {
      if (e.blocks.has(digest)) return;
      e.blocks.add(digest);
      const arrival = arrivals?.[i];
      if (!arrival) {
        e.cached++;
        return;
      }
      if (arrival.origin.kind === 'registry') e.fromRegistry += arrival.bytes;
      else {
        e.fromPeers += arrival.bytes;
        e.byPeer.set(arrival.origin.host, (e.byPeer.get(arrival.origin.host) ?? 0) + arrival.bytes);
      }
    });
  }

  /** `host` no longer holds `fn`: its progress is forgotten. */
  removed(fn: FunctionKey, host: HostId): void {
    const hosts = this.fns.get(fn);
    if (!hosts) return;
    hosts.delete(host);
    if (hosts.size === 0) this.fns.delete(fn);
  }

  /** `host` left the cluster: its progress in every function is forgotten. */
  left(host: HostId): void {
    for (const fn of [...this.fns.keys()]) this.removed(fn, host);
  }

  /** Each host's transfer of `fn`, by host id. */
  of(fn: FunctionKey): HostTransfer[] {
    return [...(this.fns.get(fn) ?? new Map<HostId, Entry>())]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([host, e]) => ({
        host,
        blocksLocal: e.blocks.size,
        blocksCached: e.cached,
        bytesFromRegistry: e.fromRegistry,
        bytesFromPeers: e.fromPeers,
        bytesByPeer: Object.fromEntries(e.byPeer),
      }));
  }
}
