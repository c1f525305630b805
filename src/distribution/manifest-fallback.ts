/**
 * A worker's manifest source that outlives the registry: manifests are asked of the registry first;
 * when it cannot be reached (or does not answer within `registryWaitMs`), a manifest named by digest
 * is fetched from a peer that holds the image instead. A registry that is only slow is still waited
 * for when no peer can serve the manifest (say, every host is starting the image for the first time). A host keeps each manifest beside the image's
 * blocks in its cache (content-addressed), so the peer blob server serves it like a block, and the
 * bytes are checked against the digest: a peer cannot substitute another image.
 *
 * With this and a strategy that names peers (tree, swarm), hosts that hold an image keep starting it
 * on others while the registry is down. Blobs still come from the registry here: in cluster mode the
 * distribution strategy brings them, and this source is only the materialiser's last resort.
 */
import type { Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import { isDigest, sha256Digest } from '../image/digest.js';
import type { Digest } from '../image/manifest.js';
import { parseManifest } from '../image/manifest-codec.js';
import type { BlockSource, ResolvedManifest } from '../image/source.js';
import type { HostId } from './function-tree.js';
import type { Transport } from './strategy.js';

/** Options of {@link ManifestFallbackSource}. */
export interface ManifestFallbackOptions {
  /** The registry (its OCI API over HTTP, on a worker). */
  registry: BlockSource;
  /** Hosts that hold the image `digest` names (say, from the control plane's host list). */
  holders: (digest: Digest) => Promise<readonly HostId[]>;
  /** Reaches peers' blob servers. */
  transport: Transport;
  /** This host, never asked. */
  self: HostId;
  clock: Clock;
  /** How long the registry may take before peers are asked; default 5 000 ms. */
  registryWaitMs?: number;
}

/** Registry errors that mean "the registry is not there", as opposed to answers such as "unknown". */
const UNREACHABLE = new Set(['KINDLING_UNAVAILABLE', 'KINDLING_TIMEOUT']);

/** See the module comment. */
export class ManifestFallbackSource implements BlockSource {
  readonly kind: string;
  /** Manifests served by peers because the registry could not be reached. */
  fromPeers = 0;

  constructor(private readonly opts: ManifestFallbackOptions) {
    this.kind = opts.registry.kind;
  }

  async getManifest(name: string, ref: string): Promise<ResolvedManifest> {
    const fromRegistry = this.opts.registry.getManifest(name, ref);
    let slow = false;
    try {
      return await this.withinWait(fromRegistry, () => (slow = true));
    } catch (err) {
      if (!isDigest(ref) || !KindlingError.is(err) || !UNREACHABLE.has(err.code)) throw err;
      // A registry that is only slow (busy serving many hosts at once) still answers in the end.
      if (slow) fromRegistry.catch(() => {});
      try {
        return await this.fromPeer(name, ref, err);
      } catch (peerError) {
        if (slow) return fromRegistry;
        throw peerError;
      }
    }
  }

  getBlob(name: string, digest: Digest): Promise<Buffer> {
    return this.opts.registry.getBlob(name, digest);
  }

  private async fromPeer(
    name: string,
    digest: Digest,
    registryError: KindlingError,
  ): Promise<ResolvedManifest> {
    const holders = (await this.opts.holders(digest).catch(() => [])).filter((h) => h !== this.opts.self);
    const tried: string[] = [];
    for (const host of holders) {
      try {
        const bytes = Buffer.from(
          await this.opts.transport.fetchBlock(
            { kind: 'peer', host },
            { fn: `manifest:${digest}`, repository: name, digest, host: this.opts.self },
          ),
        );
        const actual = sha256Digest(bytes);
        if (actual !== digest) {
          tried.push(`${host} (sent bytes hashing to ${actual})`);
          continue;
        }
        const resolved = { digest, manifest: parseManifest(bytes), bytes };
        this.fromPeers++;
        return resolved;
      } catch (err) {
        tried.push(`${host} (${(err as Error).message})`);
      }
    }
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      `${registryError.message}; and no peer could serve manifest ${digest} ` +
        (tried.length ? `(asked ${tried.join(', ')})` : '(no other host holds the image)'),
      { digest, asked: tried.length },
      { cause: registryError },
    );
  }

  /** `p`, or KINDLING_TIMEOUT once `registryWaitMs` pass (calling `onSlow`; the request goes on). */
  private withinWait<T>(p: Promise<T>, onSlow: () => void): Promise<T> {
    const ms = this.opts.registryWaitMs ?? 5_000;
    return new Promise<T>((resolve, reject) => {
      const timer = this.opts.clock.setTimer(() => {
        onSlow();
        reject(new KindlingError('KINDLING_TIMEOUT', `the registry did not answer within ${ms} ms`));
      }, ms);
      p.then(
        (v) => {
          this.opts.clock.clearTimer(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.opts.clock.clearTimer(timer);
          reject(err);
        },
      );
    });
  }
}
