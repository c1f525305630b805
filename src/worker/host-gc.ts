/**
 * Garbage collection of one host's copies of images, after the registry's collection decided what
 * is live (`image/registry-gc.ts`): the materialised image directories, what the tiers derived from
 * them (function snapshots, through `SandboxTier.forgetCode`) and the block cache. An
 * image a pool on the host runs, or one being fetched, stays whatever the registry says; anything
 * written within the grace period stays too.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listOrEmpty } from '../core/list-or-empty.js';
import { treeBytes } from '../core/tree-bytes.js';
import type { BlobStore } from '../image/blob-store.js';

/** What the collection found live, and how to sweep. */
export interface HostGcInput {
  /** Manifest digests of every image a function version uses (or was pushed within the grace). */
  liveImages: ReadonlySet<string>;
  /** Every blob those images need. */
  liveBlobs: ReadonlySet<string>;
  graceMs: number;
  /** Now, ms since the epoch (files carry wall-clock times). */
  now: number;
  dryRun: boolean;
}

/** What one host's sweep removed (or would). */
export interface HostGcReport {
  host: string;
  imagesRemoved: number;
  blobsDeleted: number;
  /** What the tiers derived from the removed images: function snapshots, container bundles. */
  derivedRemoved: number;
  bytesFreed: number;
}

/** Sweeps `imagesDir` (one directory per manifest hex) and `cache`; see the module comment. */
export async function collectHostGarbage(
  input: HostGcInput & {
    host: string;
    imagesDir: string;
    cache: BlobStore;
    /** Images the host runs or is fetching now. */
    inUse: ReadonlySet<string>;
    /** Tells the host an image directory is gone (so its next start materialises it again). */
    forget: (digest: string) => void;
    /** Has the tiers delete what they derived from these directories (see `SandboxTier.forgetCode`). */
    forgetDerived?: (
      dirs: ReadonlySet<string>,
      dryRun: boolean,
    ) => Promise<{ removed: number; bytes: number }>;
  },
): Promise<HostGcReport> {
  const report: HostGcReport = {
    host: input.host,
    imagesRemoved: 0,
    blobsDeleted: 0,
    derivedRemoved: 0,
    bytesFreed: 0,
  };
  const removedDirs = new Set<string>();
  const recent = (at: number) => at >= input.now - input.graceMs;
  for (const hex of await listOrEmpty(input.imagesDir)) {
    if (!/^[0-9a-f]{64}$/.test(hex)) continue; // partial materialisations (`.tmp-…`) are cleaned at start
    const digest = `sha256:${hex}`;
    if (input.liveImages.has(digest) || input.inUse.has(digest)) continue;
    const dir = join(input.imagesDir, hex);
    const info = await stat(dir).catch(() => undefined);
    if (!info || recent(info.mtimeMs)) continue;
    report.imagesRemoved++;
    report.bytesFreed += await treeBytes(dir);
    removedDirs.add(dir);
    if (input.dryRun) continue;
    input.forget(digest);
    await rm(dir, { recursive: true, force: true });
  }
  if (input.forgetDerived) {
    const derived = await input.forgetDerived(removedDirs, input.dryRun);
    report.derivedRemoved = derived.removed;
    report.bytesFreed += derived.bytes;
  }
  for await (const blob of input.cache.list()) {
    if (input.liveBlobs.has(blob.digest) || recent(blob.writtenAt)) continue;
    report.blobsDeleted++;
    report.bytesFreed += blob.bytes;
    if (!input.dryRun) await input.cache.delete(blob.digest);
  }
  return report;
}
