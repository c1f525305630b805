/**
 * Limits of the API's list endpoints, in a module that imports nothing, so the CLI checks its flags
 * against the same numbers the server enforces.
 */

/** The most invocations `GET /v1/functions/:name/invocations?limit=` lists at once. */
export const MAX_INVOCATION_LIST = 1000;
