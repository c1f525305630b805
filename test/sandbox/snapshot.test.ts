/** The process tier's snapshot start path: V8 startup snapshots taken after a function's init. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
import { heapFlags, heapLimitsFor } from '../../src/sandbox/process/memory.js';
import { SnapshotVerdicts } from '../../src/sandbox/process/snapshot-verdicts.js';
import type { SandboxInstance } from '../../src/sandbox/tier.js';
import { assertResult } from './compliance.js';
import { FixtureDirs, SOURCE_MAPPED, bundleOf, specFor } from './fixtures.js';

// Top-level work long enough to be worth a snapshot, and a record of which process ran it.
const SLOW_INIT = `
const initPid = process.pid;
const started = Date.now();
let table = 0;
while (Date.now() - started < 60) table++;
let calls = 0;
exports.handler = async (event) => ({ initPid, pid: process.pid, table: table > 0, calls: ++calls, env: process.env.GREETING ?? null, event });
`;

/** Overwrites `blob` with a snapshot, built with the heap flags of `memoryMb`, whose restore dies of SIGSEGV. */
function crashingBlob(blob: string, memoryMb: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-crash-'));
  try {
    const script = join(dir, 'crash.cjs');
    writeFileSync(
      script,
      "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => process.kill(process.pid, 'SIGSEGV'));\n",
    );
    const built = spawnSync(
      process.execPath,
      [
        ...heapFlags(heapLimitsFor(memoryMb)),
        '--snapshot-blob',
        join(dir, 'crash.blob'),
        '--build-snapshot',
        script,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(built.status, 0, built.stderr);
    copyFileSync(join(dir, 'crash.blob'), blob);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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

  it('a snapshot whose restore crashes is discarded and the instance starts without it', async () => {
    const dir = await dirs.make({ 'index.cjs': SLOW_INIT });
    const spec = () => specFor(dir, 'index.cjs', { memoryMb: 112 });
    started.push(await tier.start(spec())); // plain: its init time makes it worth a snapshot
    const blob = await tier.snapshotFor(spec());
    // Stand in for a heap V8 cannot restore (see SnapshotStore.discard): a blob built with the same
    // flags whose restored process dies of SIGSEGV.
    crashingBlob(blob, 112);
    const instance = await tier.start(spec());
    started.push(instance);
    assert.equal(instance.timings.startPath, 'plain', 'started again, the plain way');
    assert.equal((await call(instance)).table, true);
    await assert.rejects(tier.snapshotFor(spec()), /restoring the snapshot crashed \(SIGSEGV\)/);
    assert.ok(!existsSync(blob), 'the blob is gone');
    const next = await tier.start(spec());
    started.push(next);
    // Later starts do not try it again (this tier restores the runtime's own snapshot instead).
    assert.equal(next.timings.startPath, 'runtime-snapshot');

    // The same for the runtime's own snapshot (another memory size, so other tests keep theirs).
    const quickDir = await dirs.make({ 'quick.cjs': `exports.handler = async () => 'quick';` });
    crashingBlob(await tier.runtimeSnapshotFor(96), 96);
    const quick = await tier.start(specFor(quickDir, 'quick.cjs', { memoryMb: 96 }));
    started.push(quick);
    assert.equal(quick.timings.startPath, 'plain');
    assert.equal(await call(quick), 'quick');
    await assert.rejects(tier.runtimeSnapshotFor(96), /runtime snapshot could not be built/);
  });

  it('gives up a snapshot its judge finds no faster, and starts the function the other ways', async () => {
    // A judge that finds a snapshot slower as soon as it has started the function once (the real one
    // compares medians of measured starts: snapshot-verdicts.test.ts).
    class AlwaysSlower extends SnapshotVerdicts {
      private readonly tried = new Set<string>();
      override record(entry: string, fromSnapshot: boolean, ms: number): void {
        super.record(entry, fromSnapshot, ms);
        if (fromSnapshot) this.tried.add(entry);
      }
      override loss(entry: string) {
        return this.tried.has(entry) ? { snapshotMs: 2, withoutMs: 1, samples: 1 } : undefined;
      }
    }
    const judged = createProcessTier({
      snapshots: { dir: blobs, runtime: 'never', verdicts: new AlwaysSlower() },
    });
    try {
      const dir = await dirs.make({ 'index.cjs': SLOW_INIT });
      const spec = () => specFor(dir, 'index.cjs', { memoryMb: 120 });
      await (await judged.start(spec())).stop();
      const blob = await judged.snapshotFor(spec());
      const restored = await judged.start(spec());
      await restored.stop();
      assert.equal(restored.timings.startPath, 'snapshot', 'the start that was judged');
      assert.ok(!existsSync(blob), 'the blob is gone');
      await assert.rejects(
        judged.snapshotFor(spec()),
        /starting from the snapshot took 2\.0 ms against 1\.0 ms without it \(medians\)/,
      );
      const next = await judged.start(spec());
      await next.stop();
      assert.equal(next.timings.startPath, 'plain', 'later starts go the other ways');
    } finally {
      await judged.close();
    }
  });

  it('a snapshot deleted between being chosen and being restored costs a retry, not the start', async () => {
    // A node that deletes the blob it is asked to restore before starting: the race of a start
    // with another start's discard of the same blob, every time.
    const wrapperDir = mkdtempSync(join(tmpdir(), 'kindling-node-'));
    const wrapper = join(wrapperDir, 'node');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nfor a in "$@"; do case "$a" in *.blob) rm -f "$a";; esac; done\nexec ${JSON.stringify(process.execPath)} "$@"\n`,
      { mode: 0o755 },
    );
    const racing = createProcessTier({ nodePath: wrapper, snapshots: { dir: blobs, runtime: 'never' } });
    try {
      const dir = await dirs.make({ 'index.cjs': SLOW_INIT });
      const spec = () => specFor(dir, 'index.cjs', { memoryMb: 104 });
      await (await racing.start(spec())).stop();
      const blob = await racing.snapshotFor(spec());
      const instance = await racing.start(spec());
      started.push(instance);
      assert.ok(!existsSync(blob), 'the wrapper deleted the blob before the restore');
      assert.equal(instance.timings.startPath, 'plain', 'started again without it');
      assert.equal((await call(instance)).table, true);
    } finally {
      await racing.close();
      rmSync(wrapperDir, { recursive: true, force: true });
    }
  });

  it("an error's stack from a snapshot start is the same as from any other start: the author's sources", async () => {
    // A slow init (line 1), so the function's own snapshot is worth taking.
    const slow = `const t0 = Date.now();\nwhile (Date.now() - t0 < 60);\n${SOURCE_MAPPED['handler.ts']}`;
    const bundle = await bundleOf({ ...SOURCE_MAPPED, 'handler.ts': slow }, 'handler.ts');
    const dir = await dirs.make({ 'index.cjs': bundle.code, 'index.cjs.map': bundle.map });
    const spec = () => specFor(dir, 'index.cjs');
    const stacks = new Map<string, string>();
    const stackOf = async (instance: SandboxInstance) => {
      started.push(instance);
      const outcome = await instance.invoke({ requestId: `r-${Math.random()}`, event: {}, timeoutMs: 5000 });
      assert.ok(!outcome.ok);
      stacks.set(String(instance.timings.startPath), String(outcome.error.details?.stack));
    };
    await tier.runtimeSnapshotFor(128);
    await stackOf(await tier.start(spec())); // the runtime snapshot, the function loaded after
    await tier.snapshotFor(spec());
    await stackOf(await tier.start(spec())); // the function's own snapshot
    assert.deepEqual([...stacks.keys()].sort(), ['runtime-snapshot', 'snapshot']);
    for (const [path, stack] of stacks) {
      assert.deepEqual(
        stack.split('\n'),
        [
          'RangeError: order has no items',
          '    at check (fixture/lib.ts:3:11)',
          '    at handler (fixture/handler.ts:6:19)',
        ],
        `${path}: ${stack}`,
      );
    }
  });

  it("forgets a function's snapshot once its code directory goes, and keeps the runtime's", async () => {
    const dir = await dirs.make({ 'index.cjs': SLOW_INIT });
    const blob = await tier.snapshotFor(specFor(dir, 'index.cjs'));
    const runtimeBlob = await tier.runtimeSnapshotFor(128);
    assert.deepEqual(
      await tier.forgetCode!(new Set(), false),
      { removed: 0, bytes: 0 },
      'its code is still there',
    );
    const dry = await tier.forgetCode!(new Set([dir]), true);
    assert.equal(dry.removed, 1);
    assert.ok(dry.bytes > 0 && existsSync(blob), 'a dry run deletes nothing');
    assert.deepEqual(await tier.forgetCode!(new Set([dir]), false), dry);
    assert.equal(existsSync(blob), false);
    assert.ok(existsSync(runtimeBlob));
    // A directory deleted without being named is found gone too.
    const other = await dirs.make({ 'index.cjs': SLOW_INIT.replace('calls', 'count') });
    const otherBlob = await tier.snapshotFor(specFor(other, 'index.cjs'));
    rmSync(other, { recursive: true, force: true });
    assert.equal((await tier.forgetCode!(new Set(), false)).removed, 1);
    assert.equal(existsSync(otherBlob), false);
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
