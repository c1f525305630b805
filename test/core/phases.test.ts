/** Phase bookkeeping: rounding every phase, and the Server-Timing header built from them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyPhases, PHASES, roundMs, roundPhases, serverTiming } from '../../src/core/phases.js';

describe('phases', () => {
  it('roundPhases rounds every phase to microseconds, as roundMs does', () => {
    const phases = emptyPhases();
    PHASES.forEach((p, i) => (phases[p] = i + 0.123456789));
    const expected = Object.fromEntries(PHASES.map((p) => [p, roundMs(phases[p])]));
    roundPhases(phases);
    assert.deepEqual(phases, expected);
  });

  it('serverTiming names every phase in order, the start path on sandbox, and the total', () => {
    const phases = emptyPhases();
    phases.queue = 0.0814;
    phases.exec = 0.2;
    assert.equal(
      serverTiming(phases, 0.3519, 'stem-cell'),
      'queue;dur=0.081, place;dur=0, fetch;dur=0, sandbox;dur=0;desc="stem-cell", runtime;dur=0, init;dur=0, exec;dur=0.2, total;dur=0.352',
    );
  });

  it('serverTiming lists exactly the phases of PHASES, in that order, without a total when none is given', () => {
    const phases = emptyPhases();
    PHASES.forEach((p, i) => (phases[p] = i + 1));
    assert.equal(serverTiming(phases), PHASES.map((p, i) => `${p};dur=${i + 1}`).join(', '));
  });
});
