/**
 * One error class for the whole platform, with stable string codes.
 *
 * User errors (4xx) are things the caller can fix; system errors (5xx) are failures of the platform
 * or of the function's code at run time. Code paths decide on `code`, never on message text.
 */

/** Every error code Kindling produces, with the HTTP status it maps to. */
export const ERROR_STATUS = {
  KINDLING_BAD_REQUEST: 400,
  KINDLING_INVALID_NAME: 400,
  KINDLING_INVALID_CONFIG: 400,
  KINDLING_INVALID_JSON: 400,
  KINDLING_BUILD_FAILED: 400,
  KINDLING_DIGEST_INVALID: 400,
  KINDLING_UNAUTHORIZED: 401,
  KINDLING_FORBIDDEN: 403,
  KINDLING_FUNCTION_NOT_FOUND: 404,
  KINDLING_VERSION_NOT_FOUND: 404,
  KINDLING_ALIAS_NOT_FOUND: 404,
  KINDLING_INVOCATION_NOT_FOUND: 404,
  KINDLING_TENANT_NOT_FOUND: 404,
  KINDLING_BLOB_UNKNOWN: 404,
  KINDLING_MANIFEST_UNKNOWN: 404,
  KINDLING_NOT_FOUND: 404,
  KINDLING_METHOD_NOT_ALLOWED: 405,
  KINDLING_CONFLICT: 409,
  KINDLING_PAYLOAD_TOO_LARGE: 413,
  KINDLING_UNSUPPORTED_MEDIA_TYPE: 415,
  KINDLING_RANGE_NOT_SATISFIABLE: 416,
  KINDLING_TOO_MANY_REQUESTS: 429,
  KINDLING_HANDLER_ERROR: 500,
  KINDLING_INTERNAL: 500,
  // The function's own code failed to load (threw, or exports no handler): found at its first start.
  KINDLING_INIT_FAILED: 502,
  KINDLING_NO_HANDLER: 502,
  KINDLING_INSTANCE_CRASHED: 502,
  KINDLING_MEMORY_LIMIT: 502,
  KINDLING_RESULT_TOO_LARGE: 502,
  KINDLING_RESULT_NOT_SERIALIZABLE: 502,
  // An HTTP trigger's response the function shaped wrong (a bad header, a status out of range).
  KINDLING_INVALID_RESPONSE: 502,
  KINDLING_BLOCK_CORRUPT: 502,
  KINDLING_UNAVAILABLE: 503,
  KINDLING_WORKER_LOST: 503,
  KINDLING_TIMEOUT: 504,
} as const;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

const KINDLING_ERROR = Symbol.for('kindling.error');

/** The one error class. `details` is JSON-safe extra information (limits, values, stack of user code). */
export class KindlingError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly [KINDLING_ERROR] = true;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KindlingError';
    this.code = code;
    this.details = details;
  }

  /** HTTP status for this error. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** True when the caller can fix the request (4xx). */
  get isUserError(): boolean {
    return this.status < 500;
  }

  /** The JSON body every API error response carries. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }

  /** Works across realms and module copies, unlike `instanceof`. */
  static is(value: unknown): value is KindlingError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[KINDLING_ERROR] === true
    );
  }

  /** Rebuilds an error from its JSON form (as sent by a worker or a sandbox). */
  static fromJSON(body: { code: string; message: string; details?: Record<string, unknown> }): KindlingError {
    const code = (body.code in ERROR_STATUS ? body.code : 'KINDLING_INTERNAL') as ErrorCode;
    return new KindlingError(code, body.message, body.details);
  }
}

/** Wraps anything thrown into a KindlingError, keeping KindlingErrors as they are. */
export function toKindlingError(err: unknown, code: ErrorCode = 'KINDLING_INTERNAL'): KindlingError {
  if (KindlingError.is(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KindlingError(code, message, undefined, { cause: err });
}
