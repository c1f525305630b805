/**
 * The control plane's SQLite database: one file under the data directory, WAL mode, schema migrations
 * applied in order at open. Everything the platform must remember across a restart lives here.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

/** Schema migrations; index + 1 is the schema version. Append only. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'tenant')),
    created_at INTEGER NOT NULL
  );
  CREATE TABLE functions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
  );
  CREATE TABLE versions (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    image_repo TEXT NOT NULL,
    image_digest TEXT NOT NULL,
    entry TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, version),
    FOREIGN KEY (tenant_id, name) REFERENCES functions(tenant_id, name) ON DELETE CASCADE
  );
  CREATE TABLE aliases (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, alias),
    FOREIGN KEY (tenant_id, name) REFERENCES functions(tenant_id, name) ON DELETE CASCADE
  );
  CREATE TABLE invocations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT,
    result TEXT,
    error TEXT,
    logs TEXT,
    logs_dropped INTEGER NOT NULL DEFAULT 0,
    cold INTEGER,
    tier TEXT,
    start_path TEXT,
    instance_id TEXT,
    phases TEXT,
    total_ms REAL,
    fetch TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX invocations_by_function ON invocations (tenant_id, function_name, created_at DESC);
  CREATE INDEX invocations_pending ON invocations (status, created_at) WHERE status IN ('queued', 'running');
  `,
  // 2: startup working sets of images (lazy loading), recorded by the first cold start anywhere.
  `
  CREATE TABLE working_sets (
    image_digest TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    blocks TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
  );
  `,
  // 3: scheduled triggers: the last tick of each cron expression that was enqueued.
  `
  CREATE TABLE schedule_ticks (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    last_tick INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, cron),
    FOREIGN KEY (tenant_id, name) REFERENCES functions(tenant_id, name) ON DELETE CASCADE
  );
  `,
];

/** Opens (creating if needed) the database at `file` and brings its schema up to date. */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode is durable against process crashes (SIGKILL); only an OS crash can lose the last commits.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
