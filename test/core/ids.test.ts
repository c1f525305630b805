/** Invocation ids: RFC 9562 UUIDv7, time-ordered, random where they are not time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidv7 } from '../../src/core/ids.js';

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the UUIDv7 layout: version 7, variant 10, the milliseconds in the first 48 bits', () => {
    for (const now of [0, 1, 0xff, 0x1_0000_0000, 1_764_800_000_123, 2 ** 48 - 1, Date.now()]) {
      const id = uuidv7(now);
      assert.match(id, FORMAT);
      assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now);
    }
  });

  it('is unique and sorts by time across many ids (the random pool refills on the way)', () => {
    const ids: string[] = [];
    const t0 = 1_764_800_000_000;
    for (let i = 0; i < 5000; i++) ids.push(uuidv7(t0 + Math.floor(i / 10)));
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 10; i < ids.length; i += 10) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
  });

  it('spreads its random bits: every hex digit shows up in every random position', () => {
    const seen = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) {
      const id = uuidv7(0);
      for (let p = 0; p < 36; p++) seen[p]!.add(id[p]!);
    }
    for (const p of [15, 16, 17, 20, 21, 22, 24, 30, 35]) assert.equal(seen[p]!.size, 16, `position ${p}`);
    assert.equal(seen[19]!.size, 4); // the variant digit: 8, 9, a or b
  });
});
