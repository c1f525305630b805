/**
 * Authentication (API keys as `Authorization: Bearer …`) and tenant scoping: a request acts inside its
 * key's tenant; an admin key may act inside another tenant with `?tenant=NAME`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KindlingError } from '../core/errors.js';
import type { Principal, TenantStore } from '../control/tenants.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** `performance.now()` when the request arrived; the start of the `queue` phase. */
    receivedAt: number;
  }
}

/** The key a request carries, if any (`Authorization: Bearer <key>` or `x-api-key: <key>`). */
function keyOf(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m)
      throw new KindlingError(
        'KINDLING_UNAUTHORIZED',
        'malformed Authorization header: send "Authorization: Bearer <api key>"',
      );
    return m[1];
  }
  const alt = headers['x-api-key'];
  return typeof alt === 'string' ? alt : undefined;
}

/**
 * A fastify onRequest hook that requires a valid key and sets `request.principal`. Callback style
 * rather than async: it runs on every request, and a promise per hook is measurable there.
 */
export function requireKey(tenants: TenantStore) {
  return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    try {
      request.principal = authenticate(tenants, request.headers);
      checkTenantParam(tenants, request);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  };
}

/** The principal whose API key the headers carry; KINDLING_UNAUTHORIZED when there is none or it is unknown. */
export function authenticate(tenants: TenantStore, headers: IncomingHttpHeaders): Principal {
  const key = keyOf(headers);
  if (!key) {
    throw new KindlingError(
      'KINDLING_UNAUTHORIZED',
      'missing API key: send "Authorization: Bearer <api key>" (the admin key is in the data directory, file admin-key)',
    );
  }
  const principal = tenants.authenticate(key);
  if (!principal) throw new KindlingError('KINDLING_UNAUTHORIZED', 'unknown or revoked API key');
  return principal;
}

/**
 * An admin's `?tenant=NAME` must name a tenant that exists: otherwise a list would come back empty
 * and a lookup would blame the function, where the tenant is what is wrong. (Another tenant's key
 * is refused by {@link tenantOf} without learning whether the tenant exists.)
 */
function checkTenantParam(tenants: TenantStore, request: FastifyRequest): void {
  const asked = (request.query as Record<string, unknown> | undefined)?.tenant;
  if (typeof asked !== 'string') return;
  const principal = request.principal!;
  if (principal.role !== 'admin' || asked === principal.tenant || tenants.exists(asked)) return;
  throw new KindlingError(
    'KINDLING_TENANT_NOT_FOUND',
    `no tenant ${JSON.stringify(asked)}; GET /v1/tenants lists them (create one with POST /v1/tenants)`,
    { tenant: asked },
  );
}

/** The principal of an authenticated request. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new KindlingError('KINDLING_UNAUTHORIZED', 'this route needs an API key');
  return request.principal;
}

/** The tenant a request acts in: its own, or (admin only) the one named by `?tenant=`. */
export function tenantOf(request: FastifyRequest): string {
  const principal = principalOf(request);
  const asked = (request.query as Record<string, unknown> | undefined)?.tenant;
  if (typeof asked !== 'string' || asked === principal.tenant) return principal.tenant;
  if (principal.role !== 'admin') {
    throw new KindlingError(
      'KINDLING_FORBIDDEN',
      `this key belongs to tenant ${principal.tenant} and cannot act in tenant ${asked}`,
    );
  }
  return asked;
}

/** Throws unless the request comes from an admin key. */
export function requireAdmin(request: FastifyRequest): void {
  if (principalOf(request).role !== 'admin')
    throw new KindlingError('KINDLING_FORBIDDEN', 'this operation needs an admin API key');
}
