import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../../src/control/db.js';
import { InvocationStore } from '../../src/control/invocations.js';
import { threadSink } from '../../src/control/record-sink.js';
import type { KindlingError } from '../../src/core/errors.js';
import { emptyPhases } from '../../src/core/phases.js';
import { tempDir } from '../helpers/platform.js';

const base = (id: string, createdAt: number) => ({
  id,
  tenant: 't',
  functionName: 'f',
  version: 1,
  mode: 'sync' as const,
  createdAt,
});

describe('InvocationStore', () => {
  it('makes a batched sync record readable at once, and keeps small results only', () => {
    const store = new InvocationStore(openDatabase(':memory:'));
    const phases = { ...emptyPhases(), exec: 2 };
    store.recordSync(base('a', 1), {
      status: 'succeeded',
      result: { ok: true },
      logs: [{ t: 1, level: 'log', msg: 'hi' }],
      logsDroppedBytes: 0,
      cold: true,
      phases,
      totalMs: 3,
    });
    store.recordSync(base('b', 2), {
      status: 'succeeded',
      result: 'x'.repeat(10_000),
      logs: [],
      logsDroppedBytes: 0,
      cold: false,
      phases,
      totalMs: 3,
    });
    const a = store.get('a')!;
    assert.deepEqual(a.result, { ok: true });
    assert.equal(a.cold, true);
    assert.equal(a.logs[0]!.msg, 'hi');
    const b = store.get('b')!;
    assert.equal(b.result, undefined);
    assert.equal(b.resultBytes, 10_002);
    assert.deepEqual(
      store.recent('t', 'f', 10).map((r) => r.id),
      ['b', 'a'],
    );
  });

  it('runs the async queue in order, and requeues what was running at a crash', () => {
    const store = new InvocationStore(openDatabase(':memory:'));
    store.enqueue({
      id: 'one',
      tenant: 't',
      functionName: 'f',
      version: 1,
      payload: '{"n":1}',
      createdAt: 1,
    });
    store.enqueue({
      id: 'two',
      tenant: 't',
      functionName: 'f',
      version: 1,
      payload: '{"n":2}',
      createdAt: 2,
    });
    const first = store.claimNext(10)!;
    assert.equal(first.id, 'one');
    assert.equal(first.attempts, 1);
    assert.equal(store.get('one')!.status, 'running');
    assert.equal(store.requeueInterrupted(), 1);
    assert.equal(store.claimNext(11)!.id, 'one', 'the interrupted invocation runs again first');
    store.complete('one', { status: 'succeeded', result: 42, logs: [], logsDroppedBytes: 0 });
    assert.equal(store.get('one')!.result, 42);
    assert.equal(store.get('one')!.attempts, 2);
    assert.equal(store.claimNext(12)!.id, 'two');
    assert.equal(store.claimNext(13), undefined);
  });

  it('computes cold and warm phase percentiles', () => {
    const store = new InvocationStore(openDatabase(':memory:'));
    for (let i = 1; i <= 10; i++) {
      store.recordSync(base(`c${i}`, i), {
        status: 'succeeded',
        logs: [],
        logsDroppedBytes: 0,
        cold: i === 1,
        phases: { ...emptyPhases(), init: i === 1 ? 300 : 0, exec: i },
        totalMs: i,
      });
    }
    const s = store.stats('t', 'f');
    assert.equal(s.cold, 1);
    assert.equal(s.warm, 9);
    assert.equal(s.cold_ms.p50.init, 300);
    assert.equal(s.warm_ms.p50.exec, 6, 'nearest rank over 2..10');
    assert.equal(s.warm_ms.p99.exec, 10);
  });

  it('keeps only the newest 1000 finished records of a function', () => {
    const store = new InvocationStore(openDatabase(':memory:'));
    for (let i = 0; i < 1010; i++) {
      store.recordSync(base(`r${i}`, i), { status: 'succeeded', logs: [], logsDroppedBytes: 0 });
    }
    store.flush();
    store.prune();
    const kept = store.recent('t', 'f', 2000);
    assert.equal(kept.length, 1000);
    assert.equal(kept.at(-1)!.id, 'r10', 'the oldest ten are gone');
  });

  it('on a writer thread: a record is readable as soon as it was recorded, and pruning runs there', async () => {
    const db = openDatabase(join(tempDir(), 'k.db'));
    const errors: KindlingError[] = [];
    const store = new InvocationStore(
      db,
      threadSink(db, (e) => errors.push(e)),
    );
    const phases = { ...emptyPhases(), exec: 1 };
    for (let i = 0; i < 1010; i++) {
      store.recordSync(base(`r${i}`, i), {
        status: 'succeeded',
        result: i,
        logs: [],
        logsDroppedBytes: 0,
        cold: false,
        phases,
        totalMs: 1,
      });
      // Interleaved with reads: each read must see every record made before it, at once.
      if (i % 337 === 0) assert.equal(store.get(`r${i}`)?.result, i);
    }
    assert.equal(store.recent('t', 'f', 2000).length, 1010);
    store.prune();
    const kept = store.recent('t', 'f', 2000);
    assert.equal(kept.length, 1000);
    assert.equal(kept.at(-1)!.id, 'r10', 'the oldest ten are gone');
    store.recordSync(base('last', 2000), { status: 'failed', logs: [], logsDroppedBytes: 0 });
    await store.close();
    assert.equal(
      (db.prepare("SELECT status FROM invocations WHERE id = 'last'").get() as { status: string }).status,
      'failed',
      'close() commits what was pending',
    );
    db.close();
    assert.deepEqual(errors, []);
  });
});
