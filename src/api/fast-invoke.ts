/**
 * The hottest route without fastify's per-request machinery: a sync invoke,
 * `POST /v1/functions/NAME/invoke` with no query string and a `Content-Length` body within the payload
 * limit, is answered straight from node's `request` event. Routing, the request and reply objects, the
 * hooks and the body parser that fastify runs for it cost a measurable share of a warm invocation.
 *
 * Everything else goes to fastify, whose route answers it through the same `invokeSync`: query strings
 * (qualifiers, tenants, async mode, placement), chunked or oversized bodies (413 comes from there),
 * absolute-form URLs, and every request while the server is closing or while request logging (level
 * info or below) is on. Authentication, error bodies, status codes and metrics are the same code as
 * the fastify path's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate } from './auth.js';
import type { ApiContext } from './context.js';
import { invokeSync } from './invoke-routes.js';

/** A valid function name in an invoke path; anything else (escapes, bad names) is fastify's to answer. */
const INVOKE_PATH = /^\/v1\/functions\/([a-z][a-z0-9-]{0,62})\/invoke$/;

export interface FastInvokeOptions {
  /** True once the server is closing: fastify then answers (503 while it drains). */
  closing(): boolean;
  /** True when request logging is on (fastify logs each request at level info). */
  logsRequests(): boolean;
  /** Writes an error response as the gateway's error handler does (translation, metrics, logging). */
  answerError(err: unknown, res: ServerResponse): void;
}

/**
 * Returns a `request` listener front: it answers the requests it can and returns true, or returns
 * false (having touched nothing) for fastify to handle the request.
 */
export function createFastInvoke(
  ctx: ApiContext,
  opts: FastInvokeOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const limit = ctx.payloadLimitBytes;
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const m = INVOKE_PATH.exec(req.url ?? '');
    if (!m || m[1]!.endsWith('-')) return false;
    const length = Number(req.headers['content-length']);
    // No length (a chunked body, or none) or over the limit: fastify's body handling decides.
    if (req.headers['transfer-encoding'] !== undefined || !(length <= limit)) return false;
    if (opts.closing() || opts.logsRequests()) return false;
    const receivedAt = performance.now();
    const name = m[1]!;
    let tenant: string;
    try {
      tenant = authenticate(ctx.tenants, req.headers).tenant;
    } catch (err) {
      // As fastify's onRequest hook: refused before the body is read (node discards the rest).
      opts.answerError(err, res);
      return true;
    }
    // Bytes, decoded once at the end (a body usually arrives in one chunk; a character split across
    // chunks is whole again after the concat).
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
      invokeSync(ctx, { tenant, name, body, receivedAt }).then(
        (answer) => {
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        },
        (err: unknown) => opts.answerError(err, res),
      );
    });
    return true;
  };
}
