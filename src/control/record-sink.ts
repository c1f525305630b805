/**
 * Where batches of finished sync records are written: in this thread, or on a worker thread with its
 * own SQLite connection to the same file (WAL lets it write while this thread reads), which takes the
 * inserts and the pruning off the event loop that serves requests.
 *
 * Either way a record is committed at most {@link COMMIT_WINDOW_MS} after it was recorded (so a crash
 * loses at most that much), in one transaction per window: per-row commits would cost SQLite several
 * times as much.
 */
import { Worker } from 'node:worker_threads';
import { KindlingError } from '../core/errors.js';
import type { Db } from './db.js';
import { INSERT_SQL, PRUNE_SQL } from './record-sql.js';

/** Rows are positional INSERT values in INSERT_COLUMNS order. */
export type RecordRow = unknown[];

/** A function whose old records may be pruned: `[tenant, name]`. */
export type PruneTarget = [tenant: string, name: string];

/** Longest a sync record waits, from `recordSync` to its commit. */
export const COMMIT_WINDOW_MS = 100;

/**
 * How long the store holds rows before handing them to the writer thread. Short, so that rows leave
 * the serving thread's heap young: held there for a whole commit window under load, they outlived
 * its young-generation collections (one every few tens of milliseconds) and were copied, promoted
 * and collected again by the old generation's collector.
 */
const THREAD_HANDOFF_MS = 10;

/** Writes record batches; `sync()` returns once every batch handed over so far is committed. */
export interface RecordSink {
  /**
   * Takes a batch, and functions to prune down to `keep` records each once it is in. Committed within
   * `COMMIT_WINDOW_MS - handoffMs` (at once for the in-thread sink), or by `sync()`.
   */
  write(rows: RecordRow[], prune: PruneTarget[], keep: number): void;
  /** How long the store may hold rows before handing them over, in ms. */
  readonly handoffMs: number;
  /** Returns once everything written so far is committed (readers call it first). */
  sync(): void;
  /** Commits what was written and releases the sink. */
  close(): Promise<void>;
}

/** Writes in this thread, at once. */
export function inThreadSink(db: Db): RecordSink {
  const insert = db.prepare(INSERT_SQL);
  const del = db.prepare(PRUNE_SQL);
  return {
    write(rows, prune, keep) {
      db.transaction(() => {
        for (const row of rows) insert.run(row);
      })();
      for (const [tenant, name] of prune) del.run(tenant, name, keep);
    },
    handoffMs: COMMIT_WINDOW_MS,
    sync() {},
    close: () => Promise.resolve(),
  };
}

/** The writer thread's young generation, MiB (at 10,000 records/s, rows arrive there at ~6 MiB/s). */
const WRITER_YOUNG_GENERATION_MB = 32;

/** How long a reader waits for the writer thread before calling it stuck. */
const SYNC_TIMEOUT_MS = 10_000;

/** Shared-memory slots: the last batch committed, and a failure flag. */
const COMMITTED = 0;
const FAILED = 1;

/**
 * Writes on a worker thread, with its own connection to `db`'s file. Batches are numbered; the thread
 * stores the number of each batch it has committed in shared memory, and `sync()` blocks on it
 * (Atomics.wait) until it has caught up, so a read after a response still sees that response's
 * record. A batch that fails is reported to `onError` and counted as done (its records are lost; the
 * platform keeps serving). If the thread itself fails, later batches are written in this thread.
 */
export function threadSink(db: Db, onError: (err: KindlingError) => void): RecordSink {
  const state = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL('./record-writer-thread.js', import.meta.url), {
    // The thread holds up to a commit window of rows: with room for them in its young generation they
    // die there, instead of being copied and promoted by collections every few milliseconds (measured:
    // ~15% more CPU per record with the default size).
    resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    workerData: { file: db.name, state, commitDelayMs: COMMIT_WINDOW_MS - THREAD_HANDOFF_MS },
  });
  let fallback: RecordSink | undefined;
  worker.unref();
  let posted = 0;
  let dead = false;
  worker.on('message', (m: { error: string }) =>
    onError(new KindlingError('KINDLING_INTERNAL', `writing invocation records failed: ${m.error}`)),
  );
  worker.on('error', (err) => {
    dead = true;
    onError(
      new KindlingError(
        'KINDLING_INTERNAL',
        `the record writer thread failed (${err.message}); writing records on the main thread`,
      ),
    );
  });
  const failed = () => dead || Atomics.load(state, FAILED) === 1;
  const sync = () => {
    // The thread commits on its own schedule: ask it to commit now what it holds.
    if (Atomics.load(state, COMMITTED) < posted && !failed())
      worker.postMessage({ seq: ++posted, rows: [], prune: [], keep: 0, now: true });
    const deadline = Date.now() + SYNC_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(state, COMMITTED);
      if (done >= posted || dead || Atomics.load(state, FAILED) === 1) return;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new KindlingError(
          'KINDLING_UNAVAILABLE',
          `the invocation record writer has not committed in ${SYNC_TIMEOUT_MS} ms; records may be behind`,
        );
      Atomics.wait(state, COMMITTED, done, left);
    }
  };
  return {
    write(rows, prune, keep) {
      if (failed()) {
        fallback ??= inThreadSink(db);
        fallback.write(rows, prune, keep);
        return;
      }
      worker.postMessage({ seq: ++posted, rows, prune, keep, now: false });
    },
    get handoffMs() {
      return failed() ? COMMIT_WINDOW_MS : THREAD_HANDOFF_MS;
    },
    sync,
    async close() {
      try {
        sync();
      } finally {
        // A stuck writer must not keep the platform from closing (sync() has said so).
        await worker.terminate();
      }
    },
  };
}
