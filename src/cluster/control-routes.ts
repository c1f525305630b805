/** The control plane's cluster API: worker registration and heartbeats (admin key), and the host list. */
import type { FastifyInstance } from 'fastify';
import { parseOrThrow } from '../core/validate.js';
import { requireAdmin } from '../api/auth.js';
import type { ClusterMembership } from './membership.js';
import { heartbeatBody, hostIdSchema, registerBody, workingSetBody } from './protocol.js';
import type { Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { WorkingSetStore } from '../control/working-sets.js';

export async function clusterRoutes(
  app: FastifyInstance,
  membership: ClusterMembership,
  workingSets: WorkingSetStore,
  clock: Clock,
): Promise<void> {
  app.put('/v1/cluster/working-sets', async (request) => {
    requireAdmin(request);
    const body = parseOrThrow(workingSetBody, request.body, 'working set');
    const kept = workingSets.record({ ...body, recordedAt: clock.now() });
    return { digest: body.digest, kept };
  });

  app.get<{ Params: { digest: string } }>('/v1/cluster/working-sets/:digest', async (request) => {
    requireAdmin(request);
    const ws = workingSets.get(request.params.digest);
    if (!ws)
      throw new KindlingError(
        'KINDLING_NOT_FOUND',
        `no startup working set recorded for image ${request.params.digest}; it is recorded on the image's first cold start`,
      );
    return ws;
  });

  app.post('/v1/cluster/workers', async (request, reply) => {
    requireAdmin(request);
    const body = parseOrThrow(registerBody, request.body, 'worker registration');
    reply.code(201);
    return membership.register(body);
  });

  app.put<{ Params: { id: string } }>('/v1/cluster/workers/:id/heartbeat', async (request) => {
    requireAdmin(request);
    const id = parseOrThrow(hostIdSchema, request.params.id, 'host id');
    return membership.heartbeat(id, parseOrThrow(heartbeatBody, request.body, 'heartbeat'));
  });

  app.delete<{ Params: { id: string } }>('/v1/cluster/workers/:id', async (request, reply) => {
    requireAdmin(request);
    membership.remove(parseOrThrow(hostIdSchema, request.params.id, 'host id'), 'it left');
    reply.code(204);
  });

  app.get('/v1/cluster/hosts', async (request) => {
    requireAdmin(request);
    return { hosts: membership.list() };
  });
}
