/**
 * HTTP triggers: `ANY /fn/{name}/*` hands the function a request-like event and maps its return value
 * to an HTTP response, in the shape AWS Lambda's function URLs use (so handlers move unchanged). It
 * needs an API key. A function deployed with `public: true` also answers anyone at
 * `ANY /pub/{tenant}/{name}/*` (a function URL with auth type NONE); the headers it gets there are all
 * the caller's, since the platform takes no credentials from them, and what it answers carries none
 * of the platform's own detail (instance, host, phases, a failure's stack or stderr).
 */
import { uuidv7 } from '../core/ids.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KindlingError } from '../core/errors.js';
import type { FunctionVersion } from '../control/functions.js';
import { assertFunctionName } from '../control/names.js';
import { tenantOf } from './auth.js';
import type { ApiContext } from './context.js';
import { toHttpResponse, type HttpResponse } from './http-response.js';
import { RateLimiter } from './rate-limit.js';
import { executeAndRecord, explainHeaders } from './invoke-routes.js';

/** The event an HTTP-triggered handler receives. */
export interface HttpEvent {
  method: string;
  /** Path below `/fn/{name}`, always starting with `/`. */
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: string | null;
  isBase64Encoded: boolean;
  requestContext: { requestId: string; timeEpoch: number };
}

const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|[a-z.+-]*\+(json|xml)))/i;

/** Headers never handed to user code on a keyed trigger: they carry the platform's own credentials. */
const HIDDEN_HEADERS = new Set(['authorization', 'x-api-key', 'cookie']);

/** How a trigger route hands a request over: a keyed one withholds the key and `?tenant=`. */
interface Access {
  keyed: boolean;
}

function toEvent(request: FastifyRequest, path: string, id: string, now: number, access: Access): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers)) {
    if (v === undefined || (access.keyed && HIDDEN_HEADERS.has(k))) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.query as Record<string, string | string[]>)) {
    if (access.keyed && k === 'tenant') continue;
    query[k] = Array.isArray(v) ? v.join(',') : v;
  }
  const raw = request.body instanceof Buffer && request.body.length > 0 ? request.body : undefined;
  // Without a content type the bytes could be anything: base64 keeps them (as Lambda's function URLs).
  const textual = TEXTUAL.test(headers['content-type'] ?? '');
  return {
    method: request.method,
    path,
    headers,
    query,
    body: raw ? raw.toString(textual ? 'utf8' : 'base64') : null,
    isBase64Encoded: raw !== undefined && !textual,
    requestContext: { requestId: id, timeEpoch: now },
  };
}

/** Writes a response checked by {@link toHttpResponse} to `reply`; returns the body. */
function sendResponse(reply: FastifyReply, response: HttpResponse): string | Buffer {
  reply.code(response.status);
  for (const [name, value] of response.headers) reply.header(name, value);
  if (response.defaultType && !reply.hasHeader('content-type')) reply.type(response.defaultType);
  return response.body;
}

/** Request bodies reach the function as they came: bytes of any content type, up to the payload limit. */
function acceptRawBodies(app: FastifyInstance, ctx: ApiContext): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.payloadLimitBytes }, (_req, body, done) =>
    done(null, body),
  );
}

/** Runs `version` on the request and writes its answer (or the platform's error) to `reply`. */
async function trigger(
  ctx: ApiContext,
  request: FastifyRequest<{ Params: { '*'?: string } }>,
  reply: FastifyReply,
  version: FunctionVersion,
  access: Access,
): Promise<string | Buffer> {
  const id = uuidv7();
  const createdAt = ctx.clock.now();
  const event = toEvent(request, `/${request.params['*'] ?? ''}`, id, createdAt, access);
  // The result is shaped into a response once, inside the invoker: a result that cannot be one is
  // the function's failure, KINDLING_INVALID_RESPONSE, in its record and its metrics alike.
  let response: HttpResponse | undefined;
  const res = await executeAndRecord(ctx, request.receivedAt, {
    id,
    version,
    event,
    mode: 'http',
    createdAt,
    vetResult: (result) => {
      const shaped = toHttpResponse(result);
      if (typeof shaped !== 'string') {
        response = shaped;
        return undefined;
      }
      return new KindlingError(
        'KINDLING_INVALID_RESPONSE',
        `the function's HTTP response cannot be sent: ${shaped}`,
      );
    },
  });
  // An anonymous caller learns the invocation's id (its owner can look it up), nothing about where
  // or how it ran, and of a failure only which kind it was.
  if (access.keyed) reply.headers(explainHeaders(id, version.version, res));
  else reply.header('x-kindling-invocation-id', id);
  if (!res.error) return sendResponse(reply, response!);
  const { code, status } = res.error;
  reply.code(status).type('application/json; charset=utf-8');
  const answer = access.keyed
    ? res.error.toJSON()
    : {
        error: {
          code,
          message:
            status >= 500
              ? `the function failed (${code}); its owner can look up invocation ${id}`
              : res.error.message,
        },
      };
  return JSON.stringify({ ...answer, invocationId: id });
}

/** `ANY /fn/{name}/*`, inside the API key's tenant. */
export async function httpTriggerRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  acceptRawBodies(app, ctx);
  const handle = async (
    request: FastifyRequest<{ Params: { name: string; '*'?: string } }>,
    reply: FastifyReply,
  ) => {
    const { name } = request.params;
    assertFunctionName(name);
    const version = ctx.functions.resolve(tenantOf(request), name);
    return trigger(ctx, request, reply, version, { keyed: true });
  };
  app.all('/fn/:name', handle);
  app.all('/fn/:name/*', handle);
}

/**
 * `ANY /pub/{tenant}/{name}/*`, without a key, for functions whose latest version is `public`. A
 * tenant or function that does not exist and a function that is not public get the same 404, so the
 * route tells an anonymous caller nothing about what is deployed.
 */
export async function publicHttpTriggerRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  acceptRawBodies(app, ctx);
  const limiter = new RateLimiter(ctx.clock);
  const handle = async (
    request: FastifyRequest<{ Params: { tenant: string; name: string; '*'?: string } }>,
    reply: FastifyReply,
  ) => {
    const { tenant, name } = request.params;
    const notPublic = () =>
      new KindlingError(
        'KINDLING_FUNCTION_NOT_FOUND',
        `no public function ${JSON.stringify(name)} in tenant ${JSON.stringify(tenant)}; ` +
          'a function answers here once deployed with "public": true in its kindling.json',
      );
    let version: FunctionVersion;
    try {
      assertFunctionName(name);
      if (!ctx.tenants.exists(tenant)) throw notPublic();
      version = ctx.functions.resolve(tenant, name);
    } catch (err) {
      if (KindlingError.is(err) && err.status < 500) throw notPublic();
      throw err;
    }
    if (version.config.public !== true) throw notPublic();
    const rate = version.config.publicRateLimit;
    if (rate !== undefined) {
      const wait = limiter.take(`${tenant}/${name}`, rate);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new KindlingError(
          'KINDLING_TOO_MANY_REQUESTS',
          `this URL takes at most ${rate} request${rate === 1 ? '' : 's'} per second; retry after ${wait} s`,
          { retryAfterS: wait },
        );
      }
    }
    return trigger(ctx, request, reply, version, { keyed: false });
  };
  app.all('/pub/:tenant/:name', handle);
  app.all('/pub/:tenant/:name/*', handle);
}
