/** The process tier's stem-cell start path: pre-started generic runtimes specialised on demand. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { createProcessTier, defaultBaseEnv, type ProcessTier } from '../../src/sandbox/process/index.js';
import type { SandboxInstance } from '../../src/sandbox/tier.js';
import { assertResult } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

const REPORTER = `
const loadedAt = Date.now();
let calls = 0;
exports.handler = async () => ({
  pid: process.pid,
  cwd: process.cwd(),
  env: { ...process.env },
  argv: process.argv.slice(2),
  calls: ++calls,
  loadedAt,
});
`;

describe('process tier: stem cells', () => {
  const dirs = new FixtureDirs();
  let tier: ProcessTier;
  let dir: string;
  const started: SandboxInstance[] = [];

  before(async () => {
    dir = await dirs.make({ 'reporter.cjs': REPORTER });
    tier = createProcessTier({ stemCells: { perMemoryMb: 1, memoryMb: [128] } });
    await tier.stemCellsSettled();
  });
  after(async () => {
    await Promise.all(started.map((i) => i.stop()));
    await tier.close();
    await dirs.cleanup();
  });

  const start = async (overrides: Parameters<typeof specFor>[2] = {}) => {
    const instance = await tier.start(specFor(dir, 'reporter.cjs', overrides));
    started.push(instance);
    return instance;
  };
  const report = async (instance: SandboxInstance) =>
    assertResult(await instance.invoke({ requestId: `r-${Math.random()}`, event: {}, timeoutMs: 5000 })) as {
      pid: number;
      cwd: string;
      env: Record<string, string>;
      argv: string[];
    };

  it('specialises a ready stem cell: no spawn on the request path, and the function sees only its own world', async () => {
    assert.deepEqual(tier.stemCellCounts()[128], { ready: 1, booting: 0 });
    const instance = await start({ env: { SECRET: 'mine' } });
    assert.equal(instance.timings.startPath, 'stem-cell');
    assert.equal(instance.timings.sandboxMs, 0, 'the process existed before the request');
    const seen = await report(instance);
    assert.equal(seen.pid, instance.pid);
    assert.equal(seen.cwd, dir, 'the working directory is the code directory');
    assert.deepEqual(
      seen.env,
      { ...defaultBaseEnv(), SECRET: 'mine' },
      'the environment is exactly base + the function env',
    );
    assert.deepEqual(seen.argv, [], "the shim's configuration is not in argv");
  });

  it('refills the pool after a cell is taken, and never hands out a cell twice', async () => {
    await tier.stemCellsSettled();
    assert.deepEqual(tier.stemCellCounts()[128], { ready: 1, booting: 0 });
    const a = await start({ env: { WHO: 'a' } });
    await tier.stemCellsSettled();
    const b = await start({ env: { WHO: 'b' } });
    assert.equal(a.timings.startPath, 'stem-cell');
    assert.equal(b.timings.startPath, 'stem-cell');
    assert.notEqual(a.pid, b.pid);
    const [ra, rb] = [await report(a), await report(b)];
    assert.equal(ra.env.WHO, 'a');
    assert.equal(rb.env.WHO, 'b', "one function's environment never reaches another's cell");
  });

  it('starts plain when no cell of that memory size is ready, then stocks that size', async () => {
    const plain = await start({ memoryMb: 192 });
    assert.equal(plain.timings.startPath, 'plain');
    assert.ok(plain.timings.sandboxMs > 0);
    await tier.stemCellsSettled();
    assert.deepEqual(tier.stemCellCounts()[192], { ready: 1, booting: 0 });
    const stem = await start({ memoryMb: 192 });
    assert.equal(stem.timings.startPath, 'stem-cell');
    assert.equal((await report(stem)).pid, stem.pid);
  });

  it('a stem cell whose function fails to load is reported like any init failure, and nothing is left', async () => {
    const bad = await dirs.make({ 'bad.cjs': `throw new Error('no luck at load');` });
    await tier.stemCellsSettled();
    await assert.rejects(tier.start(specFor(bad, 'bad.cjs')), /no luck at load/);
  });

  it('replaces a taken cell refillDelayMs after the start, not on its request path', async () => {
    const clock = new ManualClock();
    const own = createProcessTier({
      clock,
      stemCells: { perMemoryMb: 1, memoryMb: [128], refillDelayMs: 50 },
    });
    try {
      // Cells boot in real time; the manual clock only holds the refill timer.
      for (let i = 0; i < 1000 && own.stemCellCounts()[128]?.ready !== 1; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(own.stemCellCounts()[128], { ready: 1, booting: 0 });
      const taken = await own.start(specFor(dir, 'reporter.cjs'));
      assert.equal(taken.timings.startPath, 'stem-cell');
      assert.deepEqual(own.stemCellPids(), [], 'no replacement was spawned during the start');
      assert.deepEqual(own.stemCellCounts()[128], { ready: 0, booting: 1 }, 'the refill counts as booting');
      clock.advance(49);
      assert.deepEqual(own.stemCellPids(), []);
      clock.advance(1);
      assert.equal(own.stemCellPids().length, 1, 'the replacement starts once the delay is over');
      await taken.stop();
    } finally {
      await own.close();
    }
  });

  it('rejects a negative refill delay', () => {
    assert.throws(
      () => createProcessTier({ stemCells: { perMemoryMb: 1, refillDelayMs: -1 } }),
      (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_INVALID_CONFIG',
    );
  });

  it('close() kills the idle cells and the instances', async () => {
    const own = createProcessTier({ stemCells: { perMemoryMb: 2, memoryMb: [128] } });
    await own.stemCellsSettled();
    assert.deepEqual(own.stemCellCounts()[128], { ready: 2, booting: 0 });
    const taken = await own.start(specFor(dir, 'reporter.cjs'));
    await own.stemCellsSettled();
    const idle = own.stemCellPids();
    assert.equal(idle.length, 2, 'the taken cell was replaced');
    await own.close();
    await taken.exited;
    for (let i = 0; i < 500 && idle.some((pid) => existsSync(`/proc/${pid}`)); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(
      idle.filter((pid) => existsSync(`/proc/${pid}`)),
      [],
      'no idle cell outlives close()',
    );
    assert.deepEqual(own.stemCellCounts(), {});
  });
});
