/**
 * Garbage collection of one host's copies of images, after the registry's collection decided what
 * is live (`image/registry-gc.ts`): the materialised image directories and the block cache. An
 * image a pool on the host runs, or one being fetched, stays whatever the registry says; anything
 * written within the grace period stays too.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
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
  },
): Promise<HostGcReport> {
  const report: HostGcReport = { host: input.host, imagesRemoved: 0, blobsDeleted: 0, bytesFreed: 0 };
  const recent = (at: number) => at >= input.now - input.graceMs;
  const names = await readdir(input.imagesDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  for (const hex of names) {
    if (!/^[0-9a-f]{64}$/.test(hex)) continue; // partial materialisations (`.tmp-…`) are cleaned at start
    const digest = `sha256:${hex}`;
    if (input.liveImages.has(digest) || input.inUse.has(digest)) continue;
    const dir = join(input.imagesDir, hex);
    const info = await stat(dir).catch(() => undefined);
    if (!info || recent(info.mtimeMs)) continue;
    report.imagesRemoved++;
    report.bytesFreed += await treeBytes(dir);
    if (input.dryRun) continue;
    input.forget(digest);
    await rm(dir, { recursive: true, force: true });
  }
  for await (const blob of input.cache.list()) {
    if (input.liveBlobs.has(blob.digest) || recent(blob.writtenAt)) continue;
    report.blobsDeleted++;
    report.bytesFreed += blob.bytes;
    if (!input.dryRun) await input.cache.delete(blob.digest);
  }
  return report;
}

/** Bytes of the files under `dir`. */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(path);
    else if (e.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
