/**
 * A content-addressed directory of blobs (compressed blocks and manifests), shared by the registry
 * and by each worker's block cache.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KindlingError } from '../core/errors.js';
import { listOrEmpty } from '../core/list-or-empty.js';
import { digestHex, sha256Digest } from './digest.js';
import type { Digest } from './manifest.js';

/**
 * Blobs live at `<root>/sha256/<first 2 hex>/<hex>`; the two-character fan-out keeps directories
 * small once a host holds hundreds of thousands of blocks.
 *
 * Writes go to `<root>/tmp/` first and are renamed into place, so a reader never sees a partial
 * blob, and two writers of the same blob (same bytes by definition) cannot interleave. There is no
 * fsync: a blob lost or truncated by a crash fails verification on its next read and is fetched
 * again, which is cheaper than an fsync per block on every pull.
 */
export class BlobStore {
  /** Absolute or relative root directory given at construction. */
  readonly root: string;
  private readonly tmpDir: string;
  private readonly madeDirs = new Set<string>();

  /** A store rooted at `root` (directories are created on first write). */
  constructor(root: string) {
    this.root = root;
    this.tmpDir = join(root, 'tmp');
  }

  /** Where the blob `digest` is (or would be) stored. */
  pathOf(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.root, 'sha256', hex.slice(0, 2), hex);
  }

  /** True when the blob is present (not verified: a later `get` may still find it corrupt). */
  async has(digest: Digest): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /**
   * Which of `digests` are present (not verified, as {@link has}): one directory listing per
   * fan-out directory instead of a stat per blob, since a fetch asks this for every block of an
   * image before it starts, on the cold start's critical path.
   */
  async present(digests: Iterable<Digest>): Promise<Set<Digest>> {
    const byDir = new Map<string, Digest[]>();
    for (const d of digests) {
      const dir = digestHex(d).slice(0, 2);
      const list = byDir.get(dir);
      if (list) list.push(d);
      else byDir.set(dir, [d]);
    }
    const out = new Set<Digest>();
    const dirs = new Set(await listOrEmpty(join(this.root, 'sha256')));
    for (const [dir, wanted] of byDir) {
      if (!dirs.has(dir)) continue;
      const names = new Set(await listOrEmpty(join(this.root, 'sha256', dir)));
      for (const d of wanted) if (names.has(digestHex(d))) out.add(d);
    }
    return out;
  }

  /** Stored size of the blob in bytes, or undefined when absent. */
  async size(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(digest))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * The blob's bytes, verified against `digest` on every read: disks and copies fail silently, and
   * a worker must never run code from a wrong block. A blob that fails is deleted (so the next
   * `put` stores a good copy) and KINDLING_BLOCK_CORRUPT is thrown; an absent one gives
   * KINDLING_BLOB_UNKNOWN.
   */
  async get(digest: Digest): Promise<Buffer> {
    const path = this.pathOf(digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (isNotFound(err)) {
        throw new KindlingError(
          'KINDLING_BLOB_UNKNOWN',
          `blob ${digest} is not in the store at ${this.root}`,
          {
            digest,
          },
        );
      }
      throw err;
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      await rm(path, { force: true });
      throw new KindlingError(
        'KINDLING_BLOCK_CORRUPT',
        `blob ${digest} in ${this.root} is corrupt (its bytes hash to ${actual}); it was deleted, fetch it again`,
        { digest, actual },
      );
    }
    return bytes;
  }

  /**
   * Bytes `start..end` (inclusive) of the blob, for HTTP Range requests. The whole blob is read and
   * verified first: blobs are at most a few MiB, and a range of a corrupt blob is still corrupt.
   */
  async getRange(digest: Digest, start: number, end: number): Promise<Buffer> {
    const bytes = await this.get(digest);
    return bytes.subarray(start, Math.min(end, bytes.length - 1) + 1);
  }

  /** Stores `bytes` under their own digest and returns it. Storing a present blob is a no-op. */
  async put(bytes: Uint8Array): Promise<Digest> {
    const digest = sha256Digest(bytes);
    await this.write(digest, bytes);
    return digest;
  }

  /**
   * Stores bytes that claim to have `digest` (an upload, a block from a peer). Rejects with
   * KINDLING_DIGEST_INVALID when they do not, storing nothing.
   */
  async putVerified(digest: Digest, bytes: Uint8Array): Promise<void> {
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new KindlingError(
        'KINDLING_DIGEST_INVALID',
        `the ${bytes.length} bytes given for ${digest} hash to ${actual}; send the bytes that match the digest`,
        { digest, actual, size: bytes.length },
      );
    }
    await this.write(digest, bytes);
  }

  /**
   * Stores bytes the caller has already checked against `digest` (a fetcher verifies every block on
   * arrival, a {@link BlockSource} every blob it returns), without hashing them a second time.
   */
  async putTrusted(digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.write(digest, bytes);
  }

  /** Every stored blob with its size and when it was written (ms since the epoch). */
  async *list(): AsyncGenerator<{ digest: Digest; bytes: number; writtenAt: number }> {
    const root = join(this.root, 'sha256');
    for (const dir of (await listOrEmpty(root)).sort()) {
      for (const hex of await listOrEmpty(join(root, dir))) {
        const info = await stat(join(root, dir, hex)).catch(() => undefined);
        if (info?.isFile())
          yield { digest: `sha256:${hex}` as Digest, bytes: info.size, writtenAt: info.mtimeMs };
      }
    }
  }

  /** Removes a blob if present (garbage collection, tests). */
  async delete(digest: Digest): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }

  private async write(digest: Digest, bytes: Uint8Array): Promise<void> {
    const path = this.pathOf(digest);
    // Same digest and same length: the stored copy is (barring bit rot, which `get` catches) these bytes.
    if ((await this.size(digest)) === bytes.length) return;
    try {
      await this.writeAt(path, digest, bytes);
    } catch (err) {
      // A directory made earlier was removed under the store: make them again.
      if (!isNotFound(err)) throw err;
      this.madeDirs.clear();
      await this.writeAt(path, digest, bytes);
    }
  }

  private async writeAt(path: string, digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.dir(join(path, '..'));
    await this.dir(this.tmpDir);
    const tmp = join(this.tmpDir, `${digestHex(digest).slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Creates `dir` once per store (a host writes thousands of blocks into 256 fan-out directories). */
  private async dir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
