/**
 * HTTP `Range: bytes=...` for blob downloads, so a worker (or a peer) can fetch part of a blob.
 */
import { KindlingError } from '../core/errors.js';

/** An inclusive byte range `start..end` of a blob of `size` bytes. */
export interface ByteRange {
  start: number;
  end: number;
  size: number;
}

/**
 * Parses a Range header against a blob of `size` bytes (RFC 9110 §14): `bytes=a-b`, `bytes=a-`
 * and `bytes=-n` (the last n bytes). Returns undefined when the whole blob should be sent: no
 * header, a malformed one, or several ranges (which the RFC lets a server ignore). Rejects with
 * KINDLING_RANGE_NOT_SATISFIABLE (details.size) when the range starts past the end.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0) throw unsatisfiable(header, size);
    return { start: Math.max(0, size - n), end: size - 1, size };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Number(b);
  if (start >= size) throw unsatisfiable(header, size);
  if (end < start) return undefined;
  return { start, end: Math.min(end, size - 1), size };
}

function unsatisfiable(header: string, size: number): KindlingError {
  return new KindlingError(
    'KINDLING_RANGE_NOT_SATISFIABLE',
    `range ${JSON.stringify(header)} is outside the blob's ${size} bytes; ask for bytes 0-${Math.max(0, size - 1)} or fewer`,
    { range: header, size },
  );
}
