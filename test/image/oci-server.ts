/**
 * A real fastify server on 127.0.0.1:0 with the OCI routes over a LocalRegistry, for the tests.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { ociRoutes } from '../../src/api/oci.js';
import { KindlingError } from '../../src/core/errors.js';
import type { LocalRegistry } from '../../src/image/registry.js';

/** The token the test server accepts. */
export const TEST_TOKEN = 'test-token';

/**
 * Starts the server. Authorisation: no bearer token → 401; repositories under `other/` → 403;
 * pushes to `readonly/` → 403.
 */
export async function startOciServer(
  registry: LocalRegistry,
): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false });
  await ociRoutes(app, {
    registry,
    authorize(request: FastifyRequest, name: string, action: 'pull' | 'push') {
      if (request.headers.authorization !== `Bearer ${TEST_TOKEN}`) {
        throw new KindlingError('KINDLING_UNAUTHORIZED', 'send Authorization: Bearer <api key>');
      }
      if (name.startsWith('other/'))
        throw new KindlingError('KINDLING_FORBIDDEN', `${name} belongs to another tenant`);
      if (action === 'push' && name.startsWith('readonly/'))
        throw new KindlingError('KINDLING_FORBIDDEN', `${name} is read-only`);
    },
  });
  // A sibling route outside the plugin: JSON bodies must still be parsed as JSON here.
  app.post('/echo', async (request) => ({ got: request.body }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { app, url: `http://127.0.0.1:${address.port}` };
}
