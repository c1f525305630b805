/**
 * Functions, their immutable versions and their aliases. Every deploy makes a new version and moves
 * the `latest` alias to it; other aliases move only when set explicitly. Lookups used on the invoke
 * path are cached in memory and invalidated on every change (this process is the only writer).
 */
import { KindlingError } from '../core/errors.js';
import type { Db } from './db.js';
import { parseFunctionConfig, type FunctionConfig } from './function-config.js';
import { assertAliasName, assertFunctionName } from './names.js';
import type { Digest } from '../image/manifest.js';
import type { ImageRoot } from '../image/registry-gc.js';

export const LATEST = 'latest';

/** One immutable version of a function. */
export interface FunctionVersion {
  tenant: string;
  name: string;
  version: number;
  /** Registry repository and manifest digest of the version's image. */
  imageRepo: string;
  imageDigest: string;
  /** Entry module inside the image. */
  entry: string;
  config: FunctionConfig;
  createdAt: number;
}

/** Stable key of a function version (`tenant/name@version`), as pools and placement name it. */
export function versionKey(v: Pick<FunctionVersion, 'tenant' | 'name' | 'version'>): string {
  return `${v.tenant}/${v.name}@${v.version}`;
}

/** A function with its aliases. */
export interface FunctionSummary {
  tenant: string;
  name: string;
  createdAt: number;
  latestVersion: number;
  aliases: Record<string, number>;
  config: FunctionConfig;
}

interface VersionRow {
  tenant_id: string;
  name: string;
  version: number;
  image_repo: string;
  image_digest: string;
  entry: string;
  config: string;
  created_at: number;
}

function toVersion(row: VersionRow): FunctionVersion {
  return {
    tenant: row.tenant_id,
    name: row.name,
    version: row.version,
    imageRepo: row.image_repo,
    imageDigest: row.image_digest,
    entry: row.entry,
    config: JSON.parse(row.config) as FunctionConfig,
    createdAt: row.created_at,
  };
}

/** Storage and rules for functions, versions and aliases. */
export class FunctionStore {
  private readonly resolved = new Map<string, FunctionVersion>();
  private readonly listeners = new Set<(tenant: string, name: string) => void>();

  constructor(private readonly db: Db) {}

  /** Called after any change to a function (deploy, alias, delete). */
  onChange(listener: (tenant: string, name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Creates the next version of `name` (creating the function on first deploy) and points `latest` at it. */
  createVersion(input: {
    tenant: string;
    name: string;
    imageRepo: string;
    imageDigest: string;
    entry: string;
    config: unknown;
  }): FunctionVersion {
    assertFunctionName(input.name);
    const config = parseFunctionConfig(input.config);
    const now = Date.now();
    const version = this.db.transaction(() => {
      this.db
        .prepare('INSERT OR IGNORE INTO functions (tenant_id, name, created_at) VALUES (?, ?, ?)')
        .run(input.tenant, input.name, now);
      const row = this.db
        .prepare(
          'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM versions WHERE tenant_id = ? AND name = ?',
        )
        .get(input.tenant, input.name) as { next: number };
      this.db
        .prepare(
          `INSERT INTO versions (tenant_id, name, version, image_repo, image_digest, entry, config, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          input.tenant,
          input.name,
          row.next,
          input.imageRepo,
          input.imageDigest,
          input.entry,
          JSON.stringify(config),
          now,
        );
      this.upsertAlias(input.tenant, input.name, LATEST, row.next, now);
      return row.next;
    })();
    this.changed(input.tenant, input.name);
    return this.getVersion(input.tenant, input.name, version);
  }

  /** The configuration a deploy of `input` would store (defaults filled in). */
  normalizeConfig(input: unknown): FunctionConfig {
    return parseFunctionConfig(input);
  }

  /** The function with its aliases, or KINDLING_FUNCTION_NOT_FOUND. */
  get(tenant: string, name: string): FunctionSummary {
    const fn = this.db
      .prepare('SELECT created_at FROM functions WHERE tenant_id = ? AND name = ?')
      .get(tenant, name) as { created_at: number } | undefined;
    if (!fn) throw notFound(name);
    const aliases = this.aliases(tenant, name);
    const latestVersion = aliases[LATEST] ?? 0;
    return {
      tenant,
      name,
      createdAt: fn.created_at,
      latestVersion,
      aliases,
      config: this.getVersion(tenant, name, latestVersion).config,
    };
  }

  /** Every function of a tenant (or of all tenants when `tenant` is undefined), by name. */
  list(tenant: string | undefined): FunctionSummary[] {
    const rows = (
      tenant === undefined
        ? this.db.prepare('SELECT tenant_id, name FROM functions ORDER BY tenant_id, name').all()
        : this.db
            .prepare('SELECT tenant_id, name FROM functions WHERE tenant_id = ? ORDER BY name')
            .all(tenant)
    ) as { tenant_id: string; name: string }[];
    return rows.map((r) => this.get(r.tenant_id, r.name));
  }

  /** Removes a function with all its versions and aliases. */
  delete(tenant: string, name: string): void {
    const res = this.db.prepare('DELETE FROM functions WHERE tenant_id = ? AND name = ?').run(tenant, name);
    if (res.changes === 0) throw notFound(name);
    this.db
      .prepare('DELETE FROM invocations WHERE tenant_id = ? AND function_name = ? AND status NOT IN (?, ?)')
      .run(tenant, name, 'queued', 'running');
    this.changed(tenant, name);
  }

  /** The image of every version of every function, across tenants (garbage collection's roots). */
  images(): ImageRoot[] {
    const rows = this.db.prepare('SELECT DISTINCT image_repo, image_digest FROM versions').all() as {
      image_repo: string;
      image_digest: string;
    }[];
    return rows.map((r) => ({ repository: r.image_repo, digest: r.image_digest as Digest }));
  }

  versions(tenant: string, name: string): FunctionVersion[] {
    this.get(tenant, name);
    const rows = this.db
      .prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ? ORDER BY version DESC')
      .all(tenant, name) as VersionRow[];
    return rows.map(toVersion);
  }

  getVersion(tenant: string, name: string, version: number): FunctionVersion {
    const row = this.db
      .prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ? AND version = ?')
      .get(tenant, name, version) as VersionRow | undefined;
    if (!row) {
      this.get(tenant, name);
      throw new KindlingError('KINDLING_VERSION_NOT_FOUND', `function ${name} has no version ${version}`, {
        name,
        version,
      });
    }
    return toVersion(row);
  }

  aliases(tenant: string, name: string): Record<string, number> {
    const rows = this.db
      .prepare('SELECT alias, version FROM aliases WHERE tenant_id = ? AND name = ? ORDER BY alias')
      .all(tenant, name) as { alias: string; version: number }[];
    return Object.fromEntries(rows.map((r) => [r.alias, r.version]));
  }

  /** Points `alias` at `version`. `latest` is managed by deploys and cannot be set by hand. */
  setAlias(tenant: string, name: string, alias: string, version: number): void {
    assertAliasName(alias);
    if (alias === LATEST) {
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        'the "latest" alias always follows the newest deploy; pick another alias name',
      );
    }
    this.getVersion(tenant, name, version);
    this.upsertAlias(tenant, name, alias, version, Date.now());
    this.changed(tenant, name);
  }

  deleteAlias(tenant: string, name: string, alias: string): void {
    if (alias === LATEST)
      throw new KindlingError('KINDLING_BAD_REQUEST', 'the "latest" alias cannot be deleted');
    const res = this.db
      .prepare('DELETE FROM aliases WHERE tenant_id = ? AND name = ? AND alias = ?')
      .run(tenant, name, alias);
    if (res.changes === 0) {
      this.get(tenant, name);
      throw new KindlingError(
        'KINDLING_ALIAS_NOT_FOUND',
        `function ${name} has no alias ${JSON.stringify(alias)}`,
      );
    }
    this.changed(tenant, name);
  }

  /**
   * The version a qualifier names: an alias (`latest` when omitted) or a version number. Cached: this is
   * on every invocation's path.
   */
  resolve(tenant: string, name: string, qualifier: string = LATEST): FunctionVersion {
    const key = `${tenant}\0${name}\0${qualifier}`;
    const hit = this.resolved.get(key);
    if (hit) return hit;
    let version: number;
    if (/^[0-9]+$/.test(qualifier)) {
      version = Number(qualifier);
    } else {
      const row = this.db
        .prepare('SELECT version FROM aliases WHERE tenant_id = ? AND name = ? AND alias = ?')
        .get(tenant, name, qualifier) as { version: number } | undefined;
      if (!row) {
        this.get(tenant, name);
        throw new KindlingError(
          'KINDLING_ALIAS_NOT_FOUND',
          `function ${name} has no alias ${JSON.stringify(qualifier)}`,
          {
            name,
            alias: qualifier,
          },
        );
      }
      version = row.version;
    }
    const resolved = this.getVersion(tenant, name, version);
    this.resolved.set(key, resolved);
    return resolved;
  }

  private upsertAlias(tenant: string, name: string, alias: string, version: number, now: number): void {
    this.db
      .prepare(
        `INSERT INTO aliases (tenant_id, name, alias, version, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      )
      .run(tenant, name, alias, version, now);
  }

  private changed(tenant: string, name: string): void {
    const prefix = `${tenant}\0${name}\0`;
    for (const key of this.resolved.keys()) if (key.startsWith(prefix)) this.resolved.delete(key);
    for (const listener of this.listeners) listener(tenant, name);
  }
}

function notFound(name: string): KindlingError {
  return new KindlingError(
    'KINDLING_FUNCTION_NOT_FOUND',
    `no function named ${JSON.stringify(name)}; deploy it with \`kindling deploy DIR --name ${name}\``,
    {
      name,
    },
  );
}
