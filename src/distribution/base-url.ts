/**
 * Checks a base URL given in configuration (a registry, a peer, the control plane) once, with the
 * option named in the error, and returns it without a trailing slash.
 */
import { KindlingError } from '../core/errors.js';

/** Rejects with KINDLING_INVALID_CONFIG unless `value` is an http(s) URL; `what` names the option. */
export function parseBaseUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `${what} ${JSON.stringify(value)} is not a URL; use e.g. http://127.0.0.1:7070`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KindlingError('KINDLING_INVALID_CONFIG', `${what} ${value} must use http: or https:`);
  }
  return url.href.replace(/\/+$/, '');
}
