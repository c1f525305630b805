/** Identifiers. */
import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits. Time-ordered ids keep inserts at the
 * right edge of SQLite's primary-key index (random v4 ids land all over it, which costs on every
 * invocation record) and sort invocations by time for free.
 */
export function uuidv7(now: number = Date.now()): string {
  const ts = now.toString(16).padStart(12, '0');
  const r = randomUUID();
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${r.slice(15, 18)}-${r.slice(19)}`;
}
