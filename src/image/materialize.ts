/**
 * Turns an image into a directory of files a sandbox can run: resolve the manifest, fetch each
 * block from the local cache or the source, verify, decompress, write the files.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { BlobStore } from './blob-store.js';
import { decompressBlock } from './block-codec.js';
import { digestHex, parseDigest } from './digest.js';
import { parseManifest } from './manifest-codec.js';
import type { Block, Digest, FileEntry, ImageManifest } from './manifest.js';
import { mapAsReady, mapLimit } from './map-limit.js';
import type { BlockSource, ResolvedManifest } from './source.js';

/**
 * Written last into a complete image directory, holding the manifest digest. The directory is
 * renamed into place only when complete, so the marker guards against anything else having put a
 * directory there (a copy, a crash of an older version), not against our own partial writes.
 */
export const COMPLETE_MARKER = '.kindling-image';

/**
 * In a lazily loaded image's directory until it is complete: the JSON array of the paths not written
 * yet, which a sandbox reads to know which files to ask for (see `sandbox/process/fault-in.cts`).
 */
export const PENDING_LIST = '.kindling-pending.json';

/** Options of {@link materializeImage}. */
export interface MaterializeOptions {
  source: BlockSource;
  /** Repository name in `source`. */
  name: string;
  /** Tag or digest. A digest whose manifest is in `cache` needs no request to `source`. */
  ref: string;
  /** This host's block cache; blocks fetched from `source` are added to it. */
  cache: BlobStore;
  /** Images go to `<imagesDir>/<manifest hex>/`. */
  imagesDir: string;
  /** Blocks fetched at once; default 8. */
  parallel?: number;
  /**
   * A fetch of the image's blocks into `cache` is running alongside: resolves once `digest` is
   * there, rejects if it cannot be fetched. Blocks are then written as they arrive, in the order
   * they arrive, so the files are done moments after the last block rather than a whole
   * materialisation later. Absent: blocks are written in manifest order, read from `cache` or
   * fetched from `source`.
   */
  whenLocal?: (digest: Digest) => Promise<void>;
  /** Measures `ms`. Default: the system clock. */
  clock?: Clock;
  /** Called after each distinct block is written. */
  onProgress?: (p: {
    blocksDone: number;
    blocksTotal: number;
    bytesFromSource: number;
    bytesFromCache: number;
  }) => void;
}

/** A materialised image and where its bytes came from. */
export interface MaterializedImage {
  digest: Digest;
  manifest: ImageManifest;
  /** Absolute path of the image's root directory. */
  dir: string;
  /** Compressed block bytes fetched from the source. */
  bytesFromSource: number;
  /** Compressed block bytes read from the cache (all of them when the directory already existed). */
  bytesFromCache: number;
  /** Distinct blocks of the image. */
  blocks: number;
  blocksFromSource: number;
  blocksFromCache: number;
  ms: number;
}

/** One materialisation per image directory in this process; concurrent callers share it. */
const inflight = new Map<string, Promise<MaterializedImage>>();

/**
 * Materialises `name@ref` under `imagesDir` and returns the directory. An image already there is
 * returned at once. Otherwise files are written into a temp directory that is renamed into place,
 * so concurrent processes never see a partial image; concurrent calls in this process for the same
 * image share one promise (and one result). A cached block that fails verification is fetched
 * again from `source`. File modes are applied (permission bits only).
 */
export async function materializeImage(opts: MaterializeOptions): Promise<MaterializedImage> {
  const clock = opts.clock ?? systemClock;
  const started = clock.monotonic();
  const resolved = await resolveManifest(opts);
  const dir = resolve(opts.imagesDir, digestHex(resolved.digest));
  const totals = distinctBlocks(resolved.manifest);

  if (await isComplete(dir, resolved.digest)) {
    return {
      digest: resolved.digest,
      manifest: resolved.manifest,
      dir,
      bytesFromSource: 0,
      bytesFromCache: totals.compressedBytes,
      blocks: totals.count,
      blocksFromSource: 0,
      blocksFromCache: totals.count,
      ms: clock.monotonic() - started,
    };
  }
  const running = inflight.get(dir);
  if (running) return running;
  const job = writeImage(opts, resolved, dir, clock, started).finally(() => inflight.delete(dir));
  inflight.set(dir, job);
  return job;
}

async function resolveManifest(opts: MaterializeOptions): Promise<ResolvedManifest> {
  if (opts.ref.includes(':')) {
    const digest = parseDigest(opts.ref);
    try {
      const bytes = await opts.cache.get(digest);
      return { digest, manifest: parseManifest(bytes), bytes };
    } catch (err) {
      // Absent or corrupt (and now deleted) in the cache: ask the source.
      if (
        !KindlingError.is(err) ||
        (err.code !== 'KINDLING_BLOB_UNKNOWN' && err.code !== 'KINDLING_BLOCK_CORRUPT')
      )
        throw err;
    }
  }
  const resolved = await opts.source.getManifest(opts.name, opts.ref);
  await opts.cache.putVerified(resolved.digest, resolved.bytes);
  return resolved;
}

async function writeImage(
  opts: MaterializeOptions,
  { digest, manifest }: ResolvedManifest,
  dir: string,
  clock: Clock,
  started: number,
): Promise<MaterializedImage> {
  checkReservedNames(digest, manifest);
  await mkdir(opts.imagesDir, { recursive: true });
  const tmp = join(
    opts.imagesDir,
    `.tmp-${digestHex(digest).slice(0, 16)}-${randomBytes(6).toString('hex')}`,
  );
  try {
    const stats = await fillDirectory(opts, manifest, tmp);
    await writeFile(join(tmp, COMPLETE_MARKER), `${digest}\n`);
    await moveIntoPlace(tmp, dir, digest);
    return { digest, manifest, dir, ...stats, ms: clock.monotonic() - started };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Lazy loading: writes the files whose blocks are all in `workingSet` (the blocks the function read
 * while it first started, fetched first) straight into the image directory, creates every directory
 * of the image, and returns, so a sandbox can start; the other files are written once `rest`
 * resolves (the rest of the blocks are local), each renamed into place whole, and the directory is
 * marked complete last. Until then its {@link PENDING_LIST} holds the JSON array of the files not
 * written yet, and `faultIn` writes some of them at once, getting their blocks through
 * `demand` (ahead of the background; without it, from the cache or `source`). A directory left
 * incomplete by a crash is rebuilt by the next {@link materializeImage}.
 */
export async function materializeLazily(
  opts: MaterializeOptions,
  workingSet: ReadonlySet<Digest>,
  rest: Promise<unknown>,
  demand?: (blocks: Digest[]) => Promise<void>,
): Promise<MaterializedImage & LazyImage> {
  const clock = opts.clock ?? systemClock;
  const started = clock.monotonic();
  const resolved = await resolveManifest(opts);
  const { digest, manifest } = resolved;
  const dir = resolve(opts.imagesDir, digestHex(digest));
  const filesTotal = manifest.files.length;
  const pendingList = join(dir, PENDING_LIST);
  if (await isComplete(dir, digest)) {
    const whole = await materializeImage(opts);
    return {
      ...whole,
      filesNow: filesTotal,
      filesTotal,
      complete: Promise.resolve(),
      pendingList,
      faultIn: () => Promise.resolve(),
    };
  }
  checkReservedNames(digest, manifest);
  const atStart = startupFiles(manifest, workingSet);
  await rm(dir, { recursive: true, force: true });
  const stats = await fillDirectory(opts, manifest, dir, (f) => atStart.has(f));
  // Every directory exists from the start: a function may stat or list one before its files arrive.
  for (const d of new Set(manifest.files.map((f) => dirname(join(dir, f.path))))) {
    await mkdir(d, { recursive: true });
  }
  const later = manifest.files.filter((f) => !atStart.has(f));
  await writeFile(pendingList, JSON.stringify(later.map((f) => f.path)));
  const writer = new LateFiles(opts, manifest, dir, later, demand);
  const complete = (async () => {
    await rest;
    await writer.settle();
    await writer.write(later.filter((f) => !writer.written.has(f)));
    await rm(pendingList, { force: true });
    await writeFile(join(dir, COMPLETE_MARKER), `${digest}\n`);
  })();
  return {
    digest,
    manifest,
    dir,
    ...stats,
    ms: clock.monotonic() - started,
    filesNow: atStart.size,
    filesTotal,
    complete,
    pendingList,
    faultIn: (paths) => writer.faultIn(paths),
  };
}

/** What {@link materializeLazily} adds to a materialised image. */
export interface LazyImage {
  /** Files written before the sandbox may start, and in the whole image. */
  filesNow: number;
  filesTotal: number;
  /** Resolves once every file is written and the directory is marked complete. */
  complete: Promise<void>;
  /** Absolute path of the image's {@link PENDING_LIST}; removed once the image is complete. */
  pendingList: string;
  /** Writes these pending files (paths as the manifest lists them; others are ignored) now. */
  faultIn(paths: readonly string[]): Promise<void>;
}

/** Writes a lazy image's files outside the working set: some on demand, the rest at the end. */
class LateFiles {
  /** Files already renamed into place. */
  readonly written = new Set<FileEntry>();
  private readonly byPath: Map<string, FileEntry>;
  private readonly writing = new Map<FileEntry, Promise<void>>();
  /** The late files each block holds bytes of (built on the first fault). */
  private byBlock: Map<Digest, FileEntry[]> | undefined;

  constructor(
    private readonly opts: MaterializeOptions,
    private readonly manifest: ImageManifest,
    private readonly dir: string,
    files: readonly FileEntry[],
    private readonly demand: ((blocks: Digest[]) => Promise<void>) | undefined,
  ) {
    this.byPath = new Map(files.map((f) => [f.path, f]));
  }

  /**
   * Writes the named files that are still pending, sharing writes already under way. The other
   * pending files that lie wholly in the blocks fetched for them come along: their bytes are here
   * anyway, and a package's modules, which sit together in the image, are read together.
   */
  async faultIn(paths: readonly string[]): Promise<void> {
    const files = new Set<FileEntry>();
    for (const p of paths) {
      const f = this.byPath.get(p);
      if (f && !this.written.has(f)) files.add(f);
    }
    const asked = [...files].filter((f) => !this.writing.has(f));
    if (asked.length > 0) {
      const blocks = new Set(asked.flatMap((f) => blocksOfFile(this.manifest, f)));
      const fresh = new Set(asked);
      for (const d of blocks) {
        for (const f of this.filesIn(d)) {
          if (this.written.has(f) || this.writing.has(f) || fresh.has(f)) continue;
          if (blocksOfFile(this.manifest, f).every((b) => blocks.has(b))) fresh.add(f);
        }
      }
      const job = (async () => {
        await this.demand?.([...blocks]);
        await this.write([...fresh]);
      })();
      for (const f of fresh) this.writing.set(f, job);
      // A failed write may be asked for again.
      job.catch(() => fresh.forEach((f) => this.writing.delete(f)));
    }
    await Promise.all([...files].map((f) => this.writing.get(f)));
  }

  private filesIn(digest: Digest): FileEntry[] {
    if (!this.byBlock) {
      this.byBlock = new Map();
      for (const f of this.byPath.values()) {
        for (const d of blocksOfFile(this.manifest, f)) {
          const list = this.byBlock.get(d) ?? [];
          list.push(f);
          this.byBlock.set(d, list);
        }
      }
    }
    return this.byBlock.get(digest) ?? [];
  }

  /** Resolves once the writes asked for on demand so far have ended (written or failed). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.writing.values()]);
  }

  /** Writes `files` into a temp directory, then renames each into place. */
  async write(files: readonly FileEntry[]): Promise<void> {
    if (files.length === 0) return;
    const wanted = new Set(files);
    const tmp = join(
      this.opts.imagesDir,
      `.tmp-${basename(this.dir).slice(0, 16)}-${randomBytes(6).toString('hex')}`,
    );
    try {
      await fillDirectory(this.opts, this.manifest, tmp, (f) => wanted.has(f));
      for (const f of files) {
        await mkdir(dirname(join(this.dir, f.path)), { recursive: true });
        await rename(join(tmp, f.path), join(this.dir, f.path));
        this.written.add(f);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

/** The files whose bytes all lie in `blocks` (empty files included): what a lazy start writes first. */
export function startupFiles(manifest: ImageManifest, blocks: ReadonlySet<Digest>): Set<FileEntry> {
  const files = new Set<FileEntry>();
  for (const f of manifest.files) if (blocksOfFile(manifest, f).every((d) => blocks.has(d))) files.add(f);
  return files;
}

/** Digests of the blocks holding file `f`'s bytes. */
export function blocksOfFile(manifest: ImageManifest, f: FileEntry): Digest[] {
  const layer = manifest.layers[f.layer];
  if (!layer || f.size === 0) return [];
  const out: Digest[] = [];
  for (let bi = blockIndexAt(layer.blocks, f.offset); bi < layer.blocks.length; bi++) {
    const b = layer.blocks[bi] as Block;
    if (b.offset >= f.offset + f.size) break;
    out.push(b.digest);
  }
  return out;
}

/** Writes the files of `manifest` under `root` (those `include` accepts); returns where the block bytes came from. */
async function fillDirectory(
  opts: MaterializeOptions,
  manifest: ImageManifest,
  root: string,
  include: (f: FileEntry) => boolean = () => true,
) {
  const dirs = new Set<string>([root]);
  for (const f of manifest.files) if (include(f)) dirs.add(dirname(join(root, f.path)));
  for (const d of [...dirs].sort()) await mkdir(d, { recursive: true });

  // Which files each block touches, and which files span blocks (pre-sized, then written in place).
  const occurrences = new Map<Digest, Array<{ block: Block; files: FileEntry[] }>>();
  const spanning = new Set<FileEntry>();
  for (const [li, layer] of manifest.layers.entries()) {
    const perBlock = layer.blocks.map((): FileEntry[] => []);
    for (const f of manifest.files) {
      if (f.layer !== li || f.size === 0 || !include(f)) continue;
      for (let bi = blockIndexAt(layer.blocks, f.offset); bi < layer.blocks.length; bi++) {
        const b = layer.blocks[bi] as Block;
        if (b.offset >= f.offset + f.size) break;
        if (b.offset > f.offset) spanning.add(f);
        perBlock[bi]?.push(f);
      }
    }
    layer.blocks.forEach((block, bi) => {
      if (!perBlock[bi]?.length) return;
      const list = occurrences.get(block.digest) ?? [];
      list.push({ block, files: perBlock[bi] ?? [] });
      occurrences.set(block.digest, list);
    });
  }
  for (const f of manifest.files) {
    if (!include(f)) continue;
    // Zero-length files belong to no block; files over several blocks are sized first so each
    // block can write its part at the right position, in whatever order blocks arrive.
    if (f.size === 0 || spanning.has(f)) {
      const h = await open(join(root, f.path), 'w');
      try {
        await h.truncate(f.size);
      } finally {
        await h.close();
      }
    }
  }

  const stats = {
    bytesFromSource: 0,
    bytesFromCache: 0,
    blocks: occurrences.size,
    blocksFromSource: 0,
    blocksFromCache: 0,
  };
  let blocksDone = 0;
  const writeBlock = async ([digest, uses]: [Digest, Array<{ block: Block; files: FileEntry[] }>]) => {
    const first = uses[0] as { block: Block };
    const compressed = await fetchBlock(opts, digest, stats);
    const raw = await decompressBlock(compressed, first.block.size, digest);
    for (const use of uses) {
      if (use.block.size !== raw.length) {
        throw new KindlingError(
          'KINDLING_BAD_REQUEST',
          `manifest lists block ${digest} with sizes ${first.block.size} and ${use.block.size}`,
        );
      }
      for (const f of use.files) await writePart(root, f, use.block, raw, spanning.has(f));
    }
    blocksDone++;
    opts.onProgress?.({
      blocksDone,
      blocksTotal: occurrences.size,
      bytesFromSource: stats.bytesFromSource,
      bytesFromCache: stats.bytesFromCache,
    });
  };
  const blocks = [...occurrences];
  const { whenLocal } = opts;
  if (whenLocal) await mapAsReady(blocks, opts.parallel ?? 8, ([digest]) => whenLocal(digest), writeBlock);
  else await mapLimit(blocks, opts.parallel ?? 8, writeBlock);
  for (const f of manifest.files) if (include(f)) await chmod(join(root, f.path), f.mode & 0o777);
  return stats;
}

/** The block from the cache (verified), else from the source (verified there) into the cache. */
async function fetchBlock(
  opts: MaterializeOptions,
  digest: Digest,
  stats: {
    bytesFromSource: number;
    bytesFromCache: number;
    blocksFromSource: number;
    blocksFromCache: number;
  },
): Promise<Buffer> {
  try {
    const bytes = await opts.cache.get(digest);
    stats.bytesFromCache += bytes.length;
    stats.blocksFromCache++;
    return bytes;
  } catch (err) {
    // A corrupt cached block has just been deleted by the cache; fetching it again repairs it.
    if (
      !KindlingError.is(err) ||
      (err.code !== 'KINDLING_BLOB_UNKNOWN' && err.code !== 'KINDLING_BLOCK_CORRUPT')
    )
      throw err;
  }
  const bytes = await opts.source.getBlob(opts.name, digest);
  // The source verified the blob (BlockSource's contract).
  await opts.cache.putTrusted(digest, bytes);
  stats.bytesFromSource += bytes.length;
  stats.blocksFromSource++;
  return bytes;
}

/** Writes the part of file `f` that lies in `block` (whose uncompressed bytes are `raw`). */
async function writePart(
  root: string,
  f: FileEntry,
  block: Block,
  raw: Buffer,
  spans: boolean,
): Promise<void> {
  const start = Math.max(f.offset, block.offset);
  const end = Math.min(f.offset + f.size, block.offset + block.size);
  const part = raw.subarray(start - block.offset, end - block.offset);
  const path = join(root, f.path);
  if (!spans) {
    await writeFile(path, part);
    return;
  }
  const h = await open(path, 'r+');
  try {
    await h.write(part, 0, part.length, start - f.offset);
  } finally {
    await h.close();
  }
}

/** Index of the block holding layer offset `offset` (blocks tile the layer in order). */
function blockIndexAt(blocks: readonly Block[], offset: number): number {
  let lo = 0;
  let hi = blocks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((blocks[mid] as Block).offset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function distinctBlocks(manifest: ImageManifest): { count: number; compressedBytes: number } {
  const seen = new Map<Digest, number>();
  for (const l of manifest.layers) for (const b of l.blocks) seen.set(b.digest, b.compressedSize);
  let compressedBytes = 0;
  for (const n of seen.values()) compressedBytes += n;
  return { count: seen.size, compressedBytes };
}

async function isComplete(dir: string, digest: Digest): Promise<boolean> {
  try {
    return (await readFile(join(dir, COMPLETE_MARKER), 'utf8')).trim() === digest;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/** Rejects an image with a file where Kindling keeps its own markers. */
function checkReservedNames(digest: Digest, manifest: ImageManifest): void {
  const clash = manifest.files.find((f) => f.path === COMPLETE_MARKER || f.path === PENDING_LIST);
  if (clash) {
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `image ${digest} contains a file named ${clash.path}, which is reserved; rename it and build again`,
    );
  }
}

/** Renames the finished temp dir to `dir`; another process may have got there first. */
async function moveIntoPlace(tmp: string, dir: string, digest: Digest): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(tmp, dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      if (await isComplete(dir, digest)) return; // another process finished the same image
      if (attempt > 0) throw err;
      // Something that is not a complete image sits there; no Kindling process renames a
      // partial directory into place, so it is safe to remove.
      await rm(dir, { recursive: true, force: true });
    }
  }
}
