import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { GreedyDualCache } from '../../src/policy/greedy-dual.js';

const order = (c: GreedyDualCache) => c.entries().map((e) => [e.id, e.priority, e.busy]);

describe('greedy-dual warm cache (FaasCache)', () => {
  it('evicts in the hand-computed order and inflates the clock', () => {
    const c = new GreedyDualCache(1000);
    // priority = clock + frequency × cost / memory, clock starting at 0.
    c.add({ id: 'A', fnKey: 'a', memoryMb: 400, coldStartMs: 800 }); // 0 + 1·800/400 = 2
    c.release('A');
    c.add({ id: 'B', fnKey: 'b', memoryMb: 200, coldStartMs: 100 }); // 0.5
    c.release('B');
    c.add({ id: 'C', fnKey: 'c', memoryMb: 300, coldStartMs: 1200 }); // 4
    c.release('C');
    c.hit('A'); // frequency 2: 2·800/400 = 4, ties with C but used later
    c.release('A');
    assert.deepEqual(order(c), [
      ['B', 0.5, false],
      ['C', 4, false],
      ['A', 4, false],
    ]);
    assert.equal(c.usedMb, 900);
    assert.deepEqual(c.victims(100), []);
    assert.deepEqual(c.victims(250), ['B']);
    c.evict('B');
    assert.equal(c.clock, 0.5);
    assert.equal(c.frequencyOf('b'), 0);

    c.add({ id: 'D', fnKey: 'd', memoryMb: 250, coldStartMs: 250 }); // 0.5 + 1 = 1.5
    c.release('D');
    assert.deepEqual(c.victims(400), ['D', 'C']);
    c.hit('C'); // 0.5 + 2·1200/300 = 8.5, and busy: never a victim
    assert.deepEqual(c.victims(400), ['D', 'A']);
    assert.equal(c.victims(2000), undefined);
    c.evict('D');
    assert.equal(c.clock, 1.5);
    c.release('C');
    assert.deepEqual(order(c), [
      ['A', 4, false],
      ['C', 8.5, false],
    ]);
  });

  it('does not inflate the clock when an instance crashes, and resets frequency with the last instance', () => {
    const c = new GreedyDualCache(1000);
    c.add({ id: 'x1', fnKey: 'x', memoryMb: 100, coldStartMs: 1000 }); // 10
    c.add({ id: 'x2', fnKey: 'x', memoryMb: 100, coldStartMs: 1000 }); // frequency 2: 20
    assert.equal(c.frequencyOf('x'), 2);
    c.remove('x2');
    assert.equal(c.clock, 0);
    assert.equal(c.frequencyOf('x'), 2);
    c.remove('x1');
    assert.equal(c.frequencyOf('x'), 0);
    assert.equal(c.usedMb, 0);
  });

  it('rejects bad input with clear errors', () => {
    const isCode = (code: string) => (err: unknown) => KindlingError.is(err) && err.code === code;
    assert.throws(() => new GreedyDualCache(0), isCode('KINDLING_INVALID_CONFIG'));
    const c = new GreedyDualCache(100);
    c.add({ id: 'a', fnKey: 'f', memoryMb: 10, coldStartMs: 1 });
    assert.throws(
      () => c.add({ id: 'a', fnKey: 'f', memoryMb: 10, coldStartMs: 1 }),
      /already in the warm cache/,
    );
    assert.throws(() => c.hit('a'), /busy/);
    assert.throws(() => c.evict('nope'), isCode('KINDLING_BAD_REQUEST'));
    assert.throws(() => c.add({ id: 'b', fnKey: 'f', memoryMb: 0, coldStartMs: 1 }), /memoryMb > 0/);
  });
});
