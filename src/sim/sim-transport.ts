/**
 * The simulator's {@link Transport}: a block fetch is a flow on the max-min fair {@link Network} from
 * the source's node (the registry, or a peer host) to the asking host, and resolves when the flow's
 * last byte arrives on the virtual clock. A peer that does not hold the block yet answers once it
 * does, exactly as the real peer server does: it waits on that host's {@link BlockFetcher}
 * (`waitForBlock`), which also moves the block to the front of the peer's own queue.
 *
 * Blocks travel as small stand-in payloads whose sha256 is the block's digest, so the real fetcher
 * verifies them as it verifies real blocks; the flow carries the block's modelled size
 * ({@link SimTransportOptions.sizeOf}). Bytes are counted here, at modelled size, per origin.
 * With `uploadPriority`, every source node sends background requests after its foreground uploads
 * through the platform's own {@link UploadPriority} gate on the virtual clock, as the registry and
 * the peer servers do.
 */
import { KindlingError } from '../core/errors.js';
import type { BlockFetcher } from '../distribution/block-fetcher.js';
import type { HostId } from '../distribution/function-tree.js';
import type { BlockOrigin, BlockRequest, Transport } from '../distribution/strategy.js';
import type { Digest } from '../image/manifest.js';
import { RequesterTurns } from '../distribution/requester-turns.js';
import { UploadPriority, type UploadPriorityOptions } from '../distribution/upload-priority.js';
import type { CpuCharge, Network } from './network.js';
import type { SimBlockStore } from './sim-block-store.js';

/** Options of {@link SimTransport}. */
export interface SimTransportOptions {
  network: Network;
  /** The registry's node in `network`. */
  registryNode: string;
  /** What the registry holds: digest → stand-in payload. */
  registry: ReadonlyMap<Digest, Uint8Array>;
  /** The modelled size of a block on the wire, bytes. */
  sizeOf(digest: Digest): number;
  /**
   * CPU every fetched byte costs a third node, whatever its source: the control plane, which answers
   * each fetcher's batched sources and stored requests (see the network's CPU model). Default none.
   */
  controlCharge?: CpuCharge;
  /** Foreground first at every source node, as the platform's servers (default: no ordering). */
  uploadPriority?: UploadPriorityOptions;
  /**
   * Every source node sends one block at a time to each requester, in request order, through the
   * platform's own {@link RequesterTurns}, as the registry and the peer servers do (default: a
   * requester's blocks in flight share the link at once).
   */
  requesterTurns?: boolean;
}

interface SimPeer {
  readonly store: SimBlockStore;
  readonly fetcher: BlockFetcher;
}

/** Block fetches as flows on the modelled network; see the module comment. */
export class SimTransport implements Transport {
  private readonly peers = new Map<HostId, SimPeer>();
  /** Modelled bytes served by the registry so far. */
  registryBytes = 0;
  /** Modelled bytes served by peers so far. */
  peerBytes = 0;
  /** Modelled bytes each host has uploaded to peers. */
  readonly uploadedBy = new Map<HostId, number>();
  /** Each source node's gate, with `uploadPriority`. */
  private readonly gates = new Map<string, UploadPriority>();
  /** Each source node's per-requester queues, with `requesterTurns`. */
  private readonly turns = new Map<string, RequesterTurns>();

  constructor(private readonly options: SimTransportOptions) {}

  /** Makes `host` (a node of the network) reachable as a peer, serving from `store` via `fetcher`. */
  addHost(host: HostId, store: SimBlockStore, fetcher: BlockFetcher): void {
    if (!this.options.network.has(host))
      throw new KindlingError('KINDLING_INVALID_CONFIG', `host ${host} has no node in the simulated network`);
    if (this.peers.has(host)) throw new KindlingError('KINDLING_CONFLICT', `host ${host} was added twice`);
    this.peers.set(host, { store, fetcher });
  }

  async fetchBlock(source: BlockOrigin, request: BlockRequest, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const size = this.options.sizeOf(request.digest);
    if (source.kind === 'registry') {
      const bytes = this.options.registry.get(request.digest);
      if (!bytes)
        throw new KindlingError('KINDLING_BLOB_UNKNOWN', `the registry has no block ${request.digest}`);
      await this.flow(this.options.registryNode, request, size, signal);
      this.registryBytes += size;
      return bytes;
    }
    const peer = this.peers.get(source.host);
    if (!peer) throw new KindlingError('KINDLING_UNAVAILABLE', `no simulated host ${source.host}`);
    await peer.fetcher.waitForBlock(request.digest, signal, request.background === true);
    const bytes = peer.store.get(request.digest);
    if (!bytes)
      throw new KindlingError('KINDLING_BLOB_UNKNOWN', `host ${source.host} has no block ${request.digest}`);
    await this.flow(source.host, request, size, signal);
    this.peerBytes += size;
    this.uploadedBy.set(source.host, (this.uploadedBy.get(source.host) ?? 0) + size);
    return bytes;
  }

  /**
   * Moves `bytes` from `from` to the asking host on the network (a background request first waits
   * for its turn at `from`); rejects with the signal's reason on abort.
   */
  private async flow(
    from: string,
    request: BlockRequest,
    bytes: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const gate = this.gateOf(from);
    let ended: (() => void) | undefined;
    if (gate && request.background) await gate.background(signal);
    else if (gate) ended = gate.foreground();
    let turnEnded: (() => void) | undefined;
    try {
      turnEnded = await this.turnsOf(from)?.turn(request.host, signal);
      await this.transfer(from, request.host, bytes, signal);
    } finally {
      turnEnded?.();
      ended?.();
    }
  }

  private turnsOf(node: string): RequesterTurns | undefined {
    if (!this.options.requesterTurns) return undefined;
    let turns = this.turns.get(node);
    if (!turns) this.turns.set(node, (turns = new RequesterTurns()));
    return turns;
  }

  private gateOf(node: string): UploadPriority | undefined {
    const options = this.options.uploadPriority;
    if (!options) return undefined;
    let gate = this.gates.get(node);
    if (!gate) this.gates.set(node, (gate = new UploadPriority(options)));
    return gate;
  }

  private transfer(from: string, to: string, bytes: number, signal: AbortSignal | undefined): Promise<void> {
    const network = this.options.network;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        network.cancel(flow.id);
        reject(signal?.reason);
      };
      const charge = this.options.controlCharge;
      const flow = network.transfer(
        from,
        to,
        bytes,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        charge ? [charge] : [],
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
