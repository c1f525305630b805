/**
 * The pluggable bearer-token check of the distribution endpoints (peer blobs, the control plane's
 * distribution routes). Constant-time comparison, so the token cannot be guessed byte by byte.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { KindlingError } from '../core/errors.js';

/** Throws KINDLING_UNAUTHORIZED unless the request carries `Authorization: Bearer <token>`. */
export function checkBearer(request: FastifyRequest, token: string): void {
  const header = request.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const given = Buffer.from(m?.[1] ?? '');
  const want = Buffer.from(token);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new KindlingError(
      'KINDLING_UNAUTHORIZED',
      m ? 'the bearer token is not the cluster token' : 'send "Authorization: Bearer <cluster token>"',
    );
  }
}
