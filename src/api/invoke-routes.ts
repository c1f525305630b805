/**
 * Invocation routes: sync and async invoke, and invocation records.
 */
import { uuidv7 } from '../core/ids.js';
import type { FastifyInstance } from 'fastify';
import type { FunctionVersion } from '../control/functions.js';
import { z } from 'zod';
import { KindlingError } from '../core/errors.js';
import { serverTiming } from '../core/phases.js';
import { parseOrThrow } from '../core/validate.js';
import type { Execution, ExecutionResult } from '../control/invoker.js';
import { assertFunctionName } from '../control/names.js';
import { requireAdmin, tenantOf } from './auth.js';
import { invalidJson } from './json-body.js';
import { MAX_INVOCATION_LIST } from './list-limits.js';
import type { ApiContext } from './context.js';

const invokeQuery = z.object({
  mode: z.enum(['sync', 'async'], { message: 'must be "sync" or "async"' }).default('sync'),
  qualifier: z.string().min(1).max(64).optional(),
  tenant: z.string().optional(),
  /** Admin only: run on this cluster host (benchmarks, debugging). */
  host: z.string().min(1).max(63).optional(),
});

const DEFAULT_QUERY = invokeQuery.parse({});

function isEmpty(query: unknown): boolean {
  for (const key in query as object) if (key) return false;
  return true;
}

const listQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(MAX_INVOCATION_LIST, `must be at most ${MAX_INVOCATION_LIST}`)
    .default(50),
  tenant: z.string().optional(),
});

/** The headers that explain an invocation: phases, cold or warm, ids. */
export function explainHeaders(id: string, version: number, res: ExecutionResult): Record<string, string> {
  const c = res.completion;
  const headers: Record<string, string> = {
    'server-timing': serverTiming(c.phases, c.totalMs, c.cold ? c.startPath : undefined),
    'x-kindling-cold': c.cold ? '1' : '0',
    'x-kindling-invocation-id': id,
    'x-kindling-version': String(version),
  };
  if (c.tier) headers['x-kindling-tier'] = c.tier;
  if (c.startPath) headers['x-kindling-start-path'] = c.startPath;
  if (c.instanceId) headers['x-kindling-instance'] = c.instanceId;
  if (res.host) headers['x-kindling-host'] = res.host;
  if (res.error) headers['x-kindling-error'] = res.error.code;
  return headers;
}

/** An invocation a client waits for (sync or HTTP trigger), as it is run and recorded. */
interface WaitedInvocation {
  id: string;
  version: FunctionVersion;
  event: unknown;
  mode: 'sync' | 'http';
  createdAt: number;
  host?: string | undefined;
  vetResult?: Execution['vetResult'];
}

/** Runs `inv`; the `queue` phase starts when the request arrived (`receivedAt`, from `performance.now()`). */
function execute(ctx: ApiContext, receivedAt: number, inv: WaitedInvocation): Promise<ExecutionResult> {
  const { id, version, event, mode } = inv;
  const exec: Execution = { id, version, event, mode, queuedMs: performance.now() - receivedAt };
  if (inv.host !== undefined) exec.host = inv.host;
  if (inv.vetResult) exec.vetResult = inv.vetResult;
  return ctx.invoker.execute(exec);
}

/** Records a finished invocation that a client waited for. */
function record(ctx: ApiContext, inv: WaitedInvocation, res: ExecutionResult): void {
  const { version } = inv;
  ctx.invocations.recordSync(
    {
      id: inv.id,
      tenant: version.tenant,
      functionName: version.name,
      version: version.version,
      mode: inv.mode,
      createdAt: inv.createdAt,
    },
    res.completion,
  );
}

/**
 * Runs an invocation that a client waits for (sync or HTTP trigger) and records it. The `queue` phase
 * starts when the request arrived (`receivedAt`, from `performance.now()`).
 */
export async function executeAndRecord(
  ctx: ApiContext,
  receivedAt: number,
  inv: WaitedInvocation,
): Promise<ExecutionResult> {
  const res = await execute(ctx, receivedAt, inv);
  record(ctx, inv, res);
  return res;
}

/** Parses an invoke body: JSON whatever the content type says (so `curl -d` works); empty means `{}`. */
function parseEvent(body: string): unknown {
  // Only a body that starts with white space can be all white space (and trim() copies).
  if (body === '' || (body.charCodeAt(0) <= 0x20 && body.trim() === '')) return {};
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw invalidJson((err as Error).message);
  }
}

/** A sync invocation as the HTTP layer hands it over: who, what, the raw body and when it arrived. */
export interface SyncInvocation {
  tenant: string;
  /** A valid function name (checked by the caller). */
  name: string;
  qualifier?: string | undefined;
  /** Admin placement (checked by the caller). */
  host?: string | undefined;
  /** The request body as text; JSON, empty meaning `{}`. */
  body: string;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
}

/** A sync invocation's response, ready to write. */
export interface SyncAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Resolves, runs and records a sync invocation; the answer carries the result (or the function's
 * error) and the explaining headers. Throws what is refused before running (unknown function, bad
 * JSON, 429), for the caller's error handling. Shared by the fastify route and the fast path.
 */
export async function invokeSync(ctx: ApiContext, inv: SyncInvocation): Promise<SyncAnswer> {
  const version = ctx.functions.resolve(inv.tenant, inv.name, inv.qualifier);
  const event = parseEvent(inv.body);
  const id = uuidv7();
  const waited: WaitedInvocation = {
    id,
    version,
    event,
    mode: 'sync',
    createdAt: ctx.clock.now(),
    host: inv.host,
  };
  // Not through executeAndRecord: one async layer (and its promise hop) less on the hottest route.
  const res = await execute(ctx, inv.receivedAt, waited);
  record(ctx, waited, res);
  const body = res.error
    ? JSON.stringify({ ...res.error.toJSON(), invocationId: id })
    : (res.completion.resultJson ?? 'null');
  const headers = explainHeaders(id, version.version, res);
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(body));
  return { status: res.error ? res.error.status : 200, headers, body };
}

export async function invokeRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'string', bodyLimit: ctx.payloadLimitBytes },
    (_req, body, done) => {
      done(null, body);
    },
  );

  app.post<{ Params: { name: string }; Body: string | undefined }>(
    '/v1/functions/:name/invoke',
    async (request, reply) => {
      const { name } = request.params;
      assertFunctionName(name);
      // Most invocations carry no query string: skip schema validation for them.
      const query = isEmpty(request.query)
        ? DEFAULT_QUERY
        : parseOrThrow(invokeQuery, request.query, 'query');
      const tenant = tenantOf(request);
      if (query.host !== undefined) {
        requireAdmin(request);
        if (query.mode === 'async')
          throw new KindlingError(
            'KINDLING_BAD_REQUEST',
            'host= places sync invocations only; drop mode=async',
          );
      }
      const body = typeof request.body === 'string' ? request.body : '';
      if (query.mode === 'async') {
        const version = ctx.functions.resolve(tenant, name, query.qualifier);
        const event = parseEvent(body);
        let payload: string;
        try {
          payload = JSON.stringify(event);
        } catch (err) {
          // Nesting deeper than the stack (JSON.parse takes it, JSON.stringify cannot), as a sync invoke says.
          throw new KindlingError(
            'KINDLING_INVALID_JSON',
            `the event cannot be serialised to JSON: ${(err as Error).message}; send less deeply nested JSON`,
          );
        }
        const id = uuidv7();
        ctx.invocations.enqueue({
          id,
          tenant,
          functionName: name,
          version: version.version,
          payload,
          createdAt: ctx.clock.now(),
        });
        // Its `queue` phase runs from the request's arrival to its dispatch from the durable queue.
        ctx.dispatcher.accepted(id, request.receivedAt);
        reply.code(202).header('location', `/v1/invocations/${id}`);
        return {
          id,
          status: 'queued',
          function: name,
          version: version.version,
          statusUrl: `/v1/invocations/${id}`,
        };
      }
      const answer = await invokeSync(ctx, {
        tenant,
        name,
        qualifier: query.qualifier,
        host: query.host,
        body,
        receivedAt: request.receivedAt,
      });
      // The hottest route answers on the raw response: fastify's reply pipeline (header checks,
      // serialisers, onSend hooks, none of which this route uses) costs measurably per request.
      reply.hijack();
      reply.raw.writeHead(answer.status, answer.headers);
      reply.raw.end(answer.body);
    },
  );

  app.get<{ Params: { id: string } }>('/v1/invocations/:id', async (request) => {
    const tenant = tenantOf(request);
    const record = ctx.invocations.get(request.params.id);
    // Another tenant's invocation is reported as missing, not forbidden: its existence is not theirs to learn.
    if (!record || record.tenant !== tenant) {
      throw new KindlingError(
        'KINDLING_INVOCATION_NOT_FOUND',
        `no invocation ${JSON.stringify(request.params.id)}`,
      );
    }
    return record;
  });

  app.get<{ Params: { name: string } }>('/v1/functions/:name/invocations', async (request) => {
    const tenant = tenantOf(request);
    const query = parseOrThrow(listQuery, request.query, 'query');
    ctx.functions.get(tenant, request.params.name);
    return { invocations: ctx.invocations.recent(tenant, request.params.name, query.limit) };
  });
}
