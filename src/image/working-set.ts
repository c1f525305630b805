/**
 * The startup working set of an image: the blocks a function reads while it starts and serves its
 * first request, recorded on the first cold start anywhere so later cold starts can begin as soon as
 * those blocks are local (lazy loading, as Slacker and FaaSNet do at the block level).
 *
 * Recorded without hooking the sandbox: every file's access time is set to the epoch after the image
 * is written, and the files whose access time moved after the first invocation are the ones read.
 * This works on file systems mounted `relatime` (Linux's default: an access time older than a day
 * is always updated) or `strictatime`; on `noatime` nothing moves, and {@link readSinceMark} says
 * so by returning undefined, so no working set is recorded and starts keep fetching whole images.
 */
import { stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest, ImageManifest } from './manifest.js';
import { blocksOfFile } from './materialize.js';

/** Sets every file's access time to the epoch (keeping its modification time). */
export async function markUnread(dir: string, manifest: ImageManifest): Promise<void> {
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    const { mtime } = await stat(path);
    await utimes(path, 0, mtime);
  }
}

/**
 * The blocks of the files read since {@link markUnread}, in the order the manifest lists them
 * (entry first when it was read), or undefined when no file was (access times are not kept here).
 */
export async function readSinceMark(dir: string, manifest: ImageManifest): Promise<Digest[] | undefined> {
  const read: Digest[] = [];
  const seen = new Set<Digest>();
  let files = 0;
  const ordered = [...manifest.files].sort(
    (a, b) => Number(b.path === manifest.entry) - Number(a.path === manifest.entry),
  );
  for (const f of ordered) {
    const { atimeMs } = await stat(join(dir, f.path)).catch(() => ({ atimeMs: 0 }));
    if (atimeMs <= 0) continue;
    files++;
    for (const d of blocksOfFile(manifest, f)) {
      if (!seen.has(d)) {
        seen.add(d);
        read.push(d);
      }
    }
  }
  return files > 0 ? read : undefined;
}
