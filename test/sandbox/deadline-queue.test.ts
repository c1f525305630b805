/** The process tier's per-instance deadline queue: every entry expires at its own deadline, on one timer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { DeadlineQueue, type DeadlineEntry } from '../../src/sandbox/process/deadline-queue.js';

/** A queue on a manual clock, and entries that record when they expired. */
function setup(start = 0) {
  const clock = new ManualClock(start);
  const q = new DeadlineQueue(clock);
  const expired: string[] = [];
  const at = new Map<string, number>();
  const entry = (name: string): DeadlineEntry => ({
    deadline: 0,
    prevDeadline: undefined,
    nextDeadline: undefined,
    expire: () => {
      expired.push(name);
      at.set(name, clock.monotonic());
    },
  });
  return { clock, q, expired, at, entry };
}

describe('deadline queue', () => {
  it('expires each entry exactly at its deadline, in deadline order, whatever the order of adding', () => {
    const { clock, q, expired, at, entry } = setup(1000);
    q.add(entry('a'), 100); // due 1100
    clock.advance(10);
    q.add(entry('b'), 100); // due 1110
    q.add(entry('c'), 30); // due 1040: before both
    q.add(entry('d'), 95); // due 1105: between a and b
    assert.equal(q.size, 4);
    clock.advance(1000);
    assert.deepEqual(expired, ['c', 'a', 'd', 'b']);
    assert.deepEqual(
      [...at],
      [
        ['c', 1040],
        ['a', 1100],
        ['d', 1105],
        ['b', 1110],
      ],
    );
    assert.equal(q.size, 0);
  });

  it('never expires a removed entry, at the head, in the middle or at the tail', () => {
    const { clock, q, expired, entry } = setup();
    const es = ['a', 'b', 'c', 'd', 'e'].map((n) => entry(n));
    for (const e of es) q.add(e, 50);
    q.remove(es[0]!);
    q.remove(es[2]!);
    q.remove(es[4]!);
    q.remove(es[4]!); // twice: a no-op
    assert.equal(q.size, 2);
    clock.advance(49);
    assert.deepEqual(expired, []);
    clock.advance(1);
    assert.deepEqual(expired, ['b', 'd']);
  });

  it('keeps its one timer on the earliest deadline as entries come and go', () => {
    const { clock, q, expired, at, entry } = setup();
    const first = entry('first');
    q.add(first, 100); // due 100
    clock.advance(30);
    q.remove(first); // the queue is empty; the timer stays armed for 100
    q.add(entry('early'), 10); // due 40: the timer moves earlier
    const head = entry('head');
    q.add(head, 50); // due 80
    q.add(entry('next'), 100); // due 130
    clock.advance(20); // t=50, after 'early' expired
    q.remove(head); // the timer re-armed for 80 fires for nothing, then re-arms for 130
    clock.advance(200);
    assert.deepEqual(expired, ['early', 'next']);
    assert.deepEqual([at.get('early'), at.get('next')], [40, 130]);
    assert.equal(clock.pending, 0);
  });

  it('an entry may be added again after it expired or was removed, and clear() drops everything', () => {
    const { clock, q, expired, entry } = setup();
    const a = entry('a');
    q.add(a, 10);
    clock.advance(10);
    q.add(a, 10);
    clock.advance(10);
    assert.deepEqual(expired, ['a', 'a']);
    q.add(a, 10);
    q.add(entry('b'), 20);
    q.clear();
    assert.equal(q.size, 0);
    assert.equal(clock.pending, 0);
    clock.advance(100);
    assert.deepEqual(expired, ['a', 'a']);
  });

  it('an expiry callback may add and remove entries', () => {
    const { clock, q, expired, at, entry } = setup();
    const later = entry('later');
    const a: DeadlineEntry = {
      ...entry('a'),
      expire: () => {
        expired.push('a');
        q.remove(later);
        q.add(entry('added'), 5);
      },
    };
    q.add(a, 10);
    q.add(later, 10);
    clock.advance(100);
    assert.deepEqual(expired, ['a', 'added']);
    assert.equal(at.get('added'), 15);
  });
});
