import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotVerdicts } from '../../src/sandbox/process/snapshot-verdicts.js';

describe('snapshot verdicts', () => {
  it('judges only after enough starts from the snapshot and at least one without it', () => {
    const v = new SnapshotVerdicts(3);
    v.record('a', true, 150);
    v.record('a', true, 160);
    v.record('a', true, 155);
    assert.equal(v.loss('a'), undefined, 'nothing to compare with');
    v.record('a', false, 90);
    assert.deepEqual(v.loss('a'), { snapshotMs: 155, withoutMs: 90, samples: 3 });
    const b = new SnapshotVerdicts(3);
    b.record('b', false, 90);
    b.record('b', true, 150);
    b.record('b', true, 150);
    assert.equal(b.loss('b'), undefined, 'two starts are not enough');
  });

  it('keeps a snapshot that is cheaper by the medians, whatever one outlier says', () => {
    const v = new SnapshotVerdicts(3);
    for (const ms of [300, 310, 305]) v.record('slow-init', false, ms);
    for (const ms of [40, 2500, 45]) v.record('slow-init', true, ms);
    assert.equal(v.loss('slow-init'), undefined);
  });

  it('remembers the last eight starts of each kind, per entry, until forgotten', () => {
    const v = new SnapshotVerdicts(3);
    for (let i = 0; i < 8; i++) v.record('e', true, 500);
    for (let i = 0; i < 8; i++) v.record('e', true, 50);
    v.record('e', false, 100);
    assert.equal(v.loss('e'), undefined, 'the old slow starts have left the window');
    v.record('other', true, 1);
    v.forget('e');
    assert.equal(v.loss('e'), undefined);
    v.record('n', true, 100);
    v.record('n', true, 100);
    v.record('n', true, Number.NaN);
    v.record('n', true, -1);
    v.record('n', false, 50);
    assert.equal(v.loss('n'), undefined, 'costs that are not durations do not count as starts');
    v.record('n', true, 100);
    assert.deepEqual(v.loss('n'), { snapshotMs: 100, withoutMs: 50, samples: 3 });
  });
});
