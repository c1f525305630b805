/**
 * Where a worker gets image bytes from. The embedded platform reads its own registry directly; a
 * worker on another host reads the registry's OCI `/v2` API over HTTP; later strategies (swarm,
 * function trees) are further implementations of the same seam.
 */
import type { Digest, ImageManifest } from './manifest.js';

/** A manifest as resolved from a reference. */
export interface ResolvedManifest {
  /** Digest of the manifest's bytes. */
  digest: Digest;
  manifest: ImageManifest;
  bytes: Buffer;
}

/** A read-only source of manifests and blobs. Implementations verify every blob against its digest. */
export interface BlockSource {
  /** A short label for metrics and the invocation record (`registry`, `cache`, `peer`). */
  readonly kind: string;
  /** Resolves `ref` (a tag or a digest) in repository `name`. Rejects with KINDLING_MANIFEST_UNKNOWN. */
  getManifest(name: string, ref: string): Promise<ResolvedManifest>;
  /** The blob's bytes, verified. Rejects with KINDLING_BLOB_UNKNOWN or KINDLING_BLOCK_CORRUPT. */
  getBlob(name: string, digest: Digest): Promise<Buffer>;
}

/** Somewhere an image can be pushed to (the local registry, or a remote one over `/v2`). */
export interface ImageSink {
  hasBlob(name: string, digest: Digest): Promise<boolean>;
  /** Stores a blob; rejects with KINDLING_DIGEST_INVALID when the bytes do not match `digest`. */
  putBlob(name: string, digest: Digest, bytes: Buffer): Promise<void>;
  /** Stores a manifest under `ref` (a tag); every blob it lists must already be present. Returns its digest. */
  putManifest(name: string, ref: string, bytes: Buffer): Promise<Digest>;
}
