/**
 * Who holds which block of which function, as the control plane has heard it: hosts that stored a
 * verified copy (`holders`) and hosts that are receiving one (`receivers`). The swarm tracker's piece
 * map, and the tree strategy's list of fallback sources. Pure bookkeeping, deterministic iteration
 * order (insertion order, which the callers' deterministic calls fix).
 */
import type { Digest } from '../image/manifest.js';
import type { FunctionKey } from './ft-manager.js';
import type { HostId } from './function-tree.js';

interface FunctionBlocks {
  readonly holders: Map<Digest, Set<HostId>>;
  readonly receivers: Map<Digest, Set<HostId>>;
}

/** Per function, per block: the hosts that hold it and the hosts receiving it. */
export class BlockLedger {
  private readonly fns = new Map<FunctionKey, FunctionBlocks>();

  private entry(fn: FunctionKey): FunctionBlocks {
    let e = this.fns.get(fn);
    if (!e) this.fns.set(fn, (e = { holders: new Map(), receivers: new Map() }));
    return e;
  }

  /** `host` now holds `digest` (and is no longer receiving it). */
  stored(fn: FunctionKey, digest: Digest, host: HostId): void {
    const e = this.entry(fn);
    addTo(e.holders, digest, host);
    deleteFrom(e.receivers, digest, host);
  }

  /** `host` started receiving `digest` (ignored when it already holds it). */
  receiving(fn: FunctionKey, digest: Digest, host: HostId): void {
    const e = this.entry(fn);
    if (e.holders.get(digest)?.has(host)) return;
    addTo(e.receivers, digest, host);
  }

  /** Forgets that `host` holds or receives `digest` (it failed to serve it). */
  forget(fn: FunctionKey, digest: Digest, host: HostId): void {
    const e = this.fns.get(fn);
    if (!e) return;
    deleteFrom(e.holders, digest, host);
    deleteFrom(e.receivers, digest, host);
  }

  /** Forgets everything `host` holds of `fn` (removed from the function, or dead). */
  dropHost(fn: FunctionKey, host: HostId): void {
    const e = this.fns.get(fn);
    if (!e) return;
    for (const map of [e.holders, e.receivers]) for (const d of [...map.keys()]) deleteFrom(map, d, host);
    if (e.holders.size === 0 && e.receivers.size === 0) this.fns.delete(fn);
  }

  /** Functions with any record, in insertion order. */
  functions(): FunctionKey[] {
    return [...this.fns.keys()];
  }

  /** Hosts holding `digest`, in the order they reported it. */
  holdersOf(fn: FunctionKey, digest: Digest): HostId[] {
    return [...(this.fns.get(fn)?.holders.get(digest) ?? [])];
  }

  /** Hosts receiving `digest`, in the order they started. */
  receiversOf(fn: FunctionKey, digest: Digest): HostId[] {
    return [...(this.fns.get(fn)?.receivers.get(digest) ?? [])];
  }

  /** True when `host` holds `digest`. */
  holds(fn: FunctionKey, digest: Digest, host: HostId): boolean {
    return this.fns.get(fn)?.holders.get(digest)?.has(host) ?? false;
  }
}

function addTo(map: Map<Digest, Set<HostId>>, digest: Digest, host: HostId): void {
  let set = map.get(digest);
  if (!set) map.set(digest, (set = new Set()));
  set.add(host);
}

function deleteFrom(map: Map<Digest, Set<HostId>>, digest: Digest, host: HostId): void {
  const set = map.get(digest);
  if (!set) return;
  set.delete(host);
  if (set.size === 0) map.delete(digest);
}
