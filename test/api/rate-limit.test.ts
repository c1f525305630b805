import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from '../../src/api/rate-limit.js';
import { ManualClock } from '../../src/core/clock.js';

describe('RateLimiter', () => {
  it('lets a burst of one second through, then one per 1/rate s, and says how long to wait', () => {
    const clock = new ManualClock(0);
    const limiter = new RateLimiter(clock);
    const took = Array.from({ length: 6 }, () => limiter.take('f', 5));
    assert.deepEqual(took, [0, 0, 0, 0, 0, 1]);
    clock.advance(199);
    assert.equal(limiter.take('f', 5), 1);
    clock.advance(201); // 400 ms after the burst: two more tokens (one spent refused nothing)
    assert.deepEqual([limiter.take('f', 5), limiter.take('f', 5), limiter.take('f', 5)], [0, 0, 1]);
    assert.equal(limiter.take('other', 5), 0, 'each key has its own bucket');
    // Below one per second the wait is longer than a second.
    const slow = new RateLimiter(clock);
    assert.equal(slow.take('s', 0.25), 0);
    assert.equal(slow.take('s', 0.25), 4);
  });
});
