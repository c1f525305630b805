/** The process tier's per-instance deadline queue: every entry expires at its own deadline, on one timer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { DeadlineQueue, type DeadlineEntry } from '../../src/sandbox/process/deadline-queue.js';

/** An entry that records when it expired. */
function entry(name: string, expired: string[], clock: ManualClock, at: Map<string, number>): DeadlineEntry {
  return {
    deadline: 0,
    prevDeadline: undefined,
    nextDeadline: undefined,
    expire: () => {
      expired.push(name);
      at.set(name, clock.monotonic());
    },
  };
}

describe('deadline queue', () => {
  it('expires each entry exactly at its deadline, in deadline order, whatever the order of adding', () => {
    const clock = new ManualClock(1000);
    const q = new DeadlineQueue(clock);
    const expired: string[] = [];
    const at = new Map<string, number>();
    q.add(entry('a', expired, clock, at), 100); // due 1100
    clock.advance(10);
    q.add(entry('b', expired, clock, at), 100); // due 1110
    q.add(entry('c', expired, clock, at), 30); // due 1040: before both
    q.add(entry('d', expired, clock, at), 95); // due 1105: between a and b
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
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const expired: string[] = [];
    const at = new Map<string, number>();
    const es = ['a', 'b', 'c', 'd', 'e'].map((n) => entry(n, expired, clock, at));
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

  it('re-arms for the next entry when the head finished before its deadline', () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const expired: string[] = [];
    const at = new Map<string, number>();
    const first = entry('first', expired, clock, at);
    q.add(first, 100);
    clock.advance(60);
    q.add(entry('second', expired, clock, at), 100); // due 160
    q.remove(first);
    clock.advance(50); // t=110: the timer armed for `first` fires for nothing
    assert.deepEqual(expired, []);
    clock.advance(50);
    assert.deepEqual(expired, ['second']);
    assert.equal(at.get('second'), 160);
  });

  it('an emptied queue still times the next entry from when that entry is added', () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const expired: string[] = [];
    const at = new Map<string, number>();
    const a = entry('a', expired, clock, at);
    q.add(a, 100);
    q.remove(a);
    clock.advance(30);
    q.add(entry('b', expired, clock, at), 10); // due 40, earlier than the timer still armed for 100
    clock.advance(200);
    assert.deepEqual(expired, ['b']);
    assert.equal(at.get('b'), 40);
  });

  it('an entry may be added again after it expired or was removed, and clear() drops everything', () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const expired: string[] = [];
    const at = new Map<string, number>();
    const a = entry('a', expired, clock, at);
    q.add(a, 10);
    clock.advance(10);
    q.add(a, 10);
    clock.advance(10);
    assert.deepEqual(expired, ['a', 'a']);
    q.add(a, 10);
    q.add(entry('b', expired, clock, at), 20);
    q.clear();
    assert.equal(q.size, 0);
    assert.equal(clock.pending, 0);
    clock.advance(100);
    assert.deepEqual(expired, ['a', 'a']);
  });

  it('an expiry callback may add and remove entries', () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const expired: string[] = [];
    const at = new Map<string, number>();
    const later = entry('later', expired, clock, at);
    const a: DeadlineEntry = {
      ...entry('a', expired, clock, at),
      expire: () => {
        expired.push('a');
        q.remove(later);
        q.add(entry('added', expired, clock, at), 5);
      },
    };
    q.add(a, 10);
    q.add(later, 10);
    clock.advance(100);
    assert.deepEqual(expired, ['a', 'added']);
    assert.equal(at.get('added'), 15);
  });
});
