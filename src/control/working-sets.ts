/**
 * Startup working sets of images (lazy loading): the blocks a function read while it first started,
 * reported by the host that ran its first cold start. Kept beside the image's manifest rather than
 * inside it, since a manifest is content-addressed: writing the working set into it would change the
 * image's digest. The first report wins; later ones (other hosts' first starts) are ignored.
 */
import type { Db } from './db.js';

export interface WorkingSet {
  digest: string;
  repository: string;
  blocks: string[];
  recordedAt: number;
}

export class WorkingSetStore {
  private readonly cache = new Map<string, string[] | null>();

  constructor(private readonly db: Db) {}

  /** Records the working set of an image unless one is known; returns whether this one was kept. */
  record(ws: WorkingSet): boolean {
    const info = this.db
      .prepare(
        'INSERT OR IGNORE INTO working_sets (image_digest, repository, blocks, recorded_at) VALUES (?, ?, ?, ?)',
      )
      .run(ws.digest, ws.repository, JSON.stringify(ws.blocks), ws.recordedAt);
    this.cache.delete(ws.digest);
    return info.changes > 0;
  }

  /** The blocks of an image's working set, or undefined when none was recorded. */
  blocksOf(digest: string): string[] | undefined {
    let blocks = this.cache.get(digest);
    if (blocks === undefined) {
      const row = this.db.prepare('SELECT blocks FROM working_sets WHERE image_digest = ?').get(digest) as
        { blocks: string } | undefined;
      blocks = row ? (JSON.parse(row.blocks) as string[]) : null;
      this.cache.set(digest, blocks);
    }
    return blocks ?? undefined;
  }

  get(digest: string): WorkingSet | undefined {
    const row = this.db
      .prepare(
        'SELECT image_digest, repository, blocks, recorded_at FROM working_sets WHERE image_digest = ?',
      )
      .get(digest) as
      { image_digest: string; repository: string; blocks: string; recorded_at: number } | undefined;
    return row
      ? {
          digest: row.image_digest,
          repository: row.repository,
          blocks: JSON.parse(row.blocks) as string[],
          recordedAt: row.recorded_at,
        }
      : undefined;
  }
}
