/**
 * The registry's storage: one global content-addressed blob store, and per repository the tags
 * and the set of blobs and manifests pushed to it. Served over HTTP by `src/api/oci.ts`, and read
 * directly by an embedded worker.
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { KindlingError } from '../core/errors.js';
import { listOrEmpty } from '../core/list-or-empty.js';
import { SharedExclusiveLock } from '../core/shared-exclusive.js';
import { BlobStore } from './blob-store.js';
import { digestHex, isDigest, parseDigest, sha256Digest } from './digest.js';
import { parseManifest } from './manifest-codec.js';
import type { Digest, ImageManifest } from './manifest.js';
import { mapLimit } from './map-limit.js';
import { checkRepositoryName, checkTag } from './reference.js';
import type { BlockSource, ImageSink, ResolvedManifest } from './source.js';

// Callers import pushing from here, next to the registry it usually pushes to.
export { pushImage, type PushableImage, type PushProgress, type PushResult } from './push.js';

/** A blob or manifest pushed to a repository, and when it was last pushed (ms since the epoch). */
export interface RegistryLink {
  digest: Digest;
  pushedAt: number;
}

/** A tag of a repository, the manifest it points at, and when it was last set (ms since the epoch). */
export interface RegistryTag {
  tag: string;
  digest: Digest;
  taggedAt: number;
}

/**
 * A registry over a directory:
 * - `<root>/blobs/`: the {@link BlobStore}, deduplicated across repositories and versions;
 * - `<root>/repositories/<name>/_tags/<tag>`: the manifest digest a tag points at;
 * - `<root>/repositories/<name>/_blobs/<hex>` and `_manifests/<hex>`: empty link files recording
 *   that the blob or manifest was pushed to this repository.
 *
 * The links make access per repository: a tenant allowed to pull `acme/a` cannot read another
 * tenant's blocks by naming their digests under its own repository. Storage stays shared; a blob
 * pushed to a second repository is stored once. The `_` prefix (which a name component cannot
 * start with) keeps these directories apart from nested repository names such as `acme/tags`.
 */
export class LocalRegistry implements BlockSource, ImageSink {
  /** Reads from here are labelled `registry` in metrics and invocation records. */
  readonly kind = 'registry';
  /** The global blob store (also usable as an embedded worker's block cache). */
  readonly blobs: BlobStore;
  private readonly reposDir: string;
  private readonly tmpDir: string;
  /** Pushes hold it shared, garbage collection exclusively (`registry-gc.ts`). */
  readonly writeLock = new SharedExclusiveLock();

  /** Stores everything under `root` (created on first write). */
  constructor(readonly root: string) {
    this.blobs = new BlobStore(join(root, 'blobs'));
    this.reposDir = join(root, 'repositories');
    this.tmpDir = join(root, 'tmp');
  }

  /** True when `digest` was pushed to `name` and is still stored. */
  async hasBlob(name: string, digest: Digest): Promise<boolean> {
    const d = parseDigest(digest);
    return (await this.isLinked(name, '_blobs', d)) && (await this.blobs.has(d));
  }

  /** Stores a blob in repository `name`; rejects with KINDLING_DIGEST_INVALID when the bytes do not match. */
  async putBlob(name: string, digest: Digest, bytes: Buffer): Promise<void> {
    checkRepositoryName(name);
    const d = parseDigest(digest);
    await this.writeLock.shared(async () => {
      await this.blobs.putVerified(d, bytes);
      await this.link(name, '_blobs', d);
    });
  }

  /** Size in bytes of a blob of repository `name`; rejects with KINDLING_BLOB_UNKNOWN. */
  async statBlob(name: string, digest: Digest): Promise<number> {
    const d = parseDigest(digest);
    const size = (await this.isLinked(name, '_blobs', d)) ? await this.blobs.size(d) : undefined;
    if (size === undefined) throw blobUnknown(name, d);
    return size;
  }

  /** The blob's bytes, verified. Rejects with KINDLING_BLOB_UNKNOWN or KINDLING_BLOCK_CORRUPT. */
  async getBlob(name: string, digest: Digest): Promise<Buffer> {
    const d = parseDigest(digest);
    if (!(await this.isLinked(name, '_blobs', d))) throw blobUnknown(name, d);
    return this.blobs.get(d);
  }

  /**
   * Resolves a tag or digest in `name`. Rejects with KINDLING_MANIFEST_UNKNOWN when absent and
   * KINDLING_INVALID_NAME / KINDLING_DIGEST_INVALID for malformed references.
   */
  async getManifest(name: string, ref: string): Promise<ResolvedManifest> {
    const digest = await this.resolve(name, ref);
    let bytes: Buffer;
    try {
      bytes = await this.blobs.get(digest);
    } catch (err) {
      if (KindlingError.is(err) && err.code === 'KINDLING_BLOB_UNKNOWN') throw manifestUnknown(name, ref);
      throw err;
    }
    return { digest, manifest: parseManifest(bytes), bytes };
  }

  /** The digest `ref` (a tag or a digest) stands for in `name`, without reading the manifest. */
  async resolve(name: string, ref: string): Promise<Digest> {
    checkRepositoryName(name);
    if (ref.includes(':')) {
      const digest = parseDigest(ref);
      if (!(await this.isLinked(name, '_manifests', digest))) throw manifestUnknown(name, ref);
      return digest;
    }
    checkTag(ref);
    let text: string;
    try {
      text = await readFile(this.tagPath(name, ref), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw manifestUnknown(name, ref);
      throw err;
    }
    if (!isDigest(text.trim())) {
      throw new KindlingError(
        'KINDLING_INTERNAL',
        `tag file ${this.tagPath(name, ref)} is damaged; push the tag again`,
      );
    }
    return text.trim() as Digest;
  }

  /**
   * Stores a manifest and points `ref` at it (a tag; a digest stores it untagged and must match).
   * Rejects with KINDLING_BAD_REQUEST (`details.reason: 'manifest-invalid'`) naming the wrong
   * field, and with KINDLING_BLOB_UNKNOWN naming the first block not pushed to `name`.
   */
  async putManifest(name: string, ref: string, bytes: Buffer): Promise<Digest> {
    checkRepositoryName(name);
    const digest = sha256Digest(bytes);
    if (ref.includes(':')) {
      if (parseDigest(ref) !== digest) {
        throw new KindlingError(
          'KINDLING_DIGEST_INVALID',
          `manifest pushed as ${ref} hashes to ${digest}; push it by its own digest or by a tag`,
          { digest: ref, actual: digest },
        );
      }
    } else {
      checkTag(ref);
    }
    const manifest = parseManifest(bytes);
    return this.writeLock.shared(() => this.storeManifest(name, ref, digest, manifest, bytes));
  }

  private async storeManifest(
    name: string,
    ref: string,
    digest: Digest,
    manifest: ImageManifest,
    bytes: Buffer,
  ): Promise<Digest> {
    const wanted = [...new Set(manifest.layers.flatMap((l) => l.blocks.map((b) => b.digest)))];
    const present = await mapLimit(wanted, 32, (d) => this.hasBlob(name, d));
    const missing = wanted.filter((_, i) => !present[i]);
    if (missing.length > 0) {
      throw new KindlingError(
        'KINDLING_BLOB_UNKNOWN',
        `manifest lists block ${missing[0]} (and ${missing.length - 1} more) that ${name} does not have; push the blocks before the manifest`,
        { name, digest: missing[0], missing: missing.slice(0, 100), missingCount: missing.length },
      );
    }
    await this.blobs.putVerified(digest, bytes);
    await this.link(name, '_manifests', digest);
    if (!ref.includes(':')) await this.writeAtomic(this.tagPath(name, ref), `${digest}\n`);
    return digest;
  }

  /** Whether anything was ever pushed to repository `name` (and it was not collected since). */
  hasRepository(name: string): boolean {
    checkRepositoryName(name);
    return existsSync(this.repoDir(name));
  }

  /** Tags of `name`, sorted; empty for a repository never pushed to. */
  async listTags(name: string): Promise<string[]> {
    checkRepositoryName(name);
    return (await listOrEmpty(join(this.repoDir(name), '_tags'))).sort();
  }

  /**
   * Removes a tag (the manifest and blocks stay until garbage collection). Rejects with
   * KINDLING_MANIFEST_UNKNOWN when there is no such tag.
   */
  async deleteTag(name: string, tag: string): Promise<void> {
    checkRepositoryName(name);
    checkTag(tag);
    try {
      await rm(this.tagPath(name, tag));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw manifestUnknown(name, tag);
      throw err;
    }
  }

  /** Every repository pushed to (`tenant/name`), sorted. */
  async repositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw err;
      });
      if (entries.some((e) => e.isDirectory() && e.name.startsWith('_')))
        found.push(relative(this.reposDir, dir).split(sep).join('/'));
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('_')) await walk(join(dir, e.name));
    };
    await walk(this.reposDir);
    return found.sort();
  }

  /** The blobs or manifests pushed to `name`, with when each was last pushed (ms since the epoch). */
  async links(name: string, kind: 'blobs' | 'manifests'): Promise<RegistryLink[]> {
    const dir = join(this.repoDir(name), `_${kind}`);
    const out: RegistryLink[] = [];
    for (const hex of await listOrEmpty(dir)) {
      const digest = `sha256:${hex}`;
      if (!isDigest(digest)) continue;
      const info = await stat(join(dir, hex)).catch(() => undefined);
      if (info) out.push({ digest: digest as Digest, pushedAt: info.mtimeMs });
    }
    return out;
  }

  /** The tags of `name` with the manifest each points at and when it was last set. */
  async taggedManifests(name: string): Promise<RegistryTag[]> {
    const out: RegistryTag[] = [];
    for (const tag of await this.listTags(name)) {
      const path = this.tagPath(name, tag);
      const [text, info] = await Promise.all([
        readFile(path, 'utf8').catch(() => ''),
        stat(path).catch(() => undefined),
      ]);
      if (isDigest(text.trim()) && info)
        out.push({ tag, digest: text.trim() as Digest, taggedAt: info.mtimeMs });
    }
    return out;
  }

  /**
   * Forgets that `digest` was pushed to `name` (garbage collection; the blob itself stays in the
   * store for {@link BlobStore.delete}, and the emptied repository for {@link removeIfEmpty}).
   */
  async unlink(name: string, kind: 'blobs' | 'manifests', digest: Digest): Promise<void> {
    await rm(join(this.repoDir(name), `_${kind}`, digestHex(parseDigest(digest))), { force: true });
  }

  /** Removes `name`'s directories if no link or tag is left in them; true when it did. */
  async removeIfEmpty(name: string): Promise<boolean> {
    const dir = this.repoDir(name);
    for (const kind of ['_blobs', '_manifests', '_tags']) {
      const left = await readdir(join(dir, kind)).catch(() => []);
      if (left.length > 0) return false;
      await rmdir(join(dir, kind)).catch(() => undefined);
    }
    // Parents too (`acme/` once its last repository is gone), up to the repositories directory.
    for (let d = dir; d !== this.reposDir && d.startsWith(this.reposDir); d = join(d, '..')) {
      if ((await readdir(d).catch(() => ['?'])).length > 0) break;
      await rmdir(d).catch(() => undefined);
    }
    return true;
  }

  private repoDir(name: string): string {
    return join(this.reposDir, ...checkRepositoryName(name).split('/'));
  }

  private tagPath(name: string, tag: string): string {
    return join(this.repoDir(name), '_tags', tag);
  }

  private async isLinked(name: string, kind: '_blobs' | '_manifests', digest: Digest): Promise<boolean> {
    try {
      await stat(join(this.repoDir(name), kind, digestHex(digest)));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  private async link(name: string, kind: '_blobs' | '_manifests', digest: Digest): Promise<void> {
    const dir = join(this.repoDir(name), kind);
    await mkdir(dir, { recursive: true });
    // An empty file: its existence is the whole content, so a plain create is already atomic. Its
    // time says when it was last pushed, which garbage collection's grace period reads.
    const path = join(dir, digestHex(digest));
    await writeFile(path, '');
    const now = new Date();
    await utimes(path, now, now);
  }

  private async writeAtomic(path: string, text: string): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `tag-${randomBytes(8).toString('hex')}`);
    try {
      await writeFile(tmp, text);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}

function blobUnknown(name: string, digest: Digest): KindlingError {
  return new KindlingError('KINDLING_BLOB_UNKNOWN', `blob ${digest} is not in repository ${name}`, {
    name,
    digest,
  });
}

function manifestUnknown(name: string, ref: string): KindlingError {
  return new KindlingError(
    'KINDLING_MANIFEST_UNKNOWN',
    `no manifest ${ref} in repository ${name}; push it first or check the name`,
    { name, ref },
  );
}
