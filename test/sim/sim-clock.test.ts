import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventQueue } from '../../src/sim/event-queue.js';
import { SimHost } from '../../src/sim/host.js';
import { SimClock } from '../../src/sim/sim-clock.js';
import { KindlingError } from '../../src/core/errors.js';

describe('event queue', () => {
  it('pops in time order, first-scheduled first at equal times, skipping cancelled events', () => {
    const q = new EventQueue();
    const out: string[] = [];
    const mk = (s: string) => () => out.push(s);
    q.push(5, mk('a'));
    q.push(1, mk('b'));
    const c = q.push(3, mk('c'));
    q.push(3, mk('d'));
    q.push(1, mk('e'));
    q.cancel(c);
    assert.equal(q.size, 4);
    for (let ev = q.pop(); ev; ev = q.pop()) ev.fn();
    assert.deepEqual(out, ['b', 'e', 'd', 'a']);
    assert.equal(q.size, 0);
  });

  it('stays ordered under many random pushes', () => {
    const q = new EventQueue();
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5000; i++) q.push(Math.floor(rnd() * 1000), () => {});
    let last = -1;
    for (let ev = q.pop(); ev; ev = q.pop()) {
      assert.ok(ev.at >= last);
      last = ev.at;
    }
  });
});

describe('SimClock', () => {
  it('implements Clock on virtual time: timers fire in order, can be cleared, and can schedule more', () => {
    const clock = new SimClock(100);
    const seen: [string, number][] = [];
    clock.setTimer(() => {
      seen.push(['a', clock.now()]);
      clock.setTimer(() => seen.push(['c', clock.now()]), 10);
    }, 5);
    const b = clock.setTimer(() => seen.push(['b', clock.now()]), 7);
    clock.clearTimer(b);
    assert.equal(clock.run(), 2);
    assert.deepEqual(seen, [
      ['a', 105],
      ['c', 115],
    ]);
    assert.equal(clock.monotonic(), 115);
  });

  it('run(until) stops before later events and leaves the clock at until', () => {
    const clock = new SimClock();
    let fired = 0;
    clock.setTimer(() => fired++, 50);
    clock.run(20);
    assert.equal(fired, 0);
    assert.equal(clock.now(), 20);
    assert.equal(clock.pending, 1);
    clock.run(50);
    assert.equal(fired, 1);
  });
});

describe('SimHost', () => {
  it('accounts memory and peak, and refuses to free more than it holds', () => {
    const h = new SimHost({ id: 'h', memoryMb: 1000 });
    assert.equal(h.fits(600), true);
    h.allocate(600);
    assert.equal(h.fits(600), false);
    h.allocate(600);
    h.free(700);
    assert.equal(h.usedMb, 500);
    assert.equal(h.peakMb, 1200);
    assert.throws(
      () => h.free(600),
      (e) => KindlingError.is(e) && e.code === 'KINDLING_INTERNAL',
    );
    assert.throws(
      () => new SimHost({ id: 'x', memoryMb: 0 }),
      (e) => KindlingError.is(e),
    );
  });
});
