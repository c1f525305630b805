/** Identity, tenants, garbage collection, health and metrics. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toKindlingError } from '../core/errors.js';
import { parseOrThrow } from '../core/validate.js';
import { collectRegistryGarbage } from '../image/registry-gc.js';
import type { HostGcReport } from '../worker/host-gc.js';
import { principalOf, requireAdmin, requireKey } from './auth.js';
import type { ApiContext } from './context.js';

const tenantBody = z.object({ name: z.string() }).strict();

/** One hour: a push whose version is not created yet is never that old. */
export const DEFAULT_GC_GRACE_MS = 60 * 60_000;

const gcBody = z
  .object({
    dryRun: z.boolean({ message: 'must be true or false' }).optional(),
    graceMs: z
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(0, 'must be 0 or more')
      .max(30 * 86_400_000, 'must be at most 30 days')
      .optional(),
  })
  .strict();

export async function adminRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/v1/whoami', async (request) => principalOf(request));

  app.get('/v1/tenants', async (request) => {
    requireAdmin(request);
    return { tenants: ctx.tenants.list() };
  });

  // Removes the registry's images that no function version uses (admin: it spans tenants), then
  // the hosts' copies of them where the hosts' files are in reach (the embedded worker).
  app.post('/v1/admin/gc', async (request) => {
    requireAdmin(request);
    const body = parseOrThrow(gcBody, request.body ?? {}, 'garbage collection request');
    const graceMs = body.graceMs ?? DEFAULT_GC_GRACE_MS;
    const now = ctx.clock.now();
    const dryRun = body.dryRun ?? false;
    const hosts: HostGcReport[] = [];
    const hostsNotCollected: string[] = [];
    const registry = await collectRegistryGarbage(ctx.registry, {
      roots: () => ctx.functions.images(),
      graceMs,
      now,
      dryRun,
      // Every host at once: the registry's lock is held until the slowest has answered.
      thenSweep: async (live) => {
        const input = { liveImages: live.manifests, liveBlobs: live.blobs, graceMs, now, dryRun };
        const workers = ctx.scheduler.all();
        const answers = await Promise.allSettled(
          workers.map((w) =>
            w.collectGarbage
              ? w.collectGarbage(input)
              : Promise.reject(new Error("its copies are out of this process's reach")),
          ),
        );
        answers.forEach((answer, i) => {
          if (answer.status === 'fulfilled') hosts.push(answer.value);
          // A host that does not answer keeps its copies until the next collection.
          else hostsNotCollected.push(`${workers[i]!.hostId}: ${toKindlingError(answer.reason).message}`);
        });
      },
    });
    return { ...registry, hosts, hostsNotCollected };
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
