/**
 * Functions, versions and aliases: list, inspect, deploy (from a pushed image), alias, delete, stats.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../core/validate.js';
import { digestSchema } from '../image/manifest.js';
import { assertFunctionName } from '../control/names.js';
import { requireAdmin, tenantOf } from './auth.js';
import type { ApiContext } from './context.js';

const deployBody = z
  .object({
    digest: digestSchema,
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const VERSION_RULE = 'must be a positive integer (a version number such as 3)';

/** A version number in a body (`{"version": 3}`) and in a path (`/versions/3`), with one message. */
const versionNumber = z.number({ error: VERSION_RULE }).int(VERSION_RULE).positive(VERSION_RULE);
const versionParam = z.coerce.number({ error: VERSION_RULE }).int(VERSION_RULE).positive(VERSION_RULE);

const aliasBody = z.object({ version: versionNumber }).strict();

const listQuery = z.object({ all: z.enum(['1', 'true']).optional(), tenant: z.string().optional() });

type NameParams = { Params: { name: string } };

export async function functionRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const instancesOf = async (tenant: string, name: string) =>
    (await Promise.all(ctx.scheduler.all().map((w) => w.instancesOf(tenant, name)))).flat();

  app.get('/v1/functions', async (request) => {
    const query = parseOrThrow(listQuery, request.query, 'query');
    if (query.all) requireAdmin(request);
    return { functions: ctx.functions.list(query.all ? undefined : tenantOf(request)) };
  });

  app.get<NameParams>('/v1/functions/:name', async (request) => {
    const tenant = tenantOf(request);
    assertFunctionName(request.params.name);
    const fn = ctx.functions.get(tenant, request.params.name);
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const schedules = (ctx.schedules?.describe(tenant, fn.name) ?? []).map((s) => ({
      cron: s.cron,
      nextRun: iso(s.nextRun),
      lastRun: iso(s.lastRun),
    }));
    return { ...fn, schedules, instances: await instancesOf(tenant, fn.name) };
  });

  app.delete<NameParams>('/v1/functions/:name', async (request, reply) => {
    const tenant = tenantOf(request);
    assertFunctionName(request.params.name);
    ctx.functions.delete(tenant, request.params.name);
    await Promise.all(ctx.scheduler.all().map((w) => w.drop(tenant, request.params.name)));
    reply.code(204);
  });

  app.post<NameParams>('/v1/functions/:name/versions', async (request, reply) => {
    const tenant = tenantOf(request);
    assertFunctionName(request.params.name);
    const body = parseOrThrow(deployBody, request.body, 'deploy request');
    const version = await ctx.deployer.deployImage(
      tenant,
      request.params.name,
      body.digest,
      body.config ?? {},
    );
    reply.code(201);
    return version;
  });

  app.get<NameParams>('/v1/functions/:name/versions', async (request) => {
    const tenant = tenantOf(request);
    return { versions: ctx.functions.versions(tenant, request.params.name) };
  });

  app.get<{ Params: { name: string; version: string } }>(
    '/v1/functions/:name/versions/:version',
    async (request) => {
      const tenant = tenantOf(request);
      const version = parseOrThrow(versionParam, request.params.version, 'version');
      return ctx.functions.getVersion(tenant, request.params.name, version);
    },
  );

  app.get<NameParams>('/v1/functions/:name/aliases', async (request) => {
    const tenant = tenantOf(request);
    ctx.functions.get(tenant, request.params.name);
    return { aliases: ctx.functions.aliases(tenant, request.params.name) };
  });

  app.put<{ Params: { name: string; alias: string } }>(
    '/v1/functions/:name/aliases/:alias',
    async (request) => {
      const tenant = tenantOf(request);
      const body = parseOrThrow(aliasBody, request.body, 'alias request');
      ctx.functions.setAlias(tenant, request.params.name, request.params.alias, body.version);
      return { alias: request.params.alias, version: body.version };
    },
  );

  app.delete<{ Params: { name: string; alias: string } }>(
    '/v1/functions/:name/aliases/:alias',
    async (request, reply) => {
      const tenant = tenantOf(request);
      ctx.functions.deleteAlias(tenant, request.params.name, request.params.alias);
      reply.code(204);
    },
  );

  app.get<NameParams>('/v1/functions/:name/stats', async (request) => {
    const tenant = tenantOf(request);
    ctx.functions.get(tenant, request.params.name);
    return {
      ...ctx.invocations.stats(tenant, request.params.name),
      instances: await instancesOf(tenant, request.params.name),
    };
  });
}
