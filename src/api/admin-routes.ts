/** Identity, tenants, health and metrics. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../core/validate.js';
import { principalOf, requireAdmin, requireKey } from './auth.js';
import type { ApiContext } from './context.js';

const tenantBody = z.object({ name: z.string() });

export async function adminRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/v1/whoami', async (request) => principalOf(request));

  app.get('/v1/tenants', async (request) => {
    requireAdmin(request);
    return { tenants: ctx.tenants.list() };
  });

  app.post('/v1/tenants', async (request, reply) => {
    requireAdmin(request);
    const body = parseOrThrow(tenantBody, request.body, 'tenant request');
    reply.code(201);
    return ctx.tenants.createTenant(body.name);
  });
}

/** Routes that need no API key. `/metrics` is open to the scraper, as Prometheus exporters usually are. */
export async function publicRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok', version: ctx.version }));
  app.get('/metrics', async (_request, reply) => {
    reply.type(ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}

export { requireKey };
