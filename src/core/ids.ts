/** Identifiers. */
import { randomFillSync } from 'node:crypto';

/** Random bytes drawn ahead in one call, as `crypto.randomUUID()` does for its own ids. */
const pool = Buffer.allocUnsafe(4096);
let poolOffset = pool.length;
/** The id's text, written as ASCII and read out as one string. */
const text = Buffer.allocUnsafe(36);
/** ASCII codes of the two hex digits of each byte value. */
const HEX_CODES = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  HEX_CODES[2 * b] = '0123456789abcdef'.charCodeAt(b >> 4);
  HEX_CODES[2 * b + 1] = '0123456789abcdef'.charCodeAt(b & 15);
}
const DASH = 0x2d;

/** Writes byte `b` as two hex digits at `at`. */
function hex(b: number, at: number): void {
  text[at] = HEX_CODES[2 * b]!;
  text[at + 1] = HEX_CODES[2 * b + 1]!;
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits. Time-ordered ids keep inserts at the
 * right edge of SQLite's primary-key index (random v4 ids land all over it, which costs on every
 * invocation record) and sort invocations by time for free. Built in a byte buffer and read out as one
 * string: one is made per invocation.
 */
export function uuidv7(now: number = Date.now()): string {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const r = poolOffset;
  poolOffset += 10;
  // 48-bit big-endian milliseconds: the high 16 bits and the low 32 bits.
  const high = Math.floor(now / 0x1_0000_0000);
  const low = now >>> 0;
  hex((high >>> 8) & 0xff, 0);
  hex(high & 0xff, 2);
  hex(low >>> 24, 4);
  hex((low >>> 16) & 0xff, 6);
  text[8] = DASH;
  hex((low >>> 8) & 0xff, 9);
  hex(low & 0xff, 11);
  text[13] = DASH;
  hex(0x70 | (pool[r]! & 0x0f), 14); // version 7
  hex(pool[r + 1]!, 16);
  text[18] = DASH;
  hex(0x80 | (pool[r + 2]! & 0x3f), 19); // variant 10
  hex(pool[r + 3]!, 21);
  text[23] = DASH;
  for (let i = 0; i < 6; i++) hex(pool[r + 4 + i]!, 24 + 2 * i);
  return text.toString('latin1', 0, 36);
}
