/**
 * Compression of single blocks. Each block is a gzip member of its own so a worker can fetch, verify
 * and decompress any block without the others (lazy loading, P2P pieces).
 */
import { promisify } from 'node:util';
import { gzip, gunzip, gzipSync, constants } from 'node:zlib';
import { KindlingError } from '../core/errors.js';
import type { Digest } from './manifest.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * Fixed settings: the same bytes must give the same compressed bytes (and so the same digest), or
 * unchanged blocks would not deduplicate across builds. Level 6 is zlib's default: level 9 costs
 * about twice the build time for a percent or two of size.
 */
const GZIP_OPTIONS = { level: 6, memLevel: 8, windowBits: 15, strategy: constants.Z_DEFAULT_STRATEGY };

/**
 * zlib writes the gzip header with mtime 0 but an OS byte that depends on the platform it was built
 * for; pinning it to 3 (Unix) keeps digests equal across hosts.
 */
function pinHeader(out: Buffer): Buffer {
  if (out.length > 9) out[9] = 3;
  return out;
}

/** The largest single output chunk asked of zlib (a larger block decompresses in several). */
const MAX_OUTPUT_CHUNK = 4 * 1024 * 1024;

/** Compresses one block, deterministically, on the libuv thread pool. */
export async function compressBlock(bytes: Uint8Array): Promise<Buffer> {
  return pinHeader(await gzipAsync(bytes, GZIP_OPTIONS));
}

/** Synchronous variant of {@link compressBlock}, for tests and tiny inputs. */
export function compressBlockSync(bytes: Uint8Array): Buffer {
  return pinHeader(gzipSync(bytes, GZIP_OPTIONS));
}

/**
 * Decompresses one block. `expectedSize` (the manifest's `size`) bounds the output, so a hostile
 * block cannot inflate without limit, and must match exactly: a block that decompresses to a
 * different length is as corrupt as one with the wrong digest.
 */
export async function decompressBlock(
  compressed: Uint8Array,
  expectedSize: number,
  digest?: Digest,
): Promise<Buffer> {
  let out: Buffer;
  try {
    out = await gunzipAsync(compressed, {
      maxOutputLength: Math.max(expectedSize, 1),
      // The whole block in one output chunk: with zlib's default 16 KiB chunks a 512 KiB block
      // took 32 round trips to the thread pool and a final copy, about 3x the CPU (measured).
      chunkSize: Math.min(Math.max(expectedSize, constants.Z_MIN_CHUNK), MAX_OUTPUT_CHUNK),
    });
  } catch (err) {
    throw new KindlingError(
      'KINDLING_BLOCK_CORRUPT',
      `block ${digest ?? '(unknown digest)'} does not decompress to ${expectedSize} bytes: ${(err as Error).message}`,
      { digest, expectedSize },
      { cause: err },
    );
  }
  if (out.length !== expectedSize) {
    throw new KindlingError(
      'KINDLING_BLOCK_CORRUPT',
      `block ${digest ?? '(unknown digest)'} decompressed to ${out.length} bytes, the manifest says ${expectedSize}`,
      { digest, expectedSize, actualSize: out.length },
    );
  }
  return out;
}
