/**
 * The gateway: one fastify server with the REST API (`/v1`), HTTP triggers (`/fn`), the OCI registry
 * API (`/v2`), health and metrics. Every error leaves as `{ "error": { code, message } }` with the
 * status its code maps to.
 */
import { createServer } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { systemClock } from '../core/clock.js';
import { KindlingError, toKindlingError, type ErrorCode } from '../core/errors.js';
import { RequesterTurns } from '../distribution/requester-turns.js';
import { UploadPriority } from '../distribution/upload-priority.js';
import { ociRoutes } from './oci.js';
import { adminRoutes, publicRoutes } from './admin-routes.js';
import { principalOf, requireKey } from './auth.js';
import type { ApiContext } from './context.js';
import { createFastInvoke } from './fast-invoke.js';
import { functionRoutes } from './function-routes.js';
import { httpTriggerRoutes, publicHttpTriggerRoutes } from './http-trigger.js';
import { invokeRoutes } from './invoke-routes.js';
import { RouteMethods } from './route-methods.js';
import { invalidJson, useJsonBodyParser } from './json-body.js';
import { uiRoutes } from './ui-routes.js';

/** fastify's own error codes, translated into Kindling's. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'KINDLING_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'KINDLING_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'KINDLING_BAD_REQUEST',
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
  // fastify's own JSON parser is replaced (json-body.ts); this covers any other parser that throws one.
  if (err instanceof SyntaxError) return invalidJson(err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
    return new KindlingError('KINDLING_BAD_REQUEST', err.message);
  return toKindlingError(err);
}

/** Log levels at which fastify logs every request (the fast path then leaves requests to it). */
const VERBOSE_LEVELS = new Set(['info', 'debug', 'trace']);

/** The server settings fastify applies to the HTTP server it creates. */
interface ServerTimeouts {
  keepAliveTimeout: number;
  requestTimeout: number;
  connectionTimeout: number;
  maxRequestsPerSocket: number;
}

export interface ApiServerOptions {
  /** fastify logger setting; false in tests. */
  logger: boolean | { level: string };
  /** More routes that need an API key (cluster mode's worker API, say). */
  routes?: ((scope: FastifyInstance) => Promise<void>)[];
}

/** Builds the gateway (not yet listening). */
export async function createApiServer(ctx: ApiContext, options: ApiServerOptions): Promise<FastifyInstance> {
  let closing = false;
  const app = Fastify({
    logger: options.logger,
    bodyLimit: ctx.payloadLimitBytes,
    // Invocation ids are ours; fastify's request ids only label its own log lines.
    genReqId: () => '',
    // The server fastify would make, with the sync-invoke fast path in front of its router.
    serverFactory: (handler, opts) => {
      const server = createServer((req, res) => {
        if (!fastInvoke(req, res)) handler(req, res);
      });
      // As fastify sets up the server it makes itself (the options arrive with its defaults filled in).
      const o = opts as unknown as ServerTimeouts;
      server.keepAliveTimeout = o.keepAliveTimeout;
      server.requestTimeout = o.requestTimeout;
      server.setTimeout(o.connectionTimeout);
      if (o.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = o.maxRequestsPerSocket;
      return server;
    },
  });
  /** An error as the gateway answers it: translated, counted (4xx) or logged (5xx). */
  const toErrorReply = (err: FastifyError, log: FastifyBaseLogger): KindlingError => {
    const error = translate(err, ctx);
    if (!error.isUserError) log.error({ err }, 'request failed');
    else ctx.metrics.observeRejected(error.code);
    return error;
  };
  const fastInvoke = createFastInvoke(ctx, {
    closing: () => closing,
    logsRequests: () => VERBOSE_LEVELS.has(app.log.level),
    answerError: (err, res) => {
      const error = toErrorReply(err as FastifyError, app.log);
      const body = JSON.stringify(error.toJSON());
      res.writeHead(error.status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
      });
      res.end(body);
    },
  });
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  app.decorateRequest('receivedAt', 0);
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', (request, _reply, done) => {
    request.receivedAt = performance.now();
    done();
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toErrorReply(err, request.log);
    void reply.code(error.status).type('application/json; charset=utf-8').send(error.toJSON());
  });
  const routeMethods = new RouteMethods();
  app.addHook('onRoute', (route) => routeMethods.add(route.method, route.url));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routeMethods.allowed(path);
    const error =
      allowed.length > 0
        ? new KindlingError(
            'KINDLING_METHOD_NOT_ALLOWED',
            `${path} does not accept ${request.method}; use ${allowed.join(', ')}`,
            { method: request.method, allowed },
          )
        : new KindlingError(
            'KINDLING_NOT_FOUND',
            `no route ${request.method} ${path}; see the API reference in the README`,
          );
    if (allowed.length > 0) void reply.header('allow', allowed.join(', '));
    void reply.code(error.status).send(error.toJSON());
  });

  useJsonBodyParser(app);
  await app.register(async (scope) => publicRoutes(scope, ctx));
  // The dashboard and its live feed (keyed routes inside, a token for the feed).
  await app.register(async (scope) => uiRoutes(scope, ctx));

  // Public functions' HTTP triggers: no key (the route itself checks that the function is public).
  await app.register(async (scope) => publicHttpTriggerRoutes(scope, ctx));

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
      // Lazy loading's background blocks go after every host's startup blocks.
      uploadPriority: new UploadPriority({ clock: systemClock }),
      // Workers started with --requester-turns get their blocks one after another.
      requesterTurns: new RequesterTurns(),
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
