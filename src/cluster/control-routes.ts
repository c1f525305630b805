/** The control plane's cluster API: worker registration and heartbeats (admin key), and the host list. */
import type { FastifyInstance } from 'fastify';
import { parseOrThrow } from '../core/validate.js';
import { requireAdmin } from '../api/auth.js';
import type { ClusterMembership } from './membership.js';
import { heartbeatBody, hostIdSchema, registerBody } from './protocol.js';

export async function clusterRoutes(app: FastifyInstance, membership: ClusterMembership): Promise<void> {
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
