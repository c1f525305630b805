/**
 * HTTP triggers: `ANY /fn/{name}/*` hands the function a request-like event and maps its return value
 * to an HTTP response, in the shape AWS Lambda's function URLs use (so handlers move unchanged).
 */
import { uuidv7 } from '../core/ids.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { assertFunctionName } from '../control/names.js';
import { tenantOf } from './auth.js';
import type { ApiContext } from './context.js';
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

/** Headers never handed to user code: they carry the platform's own credentials. */
const HIDDEN_HEADERS = new Set(['authorization', 'x-api-key', 'cookie']);

function toEvent(request: FastifyRequest, path: string, id: string, now: number): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers)) {
    if (v === undefined || HIDDEN_HEADERS.has(k)) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.query as Record<string, string | string[]>)) {
    if (k === 'tenant') continue;
    query[k] = Array.isArray(v) ? v.join(',') : v;
  }
  const raw = request.body instanceof Buffer && request.body.length > 0 ? request.body : undefined;
  const textual = TEXTUAL.test(headers['content-type'] ?? 'text/plain');
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

/** Maps a handler's return value to an HTTP response. */
export function sendHandlerResult(reply: FastifyReply, result: unknown): string | Buffer {
  if (result === null || result === undefined) {
    reply.code(204);
    return '';
  }
  if (typeof result === 'string') {
    reply.type('text/plain; charset=utf-8');
    return result;
  }
  if (typeof result === 'object' && typeof (result as { statusCode?: unknown }).statusCode === 'number') {
    const r = result as {
      statusCode: number;
      headers?: Record<string, unknown>;
      body?: unknown;
      isBase64Encoded?: boolean;
    };
    reply.code(r.statusCode >= 100 && r.statusCode <= 599 ? r.statusCode : 502);
    for (const [k, v] of Object.entries(r.headers ?? {}))
      if (v !== undefined && v !== null) reply.header(k, String(v));
    if (r.body === undefined || r.body === null) return '';
    if (typeof r.body === 'string') {
      if (r.isBase64Encoded) return Buffer.from(r.body, 'base64');
      if (!reply.hasHeader('content-type')) reply.type('text/plain; charset=utf-8');
      return r.body;
    }
    if (!reply.hasHeader('content-type')) reply.type('application/json; charset=utf-8');
    return JSON.stringify(r.body);
  }
  reply.type('application/json; charset=utf-8');
  return JSON.stringify(result);
}

export async function httpTriggerRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.payloadLimitBytes }, (_req, body, done) =>
    done(null, body),
  );

  const handle = async (
    request: FastifyRequest<{ Params: { name: string; '*'?: string } }>,
    reply: FastifyReply,
  ) => {
    const { name } = request.params;
    assertFunctionName(name);
    const tenant = tenantOf(request);
    const version = ctx.functions.resolve(tenant, name);
    const id = uuidv7();
    const createdAt = ctx.clock.now();
    const event = toEvent(request, `/${request.params['*'] ?? ''}`, id, createdAt);
    const res = await executeAndRecord(ctx, request.receivedAt, {
      id,
      version,
      event,
      mode: 'http',
      createdAt,
    });
    reply.headers(explainHeaders(id, version.version, res));
    if (res.error) {
      reply.code(res.error.status).type('application/json; charset=utf-8');
      return JSON.stringify({ ...res.error.toJSON(), invocationId: id });
    }
    return sendHandlerResult(reply, res.result);
  };
  app.all('/fn/:name', handle);
  app.all('/fn/:name/*', handle);
}
