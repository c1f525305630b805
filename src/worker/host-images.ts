/**
 * A host's images: getting a version's image onto the host (fetched through the host's hook, then
 * materialised whole, as its blocks arrive, or lazily), remembering which are here, and recording an
 * image's startup working set on its first cold start. The worker agent asks it for a version's
 * code before a start; garbage collection asks which images are being prepared and has it forget
 * the ones it removed.
 */
import { KindlingError, toKindlingError } from '../core/errors.js';
import { versionKey, type FunctionVersion } from '../control/functions.js';
import type { FetchStats } from '../control/invocations.js';
import type { BlobStore } from '../image/blob-store.js';
import type { ImageManifest } from '../image/manifest.js';
import { materializeImage, materializeLazily, PENDING_LIST } from '../image/materialize.js';
import type { BlockSource } from '../image/source.js';
import { markUnread, readSinceMark } from '../image/working-set.js';
import type { PendingFiles } from '../sandbox/tier.js';
import type { PreparedCode } from './pool.js';

/** What a {@link WorkerOptions.fetchImage} hook did. */
export interface ImageFetch {
  /** Bytes by origin; absent while the image is `arriving` (its `complete` has them). */
  stats?: FetchStats;
  /**
   * The whole image is being fetched into the cache: its files can be written as the blocks
   * arrive. `whenLocal` resolves once a block is in the cache (rejects if the fetch failed);
   * `complete`, with the fetch's stats, once every block is.
   */
  arriving?: {
    whenLocal(digest: string): Promise<void>;
    complete: Promise<FetchStats>;
  };
  /**
   * Lazy loading: the startup working set is local and the sandbox may start; `rest` resolves once
   * every other block is too.
   */
  lazy?: {
    workingSet: ReadonlySet<string>;
    rest: Promise<unknown>;
    startEnded?: () => void;
    /** Gets these blocks into the cache now, ahead of the rest (a sandbox is waiting to read them). */
    demand?: (blocks: string[]) => Promise<void>;
  };
  /** No working set is known for this image yet: record it on this host's first cold start. */
  recordWorkingSet?: boolean;
}

/** What {@link HostImages} needs of its host. */
export interface HostImagesOptions {
  /**
   * Gets an image's blocks into `cache` before it is materialised (cluster hosts: through the
   * distribution strategy). Absent: blocks are read from `source` as materialisation needs them.
   */
  fetchImage?: ((target: FunctionVersion) => Promise<ImageFetch>) | undefined;
  /** Where a recorded startup working set goes (see `image/working-set.ts`). */
  onWorkingSet?: ((target: FunctionVersion, blocks: string[]) => void) | undefined;
  source: BlockSource;
  cache: BlobStore;
  imagesDir: string;
  onBackgroundError(err: KindlingError, key: string): void;
}

/** The images of one host; see the module comment. */
export class HostImages {
  /** Each image's preparation, by manifest digest (settled ones too: later starts reuse them). */
  private readonly prepared = new Map<string, Promise<PreparedCode>>();
  /** Images whose first cold start on this host will record the startup working set. */
  private readonly recording = new Map<string, { dir: string; manifest: ImageManifest }>();
  /** Image digests whose materialisation finished on this host. */
  private readonly images = new Set<string>();
  /** Images being fetched or materialised now. */
  private readonly preparing = new Set<string>();

  constructor(private readonly opts: HostImagesOptions) {}

  /** True when the image's materialisation finished on this host. */
  holds(digest: string): boolean {
    return this.images.has(digest);
  }

  /** Digests of the images materialised on this host. */
  held(): string[] {
    return [...this.images];
  }

  /** Digests of the images being fetched or materialised now. */
  inPreparation(): ReadonlySet<string> {
    return this.preparing;
  }

  /** Forgets an image whose directory is gone: its next start prepares it again. */
  forget(digest: string): void {
    this.prepared.delete(digest);
    this.images.delete(digest);
    this.recording.delete(digest);
  }

  /** After an image's first cold start (init and first request), reports the blocks its files read. */
  recordWorkingSet(target: FunctionVersion): void {
    const rec = this.recording.get(target.imageDigest);
    if (!rec || !this.opts.onWorkingSet) return;
    this.recording.delete(target.imageDigest);
    readSinceMark(rec.dir, rec.manifest).then(
      (blocks) => {
        if (blocks) this.opts.onWorkingSet?.(target, blocks);
        else
          this.opts.onBackgroundError(
            new KindlingError(
              'KINDLING_UNAVAILABLE',
              `no startup working set recorded for ${versionKey(target)}: this file system keeps no access times (noatime); lazy loading stays off for it`,
            ),
            versionKey(target),
          );
      },
      (err: unknown) => this.opts.onBackgroundError(toKindlingError(err), versionKey(target)),
    );
  }

  /**
   * Gets a version's image onto this host. The first call fetches and materialises it; later calls
   * find it in place and report every byte as coming from the cache.
   */
  prepare(target: FunctionVersion): Promise<PreparedCode> {
    const key = target.imageDigest;
    const inFlight = this.prepared.get(key);
    if (inFlight) {
      return inFlight.then((code) => ({
        ...code,
        fetch: {
          bytesFromSource: 0,
          bytesFromCache: code.fetch.bytesFromSource + code.fetch.bytesFromCache,
          source: 'cache',
        },
      }));
    }
    this.preparing.add(key);
    const work = (async () => {
      try {
        const fetched = await this.opts.fetchImage?.(target);
        const materialize = {
          source: this.opts.source,
          name: target.imageRepo,
          ref: target.imageDigest,
          cache: this.opts.cache,
          imagesDir: this.opts.imagesDir,
        };
        let dir: string;
        let pending: PendingFiles | undefined;
        let complete: Promise<void> | undefined;
        let stats = fetched?.stats;
        if (fetched?.lazy) {
          const m = await materializeLazily(
            materialize,
            fetched.lazy.workingSet,
            fetched.lazy.rest,
            fetched.lazy.demand,
          );
          dir = m.dir;
          pending = {
            listFile: PENDING_LIST,
            fetch: (paths) =>
              m
                .faultIn(paths)
                .catch((err: unknown) =>
                  this.opts.onBackgroundError(toKindlingError(err), versionKey(target)),
                ),
          };
          complete = m.complete;
        } else {
          const arriving = fetched?.arriving;
          const m = await materializeImage(
            arriving ? { ...materialize, whenLocal: (d) => arriving.whenLocal(d) } : materialize,
          );
          if (arriving) stats = await arriving.complete;
          dir = m.dir;
          stats ??= {
            bytesFromSource: m.bytesFromSource,
            bytesFromCache: m.bytesFromCache,
            source: m.bytesFromSource > 0 ? this.opts.source.kind : 'cache',
          };
          this.images.add(key);
          if (this.opts.onWorkingSet && fetched?.recordWorkingSet && !this.recording.has(key)) {
            await markUnread(m.dir, m.manifest);
            this.recording.set(key, { dir: m.dir, manifest: m.manifest });
          }
        }
        const code: PreparedCode = {
          codeDir: dir,
          entry: target.entry,
          fetch: stats ?? { bytesFromSource: 0, bytesFromCache: 0, source: 'cache' },
          ...(fetched?.lazy?.startEnded ? { startEnded: fetched.lazy.startEnded } : {}),
          ...(pending ? { pending } : {}),
        };
        complete?.then(
          () => {
            // Complete: later starts need no checks (and may be snapshotted again).
            delete code.pending;
            this.images.add(key);
          },
          (err: unknown) => {
            // The rest could not be fetched. Instances keep running in this directory (so it is
            // not rebuilt under them) and read what they need on demand, which fetches afresh.
            this.opts.onBackgroundError(toKindlingError(err), versionKey(target));
          },
        );
        return code;
      } catch (err) {
        this.prepared.delete(key);
        throw toKindlingError(err);
      } finally {
        this.preparing.delete(key);
      }
    })();
    this.prepared.set(key, work);
    return work;
  }
}
