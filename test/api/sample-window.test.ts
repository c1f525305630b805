/** The live feed's sample window: a ring of typed arrays that hands samples back oldest first. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SampleWindow, type WindowSample } from '../../src/api/sample-window.js';

function all(w: SampleWindow): WindowSample[] {
  const out: WindowSample[] = [];
  w.forEach((s) => out.push({ ...s }));
  return out;
}

describe('sample window', () => {
  it('hands back what was pushed, oldest first, with its tenant/function key', () => {
    const w = new SampleWindow(4);
    w.push('t1', 'f', 10, 1.5, true, false);
    w.push('t2', 'f', 11, 2.5, false, true);
    w.push('t1', 'g', 12, 3.5, true, true);
    assert.equal(w.length, 3);
    assert.equal(w.atOf(0), 10);
    assert.equal(w.atOf(2), 12);
    assert.deepEqual(all(w), [
      { tenant: 't1', key: 't1/f', totalMs: 1.5, cold: true, error: false },
      { tenant: 't2', key: 't2/f', totalMs: 2.5, cold: false, error: true },
      { tenant: 't1', key: 't1/g', totalMs: 3.5, cold: true, error: true },
    ]);
  });

  it('wraps around: dropping the oldest makes room, and order is kept across the wrap', () => {
    const w = new SampleWindow(3);
    for (let i = 0; i < 3; i++) w.push('t', 'f', i, i, false, false);
    assert.throws(() => w.push('t', 'f', 3, 3, false, false), RangeError);
    w.dropOldest(2);
    w.push('t', 'f', 3, 3, false, false);
    w.push('t', 'f', 4, 4, false, false);
    assert.deepEqual(
      all(w).map((s) => s.totalMs),
      [2, 3, 4],
    );
    assert.deepEqual([w.atOf(0), w.atOf(1), w.atOf(2)], [2, 3, 4]);
    w.dropOldest(10);
    assert.equal(w.length, 0);
    assert.deepEqual(all(w), []);
  });

  it('keeps naming functions right when more functions pass through than the window holds', () => {
    const w = new SampleWindow(3);
    for (let i = 0; i < 20; i++) {
      if (w.length === 3) w.dropOldest(1);
      w.push(`t${i % 2}`, `f${i}`, i, i, false, false);
    }
    assert.deepEqual(
      all(w).map((s) => s.key),
      ['t1/f17', 't0/f18', 't1/f19'],
    );
  });
});
