/**
 * The record-writer thread (see record-sink.ts): writes each batch it receives in one transaction on
 * its own connection, prunes, and publishes the batch number it has committed.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { INSERT_SQL, PRUNE_SQL } from './record-sql.js';

const { file, state } = workerData as { file: string; state: Int32Array };

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

parentPort!.on(
  'message',
  (m: { seq: number; rows: unknown[][]; prune: [string, string][]; keep: number }) => {
    try {
      writeBatch(m.rows);
      for (const [tenant, name] of m.prune) del.run(tenant, name, m.keep);
    } catch (err) {
      parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
    }
    Atomics.store(state, 0, m.seq);
    Atomics.notify(state, 0);
  },
);
