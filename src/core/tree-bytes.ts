/** Bytes of the regular files under a directory (0 for one that is gone). */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes of the regular files under `dir`, recursively, not following symlinks; 0 when it is gone. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(path);
    else if (e.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
