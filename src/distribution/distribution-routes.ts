/**
 * The control plane's distribution endpoints, over a {@link DistributionHub}: what a worker's
 * {@link RemoteSourceDirectory} calls. All under `/v1/cluster/distribution`, JSON in and out,
 * Kindling's error body on failure:
 *
 * | route | body / query | answer |
 * |---|---|---|
 * | `POST /join` | `{host, fn, repository}` | `{strategy, maxConcurrentFetches, rarestFirst}` |
 * | `POST /remove` | `{host, fn}` | `{}` |
 * | `POST /leave` | `{host}` | `{}` |
 * | `POST /sources` | `{host, fn, repository, digests[]}` | `{strategy, maxConcurrentFetches, rarestFirst, blocks: [{digest, sources}]}` |
 * | `POST /availability` | `{fn, digests[]}` | `{holders: number[]}` |
 * | `POST /stored` | `{host, fn, repository, digests[], arrivals?: [{origin, bytes}]}` | `{}` |
 * | `POST /failed` | `{host, fn, repository, digest, origin}` | `{}` |
 * | `GET /changes` | `?host=&after=&waitMs=` | `{seq, reset, changes}`; long-polls while there are none |
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { KindlingError, toKindlingError } from '../core/errors.js';
import { digestSchema } from '../image/manifest.js';
import { checkBearer } from './bearer.js';
import type { DistributionHub } from './distribution-hub.js';

/** The routes' path prefix. */
export const DISTRIBUTION_PATH = '/v1/cluster/distribution';

/** Digests accepted in one batched request. */
export const MAX_DIGESTS_PER_REQUEST = 4096;

/** Options of {@link registerDistributionRoutes}. */
export interface DistributionRoutesOptions {
  /** Requests must carry `Authorization: Bearer <token>`; default no check (use `authorize` or a network boundary). */
  token?: string;
  /** Any other check; throw a KindlingError (401/403) to refuse. Runs after the token check. */
  authorize?: (request: FastifyRequest) => void | Promise<void>;
  /** Longest long-poll of `GET /changes`; default 25 000 ms. */
  maxWaitMs?: number;
}

const name = z.string().min(1).max(512);
const digests = z.array(digestSchema).max(MAX_DIGESTS_PER_REQUEST);
const origin = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('registry') }),
  z.object({ kind: z.literal('peer'), host: name }),
]);
const schemas = {
  join: z.object({ host: name, fn: name, repository: name }),
  remove: z.object({ host: name, fn: name }),
  leave: z.object({ host: name }),
  sources: z.object({ host: name, fn: name, repository: name, digests }),
  availability: z.object({ fn: name, digests }),
  stored: z
    .object({
      host: name,
      fn: name,
      repository: name,
      digests,
      // Where each fetched block came from (absent: the blocks were already in the host's cache).
      arrivals: z
        .array(z.object({ origin, bytes: z.number().int().nonnegative() }))
        .max(MAX_DIGESTS_PER_REQUEST)
        .optional(),
    })
    .refine((b) => b.arrivals === undefined || b.arrivals.length === b.digests.length, {
      message: 'arrivals must list one entry per digest, in the same order',
      path: ['arrivals'],
    }),
  failed: z.object({ host: name, fn: name, repository: name, digest: digestSchema, origin }),
  changes: z.object({
    host: name,
    after: z.coerce.number().int().min(-1).optional(),
    waitMs: z.coerce.number().int().min(0).optional(),
  }),
};

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `invalid ${what}: ${issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : r.error.message}`,
      { issues: r.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), message: i.message })) },
    );
  }
  return r.data;
}

/** Mounts the routes in a scope of their own. */
export async function registerDistributionRoutes(
  app: FastifyInstance,
  hub: DistributionHub,
  options: DistributionRoutesOptions = {},
): Promise<void> {
  const maxWaitMs = options.maxWaitMs ?? 25_000;
  await app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, _request, reply) => {
      const e =
        err.statusCode && err.statusCode < 500 && !KindlingError.is(err)
          ? new KindlingError('KINDLING_BAD_REQUEST', err.message)
          : toKindlingError(err);
      return reply.code(e.status).send(e.toJSON());
    });
    scope.addHook('onRequest', async (request) => {
      if (options.token !== undefined) checkBearer(request, options.token);
      await options.authorize?.(request);
    });
    const P = DISTRIBUTION_PATH;
    scope.post(`${P}/join`, async (request) => {
      const b = parse(schemas.join, request.body, 'join request');
      hub.join(b.fn, b.host);
      return hub.limits(b.fn);
    });
    scope.post(`${P}/remove`, async (request) => {
      const b = parse(schemas.remove, request.body, 'remove request');
      hub.remove(b.fn, b.host);
      return {};
    });
    scope.post(`${P}/leave`, async (request) => {
      hub.leave(parse(schemas.leave, request.body, 'leave request').host);
      return {};
    });
    scope.post(`${P}/sources`, async (request) => {
      const b = parse(schemas.sources, request.body, 'sources request');
      return hub.sources(b.host, b.fn, b.repository, b.digests);
    });
    scope.post(`${P}/availability`, async (request) => {
      const b = parse(schemas.availability, request.body, 'availability request');
      return { holders: hub.availability(b.fn, b.digests) };
    });
    scope.post(`${P}/stored`, async (request) => {
      const b = parse(schemas.stored, request.body, 'stored report');
      hub.stored(b.host, b.fn, b.repository, b.digests, b.arrivals);
      return {};
    });
    scope.post(`${P}/failed`, async (request) => {
      const b = parse(schemas.failed, request.body, 'failure report');
      hub.failed(b.host, b.fn, b.repository, b.digest, b.origin);
      return {};
    });
    scope.get(`${P}/changes`, async (request, reply) => {
      const q = parse(schemas.changes, request.query, 'changes query');
      // No `after`: the host is starting to listen; answer where the log is now.
      if (q.after === undefined) return { seq: hub.lastSeq, reset: false, changes: [] };
      const gone = new AbortController();
      const onClose = (): void => gone.abort();
      reply.raw.once('close', onClose);
      try {
        return await hub.waitForChanges(
          q.host,
          q.after,
          Math.min(q.waitMs ?? maxWaitMs, maxWaitMs),
          gone.signal,
        );
      } finally {
        reply.raw.off('close', onClose);
      }
    });
  });
}
