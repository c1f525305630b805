/** The process tier's snapshot start path: V8 startup snapshots taken after a function's init. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../src/core/clock.js';
import {
  createProcessTier,
  RUNTIME_SNAPSHOT_QUIET_MS,
  type ProcessTier,
} from '../../src/sandbox/process/index.js';
import type { SandboxInstance } from '../../src/sandbox/tier.js';
import { assertResult } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

// Top-level work long enough to be worth a snapshot, and a record of which process ran it.
const SLOW_INIT = `
const initPid = process.pid;
const started = Date.now();
let table = 0;
while (Date.now() - started < 60) table++;
let calls = 0;
exports.handler = async (event) => ({ initPid, pid: process.pid, table: table > 0, calls: ++calls, env: process.env.GREETING ?? null, event });
`;

describe('process tier: snapshots', () => {
  const dirs = new FixtureDirs();
  const blobs = mkdtempSync(join(tmpdir(), 'kindling-snapshots-'));
  let tier: ProcessTier;
  const started: SandboxInstance[] = [];

  before(() => {
    tier = createProcessTier({ snapshots: { dir: blobs, runtime: 'always' } });
  });
  after(async () => {
    await Promise.all(started.map((i) => i.stop()));
    await tier.close();
    await dirs.cleanup();
    rmSync(blobs, { recursive: true, force: true });
  });

  const call = async (instance: SandboxInstance, event: unknown = {}) =>
    assertResult(
      await instance.invoke({ requestId: `r-${Math.random()}`, event, timeoutMs: 5000 }),
    ) as Record<string, unknown>;

  it('restores a function initialised at snapshot time: its top-level code does not run again', async () => {
    const dir = await dirs.make({ 'index.cjs': SLOW_INIT });
    const spec = () => specFor(dir, 'index.cjs', { env: { GREETING: 'hej' } });
    const first = await tier.start(spec());
    started.push(first);
    assert.equal(first.timings.startPath, 'plain');
    const plain = await call(first);
    assert.equal(plain.initPid, first.pid, 'a plain start runs the init in its own process');

    await tier.snapshotFor(spec());
    const restored = await tier.start(spec());
    started.push(restored);
    assert.equal(restored.timings.startPath, 'snapshot');
    const out = await call(restored, { n: 1 });
    assert.notEqual(out.initPid, restored.pid, 'the init ran in the snapshot build, not in this process');
    assert.equal(out.pid, restored.pid);
    assert.equal(out.table, true, 'state built at init is there');
    assert.equal(out.env, 'hej', 'the function environment is the one it was started with');
    assert.deepEqual(out.event, { n: 1 });
    assert.equal((await call(restored)).calls, 2, 'the restored instance keeps state across invocations');
  });

  it('refuses to snapshot a function whose init leaves a timer running, and it still starts', async () => {
    const dir = await dirs.make({
      'index.cjs': `setInterval(() => {}, 1000);\nexports.handler = async () => 'ok';\n`,
    });
    await assert.rejects(tier.snapshotFor(specFor(dir, 'index.cjs')), (err: unknown) => {
      assert.ok(KindlingError.is(err) && err.code === 'KINDLING_INIT_FAILED', String(err));
      assert.match(err.message, /not snapshot-safe/);
      return true;
    });
    const instance = await tier.start(specFor(dir, 'index.cjs'));
    started.push(instance);
    assert.equal(await call(instance), 'ok');
  });

  it('only snapshots CommonJS entries', async () => {
    const dir = await dirs.make({ 'index.mjs': `export default async () => 1;` });
    await assert.rejects(tier.snapshotFor(specFor(dir, 'index.mjs')), /CommonJS/);
  });

  it('starts a quick function from a snapshot of the runtime alone, with its own environment and argv', async () => {
    const dir = await dirs.make({
      'quick.cjs': `exports.handler = async () => ({ env: process.env.WHO ?? null, argv: process.argv.slice(1), cwd: process.cwd() });`,
    });
    await tier.runtimeSnapshotFor(128);
    const instance = await tier.start(specFor(dir, 'quick.cjs', { env: { WHO: 'quick' } }));
    started.push(instance);
    assert.equal(instance.timings.startPath, 'runtime-snapshot');
    const out = await call(instance);
    assert.equal(out.env, 'quick');
    assert.deepEqual(out.argv, [], "the runtime's configuration is not left in argv");
    assert.equal(out.cwd, dir);
  });

  it('starts ES module and plain .js entries the plain way even when a runtime snapshot exists', async () => {
    const dir = await dirs.make({
      'index.mjs': `export default async () => ({ esm: true });`,
      'index.js': `exports.handler = async () => ({ js: true });`,
    });
    await tier.runtimeSnapshotFor(128);
    for (const [entry, expected] of [
      ['index.mjs', { esm: true }],
      ['index.js', { js: true }],
    ] as const) {
      const instance = await tier.start(specFor(dir, entry));
      started.push(instance);
      assert.equal(instance.timings.startPath, 'plain', entry);
      const out = await instance.invoke({ requestId: `r-${entry}`, event: {}, timeoutMs: 5000 });
      assert.ok(out.ok, entry);
      assert.deepEqual(out.ok && out.result, expected);
    }
  });
});

describe('process tier: when to restore the runtime snapshot', () => {
  const dirs = new FixtureDirs();
  const blobs = mkdtempSync(join(tmpdir(), 'kindling-snapshots-'));
  const tiers: ProcessTier[] = [];
  after(async () => {
    await Promise.all(tiers.map((t) => t.close()));
    await dirs.cleanup();
    rmSync(blobs, { recursive: true, force: true });
  });
  const quick = () => dirs.make({ 'quick.cjs': `exports.handler = async () => ({ pid: process.pid });` });

  it('auto: starts plain until a trial on this machine has timed both ways, then takes the faster', async () => {
    const tier = createProcessTier({ snapshots: { dir: blobs } });
    tiers.push(tier);
    const dir = await quick();
    await tier.runtimeSnapshotFor(128);
    // The blob exists, but no trial has run: this start goes plain (and schedules one for later).
    const first = await tier.start(specFor(dir, 'quick.cjs'));
    assert.equal(first.timings.startPath, 'plain');
    await first.stop();
    const trial = await tier.runtimeStartTrial(128);
    assert.equal(trial.samples, 5);
    assert.ok(trial.plainMs > 0 && trial.snapshotMs > 0, JSON.stringify(trial));
    assert.equal(trial.useSnapshot, trial.snapshotMs < trial.plainMs);
    const next = await tier.start(specFor(dir, 'quick.cjs'));
    assert.equal(
      next.timings.startPath,
      trial.useSnapshot ? 'runtime-snapshot' : 'plain',
      JSON.stringify(trial),
    );
    assert.ok(assertResult(await next.invoke({ requestId: 'r', event: {}, timeoutMs: 5000 })));
    await next.stop();
    assert.equal(await tier.runtimeStartTrial(128), trial, 'one trial per memory size');
  });

  it('auto: builds and tries the runtime snapshot only once plain starts have been quiet for 5 s', async () => {
    const clock = new ManualClock();
    const dir = mkdtempSync(join(tmpdir(), 'kindling-snapshots-'));
    const tier = createProcessTier({ clock, snapshots: { dir } });
    tiers.push(tier);
    const fn = await quick();
    const startAndStop = async () => {
      const instance = await tier.start(specFor(fn, 'quick.cjs'));
      assert.equal(instance.timings.startPath, 'plain');
      await instance.stop();
    };
    await startAndStop();
    clock.advance(RUNTIME_SNAPSHOT_QUIET_MS - 1000);
    await startAndStop(); // another start: the quiet period begins again
    clock.advance(RUNTIME_SNAPSHOT_QUIET_MS - 1000);
    assert.deepEqual(readdirSync(dir), [], 'nothing built while starts keep coming');
    clock.advance(1000);
    // Quiet for 5 s: the build runs in the background (then the trial).
    for (let i = 0; i < 600 && !readdirSync(dir).some((f) => f.endsWith('.blob')); i++) await sleep(50);
    assert.ok(
      readdirSync(dir).some((f) => f.endsWith('.blob')),
      readdirSync(dir).join(', '),
    );
    const trial = await tier.runtimeStartTrial(128);
    const next = await tier.start(specFor(fn, 'quick.cjs'));
    assert.equal(next.timings.startPath, trial.useSnapshot ? 'runtime-snapshot' : 'plain');
    await next.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never: starts plain and builds no runtime snapshot; a bad mode is refused', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'kindling-snapshots-'));
    const tier = createProcessTier({ snapshots: { dir: empty, runtime: 'never' } });
    tiers.push(tier);
    const instance = await tier.start(specFor(await quick(), 'quick.cjs'));
    assert.equal(instance.timings.startPath, 'plain');
    await instance.stop();
    assert.deepEqual(readdirSync(empty), []);
    rmSync(empty, { recursive: true, force: true });
    assert.throws(
      () => createProcessTier({ snapshots: { dir: blobs, runtime: 'sometimes' as never } }),
      (err: unknown) =>
        KindlingError.is(err) && err.code === 'KINDLING_INVALID_CONFIG' && /"auto"/.test(err.message),
    );
  });
});
