/** Directory listings where a directory that does not exist yet is simply empty. */
import { readdir } from 'node:fs/promises';

/** The names in `dir`, or none when it does not exist. */
export async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return [];
    throw err;
  }
}
