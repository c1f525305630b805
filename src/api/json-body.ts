/**
 * JSON request bodies: one parser and one error for every route, so a malformed body is always
 * KINDLING_INVALID_JSON with the parser's own account of where it broke.
 */
import type { FastifyInstance } from 'fastify';
import { KindlingError } from '../core/errors.js';

/** KINDLING_INVALID_JSON for a body that does not parse; `reason` is the JSON parser's message. */
export function invalidJson(reason: string): KindlingError {
  return new KindlingError(
    'KINDLING_INVALID_JSON',
    `the request body is not valid JSON: ${reason}; send a JSON document`,
    { reason },
  );
}

/** Why `body` was refused: JSON.parse's message, or the prototype-poisoning rule when it parses. */
function reasonOf(body: string): string {
  if (body.trim() === '') return 'the body is empty';
  try {
    JSON.parse(body);
  } catch (err) {
    return (err as Error).message;
  }
  return 'it sets "__proto__" or "constructor.prototype", which is refused';
}

/**
 * Replaces fastify's `application/json` parser (whose error names no position) with one that keeps
 * its protection against prototype poisoning and reports failures as {@link invalidJson}.
 */
export function useJsonBodyParser(app: FastifyInstance): void {
  const fastifyJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string; // parseAs: 'string'
    fastifyJson(request, text, (err, value) => {
      if (err) done(invalidJson(reasonOf(text)), undefined);
      else done(null, value);
    });
  });
}
