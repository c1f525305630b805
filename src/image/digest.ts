/**
 * sha256 digests in the `sha256:<hex>` form the manifest and the OCI API use.
 */
import { createHash } from 'node:crypto';
import { KindlingError } from '../core/errors.js';
import type { Digest } from './manifest.js';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** The digest of `bytes`. */
export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** True when `value` is a well-formed `sha256:<64 lowercase hex>` digest. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * Checks a digest that came from outside (a URL, a query string, a manifest) and returns it typed.
 * Rejects with KINDLING_DIGEST_INVALID so a malformed digest never reaches a file path.
 */
export function parseDigest(value: unknown): Digest {
  if (!isDigest(value)) {
    throw new KindlingError(
      'KINDLING_DIGEST_INVALID',
      `invalid digest ${JSON.stringify(value)}: expected sha256: followed by 64 lowercase hex digits`,
      { digest: typeof value === 'string' ? value : String(value) },
    );
  }
  return value;
}

/** The hex part of a digest (the file name in a content-addressed store). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}
