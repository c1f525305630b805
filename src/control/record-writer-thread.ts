/**
 * The record-writer thread (see record-sink.ts): gathers the batches it receives and commits them in
 * one transaction on its own connection `commitDelayMs` after the first uncommitted one arrived (or at
 * once when a batch says `now`), prunes, and publishes the number of the last batch committed.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { INSERT_SQL, PRUNE_SQL } from './record-sql.js';

const { file, state, commitDelayMs } = workerData as {
  file: string;
  state: Int32Array;
  commitDelayMs: number;
};

/** Opens the connection; on failure tells readers not to wait (slot 1) and the store why. */
function open() {
  try {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    const insert = db.prepare(INSERT_SQL);
    const del = db.prepare(PRUNE_SQL);
    const writeBatch = db.transaction((rows: unknown[][]) => {
      for (const row of rows) insert.run(row);
    });
    return { writeBatch, del };
  } catch (err) {
    Atomics.store(state, 1, 1);
    Atomics.notify(state, 0);
    throw err;
  }
}
const { writeBatch, del } = open();

/** What has arrived and is not committed yet. */
let rows: unknown[][] = [];
let prune: [string, string][] = [];
let keep = 0;
let lastSeq = 0;
let timer: NodeJS.Timeout | undefined;

function commit(): void {
  clearTimeout(timer);
  timer = undefined;
  try {
    writeBatch(rows);
    for (const [tenant, name] of prune) del.run(tenant, name, keep);
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
  rows = [];
  prune = [];
  Atomics.store(state, 0, lastSeq);
  Atomics.notify(state, 0);
}

parentPort!.on(
  'message',
  (m: { seq: number; rows: unknown[][]; prune: [string, string][]; keep: number; now: boolean }) => {
    lastSeq = m.seq;
    for (const row of m.rows) rows.push(row);
    for (const target of m.prune) prune.push(target);
    if (m.prune.length > 0) keep = m.keep;
    if (m.now) commit();
    else timer ??= setTimeout(commit, commitDelayMs);
  },
);
