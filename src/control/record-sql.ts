/**
 * The SQL that writes and prunes invocation records, shared by the store (on the main thread) and the
 * record-writer thread. No imports and no work at load: the thread loads it too.
 */

/** Column order of inserts (positional binding is cheaper than named, and this runs per invocation). */
export const INSERT_COLUMNS = [
  'id',
  'tenant_id',
  'function_name',
  'version',
  'mode',
  'status',
  'payload',
  'result',
  'error',
  'logs',
  'logs_dropped',
  'cold',
  'tier',
  'start_path',
  'instance_id',
  'phases',
  'total_ms',
  'fetch',
  'attempts',
  'created_at',
  'started_at',
  'finished_at',
] as const;

export const INSERT_SQL = `INSERT INTO invocations (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`;

/** Deletes a function's finished records beyond the newest N: bind (tenant, name, N). */
export const PRUNE_SQL = `DELETE FROM invocations WHERE rowid IN (
   SELECT rowid FROM invocations WHERE tenant_id = ? AND function_name = ? AND status IN ('succeeded', 'failed')
   ORDER BY created_at DESC LIMIT -1 OFFSET ?)`;
