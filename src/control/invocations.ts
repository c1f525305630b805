/**
 * Invocation records: every invocation's outcome, logs and cold-start phases, plus the durable queue
 * of async invocations (status `queued` → `running` → `succeeded` | `failed`).
 *
 * Sync records are written in batches (one transaction per commit window, 100 ms) to keep SQLite
 * off the hot path, by a {@link RecordSink}: on the platform a writer thread with its own connection,
 * so neither the inserts nor the pruning run on the event loop that serves requests. Any read flushes
 * first and waits until the sink has committed, so through the API a record is visible as soon as its
 * response is sent. A crash can lose the last commit window of sync records (their responses were
 * already delivered). Async invocations are committed in this thread before the 202 is sent, so an accepted
 * invocation survives a crash.
 */
import type { ErrorCode } from '../core/errors.js';
import { PHASES, type Phases } from '../core/phases.js';
import { percentile } from '../core/stats.js';
import type { LogLine } from '../sandbox/tier.js';
import type { Db } from './db.js';
import { INSERT_COLUMNS, INSERT_SQL } from './record-sql.js';
import { inThreadSink, type PruneTarget, type RecordSink } from './record-sink.js';

export type InvocationMode = 'sync' | 'async' | 'http' | 'schedule';
export type InvocationStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** Bytes from where, during the `fetch` phase. */
export interface FetchStats {
  bytesFromSource: number;
  bytesFromCache: number;
  source: string;
  /** Compressed bytes of the whole image (set by cluster hosts, to compare with what a lazy start fetched). */
  imageBytes?: number;
  /** True when the sandbox started once the startup working set was local (lazy loading). */
  lazy?: boolean;
}

/** A complete invocation record as the API returns it. */
export interface InvocationRecord {
  id: string;
  tenant: string;
  functionName: string;
  version: number;
  mode: InvocationMode;
  status: InvocationStatus;
  result?: unknown;
  /** Result bytes when the result itself is not kept (large sync results). */
  resultBytes?: number;
  error?: { code: ErrorCode; message: string; details?: Record<string, unknown> };
  logs: LogLine[];
  logsDroppedBytes: number;
  cold?: boolean;
  tier?: string;
  startPath?: string;
  instanceId?: string;
  phases?: Phases;
  totalMs?: number;
  fetch?: FetchStats;
  attempts: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
}

/** What an execution produced, for `recordSync` and `complete`; `resultJson` saves serialising twice. */
export type Completion = { resultJson?: string } & Omit<
  InvocationRecord,
  'id' | 'tenant' | 'functionName' | 'version' | 'mode' | 'createdAt' | 'attempts'
>;

/** Sync results larger than this are not stored, only their size. */
const SYNC_RESULT_KEEP_BYTES = 4096;
/** Pruning runs at most this often. */
const PRUNE_EVERY_MS = 10_000;
/** Finished records kept per function; older ones are pruned. */
const KEEP_PER_FUNCTION = 1000;

interface Row {
  id: string;
  tenant_id: string;
  function_name: string;
  version: number;
  mode: InvocationMode;
  status: InvocationStatus;
  payload: string | null;
  result: string | null;
  error: string | null;
  logs: string | null;
  logs_dropped: number;
  cold: number | null;
  tier: string | null;
  start_path: string | null;
  instance_id: string | null;
  phases: string | null;
  total_ms: number | null;
  fetch: string | null;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

function fromRow(r: Row): InvocationRecord {
  const rec: InvocationRecord = {
    id: r.id,
    tenant: r.tenant_id,
    functionName: r.function_name,
    version: r.version,
    mode: r.mode,
    status: r.status,
    logs: r.logs ? (JSON.parse(r.logs) as LogLine[]) : [],
    logsDroppedBytes: r.logs_dropped,
    attempts: r.attempts,
    createdAt: r.created_at,
  };
  if (r.result !== null) {
    const parsed = JSON.parse(r.result) as { value?: unknown; bytes?: number };
    if ('value' in parsed) rec.result = parsed.value;
    else if (parsed.bytes !== undefined) rec.resultBytes = parsed.bytes;
  }
  if (r.error) rec.error = JSON.parse(r.error) as InvocationRecord['error'];
  if (r.cold !== null) rec.cold = r.cold === 1;
  if (r.tier) rec.tier = r.tier;
  if (r.start_path) rec.startPath = r.start_path;
  if (r.instance_id) rec.instanceId = r.instance_id;
  if (r.phases) rec.phases = JSON.parse(r.phases) as Phases;
  if (r.total_ms !== null) rec.totalMs = r.total_ms;
  if (r.fetch) rec.fetch = JSON.parse(r.fetch) as FetchStats;
  if (r.started_at !== null) rec.startedAt = r.started_at;
  if (r.finished_at !== null) rec.finishedAt = r.finished_at;
  return rec;
}

function encodeResult(result: unknown, resultJson: string | undefined, keepAll: boolean): string | null {
  if (result === undefined && resultJson === undefined) return null;
  const json = resultJson ?? JSON.stringify(result);
  if (keepAll || json.length <= SYNC_RESULT_KEEP_BYTES) return `{"value":${json}}`;
  return JSON.stringify({ bytes: Buffer.byteLength(json) });
}

/** Per-function statistics over the most recent records. */
export interface FunctionStats {
  invocations: number;
  cold: number;
  warm: number;
  errors: number;
  /** Percentiles of each phase and the total, over cold and warm invocations separately. */
  cold_ms: Record<'p50' | 'p90' | 'p99', Record<string, number>>;
  warm_ms: Record<'p50' | 'p90' | 'p99', Record<string, number>>;
}

// The INSERT's columns are the Row's (record-sql.ts is shared with the record-writer thread).
INSERT_COLUMNS satisfies readonly (keyof Row)[];

/** A row as positional INSERT values. */
function insertValues(row: Row): unknown[] {
  return INSERT_COLUMNS.map((c) => row[c]);
}

/** Who and what an invocation was, as listeners see it next to its `Completion`. */
export interface InvocationBase {
  id: string;
  tenant: string;
  functionName: string;
  version: number;
  mode: InvocationMode;
  createdAt: number;
}

/** Hears every finished invocation (the dashboard's live feed). Runs on the invoke path: keep it cheap. */
export type FinishedListener = (base: InvocationBase, done: Completion) => void;

/** Storage for invocation records and the async queue. */
export class InvocationStore {
  /** Sync records not yet handed to the sink, as positional INSERT values. */
  private pending: unknown[][] = [];
  private readonly listeners = new Set<FinishedListener>();
  private flushTimer: NodeJS.Timeout | undefined;
  private lastPrune = 0;
  /** Functions with records written since the last prune: names by tenant (no key built per record). */
  private readonly touched = new Map<string, Set<string>>();
  private readonly insert;
  private readonly update;

  /**
   * @param sink where batches of sync records are written (default: this thread, at each flush);
   *   the platform gives a file database a writer thread (record-sink.ts).
   */
  constructor(
    private readonly db: Db,
    private readonly sink: RecordSink = inThreadSink(db),
  ) {
    this.insert = db.prepare(INSERT_SQL);
    this.update = db.prepare(
      `UPDATE invocations SET status = @status, payload = NULL, result = @result, error = @error, logs = @logs,
         logs_dropped = @logs_dropped, cold = @cold, tier = @tier, start_path = @start_path, instance_id = @instance_id,
         phases = @phases, total_ms = @total_ms, fetch = @fetch, finished_at = @finished_at WHERE id = @id`,
    );
  }

  /** Calls `listener` with every invocation that finishes (sync, HTTP or async). Returns an unsubscribe. */
  onFinished(listener: FinishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a finished sync or HTTP invocation (written in the next batch). */
  recordSync(base: InvocationBase, done: Completion): void {
    // In INSERT_COLUMNS order, built directly: this runs once per invocation.
    this.pending.push([
      base.id,
      base.tenant,
      base.functionName,
      base.version,
      base.mode,
      done.status,
      null,
      done.status === 'succeeded' ? encodeResult(done.result, done.resultJson, false) : null,
      done.error ? JSON.stringify(done.error) : null,
      done.logs.length === 0 ? '[]' : JSON.stringify(done.logs),
      done.logsDroppedBytes,
      done.cold === undefined ? null : done.cold ? 1 : 0,
      done.tier ?? null,
      done.startPath ?? null,
      done.instanceId ?? null,
      done.phases ? JSON.stringify(done.phases) : null,
      done.totalMs ?? null,
      done.fetch ? JSON.stringify(done.fetch) : null,
      1,
      base.createdAt,
      done.startedAt ?? null,
      done.finishedAt ?? null,
    ]);
    if (this.listeners.size > 0) for (const l of this.listeners) l(base, done);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.writePending(), this.sink.handoffMs);
      this.flushTimer.unref();
    }
  }

  /** Durably enqueues an async invocation; returns once committed. */
  enqueue(input: {
    id: string;
    tenant: string;
    functionName: string;
    version: number;
    payload: string;
    createdAt: number;
    /** `async` (the API's mode=async, the default) or `schedule` (a scheduled trigger). */
    mode?: 'async' | 'schedule';
  }): void {
    this.insert.run(
      insertValues({
        id: input.id,
        tenant_id: input.tenant,
        function_name: input.functionName,
        version: input.version,
        mode: input.mode ?? 'async',
        status: 'queued',
        payload: input.payload,
        result: null,
        error: null,
        logs: null,
        logs_dropped: 0,
        cold: null,
        tier: null,
        start_path: null,
        instance_id: null,
        phases: null,
        total_ms: null,
        fetch: null,
        attempts: 0,
        created_at: input.createdAt,
        started_at: null,
        finished_at: null,
      }),
    );
  }

  /** Takes the oldest queued async invocation and marks it running; undefined when none is queued. */
  claimNext(now: number):
    | {
        id: string;
        tenant: string;
        functionName: string;
        version: number;
        payload: string;
        attempts: number;
        /** When it was accepted (`createdAt`, epoch ms). */
        createdAt: number;
      }
    | undefined {
    return this.db.transaction(() => {
      const row = this.db
        .prepare(
          "SELECT id, tenant_id, function_name, version, payload, attempts, created_at FROM invocations WHERE status = 'queued' ORDER BY created_at, rowid LIMIT 1",
        )
        .get() as
        | Pick<Row, 'id' | 'tenant_id' | 'function_name' | 'version' | 'payload' | 'attempts' | 'created_at'>
        | undefined;
      if (!row) return undefined;
      this.db
        .prepare(
          "UPDATE invocations SET status = 'running', attempts = attempts + 1, started_at = ? WHERE id = ?",
        )
        .run(now, row.id);
      return {
        id: row.id,
        tenant: row.tenant_id,
        functionName: row.function_name,
        version: row.version,
        payload: row.payload ?? 'null',
        attempts: row.attempts + 1,
        createdAt: row.created_at,
      };
    })();
  }

  /** Finishes a claimed async invocation. */
  complete(id: string, done: Completion): void {
    this.update.run({ id, ...this.completionColumns(done, true) });
    if (this.listeners.size === 0) return;
    const row = this.db
      .prepare('SELECT tenant_id, function_name, version, mode, created_at FROM invocations WHERE id = ?')
      .get(id) as Pick<Row, 'tenant_id' | 'function_name' | 'version' | 'mode' | 'created_at'> | undefined;
    if (!row) return;
    const base: InvocationBase = {
      id,
      tenant: row.tenant_id,
      functionName: row.function_name,
      version: row.version,
      mode: row.mode,
      createdAt: row.created_at,
    };
    for (const l of this.listeners) l(base, done);
  }

  /**
   * Puts invocations that were running when the platform died back in the queue (at-least-once
   * delivery). Returns how many.
   */
  requeueInterrupted(): number {
    return this.db.prepare("UPDATE invocations SET status = 'queued' WHERE status = 'running'").run().changes;
  }

  /** Puts one claimed invocation back in the queue (its function was busy). */
  requeue(id: string): void {
    this.db.prepare("UPDATE invocations SET status = 'queued' WHERE id = ? AND status = 'running'").run(id);
  }

  /** Number of queued async invocations. */
  queuedCount(): number {
    return (
      this.db.prepare("SELECT COUNT(*) AS n FROM invocations WHERE status = 'queued'").get() as { n: number }
    ).n;
  }

  get(id: string): InvocationRecord | undefined {
    this.flush();
    const row = this.db.prepare('SELECT * FROM invocations WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** The most recent records of a function, newest first. */
  recent(tenant: string, functionName: string, limit: number): InvocationRecord[] {
    this.flush();
    const rows = this.db
      .prepare(
        'SELECT * FROM invocations WHERE tenant_id = ? AND function_name = ? ORDER BY created_at DESC, rowid DESC LIMIT ?',
      )
      .all(tenant, functionName, limit) as Row[];
    return rows.map(fromRow);
  }

  /** Cold/warm counts and phase percentiles over the last `window` finished invocations. */
  stats(tenant: string, functionName: string, window = 1000): FunctionStats {
    this.flush();
    const rows = this.db
      .prepare(
        `SELECT status, cold, phases, total_ms FROM invocations
         WHERE tenant_id = ? AND function_name = ? AND status IN ('succeeded', 'failed')
         ORDER BY created_at DESC LIMIT ?`,
      )
      .all(tenant, functionName, window) as Pick<Row, 'status' | 'cold' | 'phases' | 'total_ms'>[];
    const cold = rows.filter((r) => r.cold === 1);
    const warm = rows.filter((r) => r.cold === 0);
    return {
      invocations: rows.length,
      cold: cold.length,
      warm: warm.length,
      errors: rows.filter((r) => r.status === 'failed').length,
      cold_ms: percentilesOf(cold),
      warm_ms: percentilesOf(warm),
    };
  }

  /** Hands pending sync records over now, and returns once every record handed over so far is committed. */
  flush(): void {
    this.writePending();
    this.sink.sync();
  }

  /** Commits what is pending and releases the record sink (the platform closes the database after). */
  async close(): Promise<void> {
    this.writePending();
    await this.sink.close();
  }

  /** Hands pending sync records to the sink as one batch, with a prune every PRUNE_EVERY_MS. */
  private writePending(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    for (const row of batch) {
      const tenant = row[1] as string;
      let names = this.touched.get(tenant);
      if (!names) this.touched.set(tenant, (names = new Set()));
      names.add(row[2] as string);
    }
    const now = Date.now();
    let prune: PruneTarget[] = [];
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      prune = this.pruneTargets();
    }
    this.sink.write(batch, prune, KEEP_PER_FUNCTION);
  }

  /** Drops finished records beyond the newest KEEP_PER_FUNCTION of each function written to lately. */
  prune(): void {
    this.writePending();
    this.sink.write([], this.pruneTargets(), KEEP_PER_FUNCTION);
    this.sink.sync();
  }

  /** The functions written to since the last prune (and forgets them). */
  private pruneTargets(): PruneTarget[] {
    const targets: PruneTarget[] = [];
    for (const [tenant, names] of this.touched) for (const name of names) targets.push([tenant, name]);
    this.touched.clear();
    return targets;
  }

  private completionColumns(done: Completion, keepResult: boolean) {
    return {
      status: done.status,
      result: done.status === 'succeeded' ? encodeResult(done.result, done.resultJson, keepResult) : null,
      error: done.error ? JSON.stringify(done.error) : null,
      logs: JSON.stringify(done.logs),
      logs_dropped: done.logsDroppedBytes,
      cold: done.cold === undefined ? null : done.cold ? 1 : 0,
      tier: done.tier ?? null,
      start_path: done.startPath ?? null,
      instance_id: done.instanceId ?? null,
      phases: done.phases ? JSON.stringify(done.phases) : null,
      total_ms: done.totalMs ?? null,
      fetch: done.fetch ? JSON.stringify(done.fetch) : null,
      started_at: done.startedAt ?? null,
      finished_at: done.finishedAt ?? null,
    };
  }
}

function percentilesOf(rows: Pick<Row, 'phases' | 'total_ms'>[]): FunctionStats['cold_ms'] {
  const series: Record<string, number[]> = { total: [] };
  for (const p of PHASES) series[p] = [];
  for (const r of rows) {
    if (!r.phases) continue;
    const phases = JSON.parse(r.phases) as Phases;
    for (const p of PHASES) series[p]!.push(phases[p]);
    series.total!.push(r.total_ms ?? 0);
  }
  const out = { p50: {}, p90: {}, p99: {} } as FunctionStats['cold_ms'];
  for (const [key, values] of Object.entries(series)) {
    values.sort((a, b) => a - b);
    out.p50[key] = percentile(values, 50);
    out.p90[key] = percentile(values, 90);
    out.p99[key] = percentile(values, 99);
  }
  return out;
}
