/**
 * Tenants and their API keys. Keys are random, shown once, and stored only as sha256 hashes; each key
 * belongs to one tenant, and the `admin` role may also manage tenants.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KindlingError } from '../core/errors.js';
import type { Db } from './db.js';
import { assertTenantName } from './names.js';

export type Role = 'admin' | 'tenant';

/** Who a request is from. */
export interface Principal {
  tenant: string;
  role: Role;
}

/** The tenant that owns the admin key and the example functions. */
export const DEFAULT_TENANT = 'default';

const KEY_PREFIX = 'kdl_';

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Tenant and API-key storage. Authentication results are cached in memory (keys are immutable). */
export class TenantStore {
  private readonly cache = new Map<string, Principal | null>();

  constructor(private readonly db: Db) {}

  /** Creates a tenant and its first key; returns the key (the only time it is visible). */
  createTenant(name: string, role: Role = 'tenant'): { tenant: string; apiKey: string } {
    assertTenantName(name);
    if (this.exists(name)) {
      throw new KindlingError('KINDLING_CONFLICT', `tenant ${JSON.stringify(name)} already exists`, {
        tenant: name,
      });
    }
    const now = Date.now();
    const apiKey = this.newKey();
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO tenants (id, created_at) VALUES (?, ?)').run(name, now);
      this.insertKey(apiKey, name, role);
    })();
    return { tenant: name, apiKey };
  }

  /** Adds another key to an existing tenant. */
  createKey(tenant: string, role: Role = 'tenant'): string {
    if (!this.exists(tenant)) {
      throw new KindlingError('KINDLING_TENANT_NOT_FOUND', `no tenant named ${JSON.stringify(tenant)}`, {
        tenant,
      });
    }
    const key = this.newKey();
    this.insertKey(key, tenant, role);
    return key;
  }

  exists(tenant: string): boolean {
    return this.db.prepare('SELECT 1 FROM tenants WHERE id = ?').get(tenant) !== undefined;
  }

  list(): { tenant: string; createdAt: number; keys: number }[] {
    return this.db
      .prepare(
        `SELECT t.id AS tenant, t.created_at AS createdAt, COUNT(k.hash) AS keys
         FROM tenants t LEFT JOIN api_keys k ON k.tenant_id = t.id GROUP BY t.id ORDER BY t.id`,
      )
      .all() as { tenant: string; createdAt: number; keys: number }[];
  }

  /** The principal for a key, or undefined when the key is unknown. */
  authenticate(key: string): Principal | undefined {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.db
      .prepare('SELECT tenant_id AS tenant, role FROM api_keys WHERE hash = ?')
      .get(hashKey(key)) as Principal | undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, row ?? null);
    return row;
  }

  /** True once the first-run bootstrap (default tenant + admin key) has happened. */
  hasAdmin(): boolean {
    return this.db.prepare("SELECT 1 FROM api_keys WHERE role = 'admin' LIMIT 1").get() !== undefined;
  }

  private newKey(): string {
    return KEY_PREFIX + randomBytes(24).toString('base64url');
  }

  private insertKey(key: string, tenant: string, role: Role): void {
    this.db
      .prepare('INSERT INTO api_keys (hash, prefix, tenant_id, role, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(hashKey(key), key.slice(0, 8), tenant, role, Date.now());
    this.cache.delete(key);
  }
}
