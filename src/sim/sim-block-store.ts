/**
 * A host's block cache in the simulator: the {@link HostBlockStore} the real fetcher writes to, kept
 * in memory. The simulator's blocks carry tiny stand-in payloads (their digests are real, so the
 * fetcher still verifies every block); the bytes a block is modelled to weigh live in the transport.
 */
import type { HostBlockStore } from '../distribution/fetch-job.js';
import type { Digest } from '../image/manifest.js';

/** An in-memory {@link HostBlockStore}. */
export class SimBlockStore implements HostBlockStore {
  private readonly blobs = new Map<Digest, Uint8Array>();

  async has(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest);
  }

  async present(digests: Iterable<Digest>): Promise<Set<Digest>> {
    return new Set([...digests].filter((d) => this.blobs.has(d)));
  }

  async putTrusted(digest: Digest, bytes: Uint8Array): Promise<void> {
    this.blobs.set(digest, bytes);
  }

  /** The stored bytes of `digest`, or undefined (synchronous, for the transport's peer side). */
  get(digest: Digest): Uint8Array | undefined {
    return this.blobs.get(digest);
  }

  /** Blocks held. */
  get size(): number {
    return this.blobs.size;
  }
}
