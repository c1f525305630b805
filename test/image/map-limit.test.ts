import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapAsReady } from '../../src/image/map-limit.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('mapAsReady', () => {
  it('runs items in the order they become ready, at most `limit` at once', async () => {
    const ready = [0, 1, 2, 3, 4, 5].map(() => deferred());
    const started: number[] = [];
    let running = 0;
    let most = 0;
    const finish = new Map<number, () => void>();
    const all = mapAsReady(
      [0, 1, 2, 3, 4, 5],
      2,
      (i) => ready[i]!.promise,
      async (i) => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise<void>((r) => finish.set(i, r));
        running--;
      },
    );
    for (const i of [5, 3, 4, 0, 2, 1]) ready[i]!.resolve();
    await turn();
    assert.deepEqual(started, [5, 3], 'the first two ready, and no more than two');
    for (const i of [5, 3, 4, 0, 2, 1]) {
      await turn();
      finish.get(i)?.();
      await turn();
    }
    await all;
    assert.deepEqual(started, [5, 3, 4, 0, 2, 1]);
    assert.equal(most, 2);
  });

  it('rejects with the first failure, of readiness or of the work, and starts nothing after it', async () => {
    const boom = new Error('boom');
    await assert.rejects(
      mapAsReady(
        [1, 2],
        4,
        (i) => (i === 2 ? Promise.reject(boom) : Promise.resolve()),
        async () => {},
      ),
      (err) => err === boom,
    );
    const started: number[] = [];
    await assert.rejects(
      mapAsReady(
        [1, 2, 3],
        1,
        () => Promise.resolve(),
        async (i) => {
          started.push(i);
          if (i === 1) throw boom;
        },
      ),
      (err) => err === boom,
    );
    assert.deepEqual(started, [1]);
  });

  it('finishes at once with nothing to do', async () => {
    await mapAsReady(
      [],
      3,
      () => Promise.resolve(),
      async () => assert.fail('no work'),
    );
  });
});
