/**
 * The gateway: one fastify server with the REST API (`/v1`), HTTP triggers (`/fn`), the OCI registry
 * API (`/v2`), health and metrics. Every error leaves as `{ "error": { code, message } }` with the
 * status its code maps to.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { KindlingError, toKindlingError, type ErrorCode } from '../core/errors.js';
import { ociRoutes } from './oci.js';
import { adminRoutes, publicRoutes } from './admin-routes.js';
import { principalOf, requireKey } from './auth.js';
import type { ApiContext } from './context.js';
import { functionRoutes } from './function-routes.js';
import { httpTriggerRoutes } from './http-trigger.js';
import { invokeRoutes } from './invoke-routes.js';
import { uiRoutes } from './ui-routes.js';

/** fastify's own error codes, translated into Kindling's. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'KINDLING_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'KINDLING_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'KINDLING_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'KINDLING_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'KINDLING_INVALID_JSON',
};

function translate(err: FastifyError, ctx: ApiContext): KindlingError {
  if (KindlingError.is(err)) return err;
  const code = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (code === 'KINDLING_PAYLOAD_TOO_LARGE') {
    return new KindlingError(
      code,
      `request body is larger than the ${ctx.payloadLimitBytes / (1024 * 1024)} MiB limit; send a smaller event (large data belongs in storage the function reads)`,
      { limitBytes: ctx.payloadLimitBytes },
    );
  }
  if (code) return new KindlingError(code, err.message);
  if (err instanceof SyntaxError)
    return new KindlingError('KINDLING_INVALID_JSON', `the request body is not valid JSON: ${err.message}`);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
    return new KindlingError('KINDLING_BAD_REQUEST', err.message);
  return toKindlingError(err);
}

export interface ApiServerOptions {
  /** fastify logger setting; false in tests. */
  logger: boolean | { level: string };
  /** More routes that need an API key (cluster mode's worker API, say). */
  routes?: ((scope: FastifyInstance) => Promise<void>)[];
}

/** Builds the gateway (not yet listening). */
export async function createApiServer(ctx: ApiContext, options: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger,
    bodyLimit: ctx.payloadLimitBytes,
    // Invocation ids are ours; fastify's request ids only label its own log lines.
    genReqId: () => '',
  });

  app.decorateRequest('receivedAt', 0);
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', (request, _reply, done) => {
    request.receivedAt = performance.now();
    done();
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = translate(err, ctx);
    if (!error.isUserError) request.log.error({ err }, 'request failed');
    else ctx.metrics.observeRejected(error.code);
    void reply.code(error.status).type('application/json; charset=utf-8').send(error.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new KindlingError(
      'KINDLING_NOT_FOUND',
      `no route ${request.method} ${request.url.split('?')[0]}; see the API reference in the README`,
    );
    void reply.code(404).send(error.toJSON());
  });

  await app.register(async (scope) => publicRoutes(scope, ctx));
  // The dashboard and its live feed (keyed routes inside, a token for the feed).
  await app.register(async (scope) => uiRoutes(scope, ctx));

  // Everything below needs an API key.
  await app.register(async (scope) => {
    scope.addHook('onRequest', requireKey(ctx.tenants));
    await scope.register(async (s) => adminRoutes(s, ctx));
    await scope.register(async (s) => functionRoutes(s, ctx));
    await scope.register(async (s) => invokeRoutes(s, ctx));
    await scope.register(async (s) => httpTriggerRoutes(s, ctx));
    for (const routes of options.routes ?? []) await scope.register(routes);
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', requireKey(ctx.tenants));
    await ociRoutes(scope, {
      registry: ctx.registry,
      authorize: (request: FastifyRequest, name: string) => {
        const principal = principalOf(request);
        if (principal.role !== 'admin' && !name.startsWith(`${principal.tenant}/`)) {
          throw new KindlingError(
            'KINDLING_FORBIDDEN',
            `repository ${name} does not belong to tenant ${principal.tenant}`,
          );
        }
      },
    });
  });

  return app;
}
