/**
 * The process tier: the compliance suite, plus what only a process tier has (pids, /proc, the RSS
 * watchdog versus V8's heap limit, process groups, the host dying).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { createProcessTier } from '../../src/sandbox/process/index.js';
import type { ProcessInstance } from '../../src/sandbox/process/index.js';
import type { SandboxTier } from '../../src/sandbox/tier.js';
import { eventually } from '../helpers/platform.js';
import { assertFails, assertRejects, assertResult, sandboxTierCompliance } from './compliance.js';
import { BEHAVIOUR, FixtureDirs, specFor } from './fixtures.js';

sandboxTierCompliance('process', () => createProcessTier());
sandboxTierCompliance('process (stem cells)', () =>
  createProcessTier({ stemCells: { perMemoryMb: 1, memoryMb: [128] } }),
);

/** Pids of this process's children (from /proc, so a failed start can be shown to leave none). */
function childPids(): Set<number> {
  const pids = new Set<number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited while we listed
    }
    // Field 4 is the ppid; the command name (field 2) may contain spaces, so parse after its ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) pids.add(Number(name));
  }
  return pids;
}

/** True while `pid` runs; a zombie (dead, waiting for its new parent to reap it) does not count. */
function running(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false; // no such process
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** Waits for a pid to die, polling /proc (a process we are not the parent of cannot be awaited otherwise). */
async function waitGone(pid: number, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (running(pid)) {
    if (Date.now() > until) assert.fail(`process ${pid} still exists after ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('process tier specifics', () => {
  const dirs = new FixtureDirs();
  let tier: SandboxTier;
  let dir: string;
  before(async () => {
    tier = createProcessTier();
    dir = await dirs.make({
      'fn.mjs': BEHAVIOUR,
      'hang-init.mjs': `await new Promise(() => {}); export default () => 1;`,
      'noisy-init.mjs': `console.log('hello from top level'); export default async () => 'ok';`,
      'host.mjs': `
        import { dirname } from 'node:path';
        import { fileURLToPath } from 'node:url';
        import { createProcessTier } from ${JSON.stringify(new URL('../../src/sandbox/process/index.js', import.meta.url).href)};
        const tier = createProcessTier();
        const spec = { ...${JSON.stringify(specFor('', 'fn.mjs'))}, codeDir: dirname(fileURLToPath(import.meta.url)) };
        const instance = await tier.start(spec);
        process.stdout.write(String(instance.pid) + '\\n');
        if (process.argv[2] === 'exit') process.exit(0);
        setInterval(() => {}, 1000);
      `,
    });
  });
  after(async () => {
    await tier.close();
    await dirs.cleanup();
  });

  test('timings, pid, handler shape and memoryBytes', async () => {
    const instance = (await tier.start(specFor(dir, 'fn.mjs'))) as ProcessInstance;
    const { sandboxMs, runtimeMs, initMs, startPath } = instance.timings;
    assert.equal(startPath, 'plain');
    for (const ms of [sandboxMs, runtimeMs, initMs]) assert.ok(ms >= 0 && Number.isFinite(ms));
    assert.ok(runtimeMs > 0, 'booting node takes some time');
    assert.equal(typeof instance.pid, 'number');
    assert.equal(instance.handlerShape, 'default');
    const rss = instance.memoryBytes();
    assert.ok(rss !== undefined && rss > 10 * 1024 * 1024, `rss ${rss}`);
    await instance.stop();
    assert.equal(instance.memoryBytes(), undefined);
  });

  test('V8 heap exhaustion is reported as KINDLING_MEMORY_LIMIT even without the RSS watchdog', async () => {
    const heapOnly = createProcessTier({ rssCheckIntervalMs: 0 });
    try {
      const instance = await heapOnly.start(specFor(dir, 'fn.mjs', { memoryMb: 128 }));
      const outcome = await instance.invoke({
        requestId: 'heap',
        event: { op: 'heap-bomb' },
        timeoutMs: 60_000,
      });
      const err = assertFails(outcome, 'KINDLING_MEMORY_LIMIT');
      assert.equal(err.details?.kind, 'heap');
      assert.match(
        err.message,
        /used 80 MiB of JavaScript heap, all that its memory limit of 128 MiB allows/,
      );
      assert.equal((await instance.exited).reason, 'memory');
    } finally {
      await heapOnly.close();
    }
  });

  test('the RSS watchdog catches off-heap growth', async () => {
    const instance = await tier.start(specFor(dir, 'fn.mjs', { memoryMb: 128 }));
    const outcome = await instance.invoke({
      requestId: 'buf',
      event: { op: 'buffer-bomb' },
      timeoutMs: 60_000,
    });
    const err = assertFails(outcome, 'KINDLING_MEMORY_LIMIT');
    assert.equal(err.details?.kind, 'rss');
    assert.ok((err.details?.usedMb as number) > 128);
    assert.match(err.message, /used \d+ MiB, over its limit of 128 MiB; raise memoryMb/);
  });

  test('an init timeout fails the start and leaves no process behind', async () => {
    const clock = new ManualClock();
    const timed = createProcessTier({ clock });
    const beforePids = childPids();
    const starting = timed.start(specFor(dir, 'hang-init.mjs', { initTimeoutMs: 250 }));
    clock.advance(250);
    const err = await assertRejects(starting, 'KINDLING_INIT_FAILED');
    assert.match(err.message, /init timeout of 250 ms/);
    assert.deepEqual(
      [...childPids()].filter((pid) => !beforePids.has(pid)),
      [],
    );
    await timed.close();
  });

  test('aborting a start rejects with the abort reason and leaves no process behind', async () => {
    const beforePids = childPids();
    const controller = new AbortController();
    const starting = tier.start(specFor(dir, 'hang-init.mjs'), controller.signal);
    controller.abort(new KindlingError('KINDLING_UNAVAILABLE', 'shutting down'));
    const err = await assertRejects(starting, 'KINDLING_UNAVAILABLE');
    assert.equal(err.message, 'shutting down');
    assert.deepEqual(
      [...childPids()].filter((pid) => !beforePids.has(pid)),
      [],
    );
  });

  test('failed starts (init error, no handler, missing codeDir) leave no process behind', async () => {
    const beforePids = childPids();
    const bad = await dirs.make({ 'a.mjs': 'throw new Error("x")', 'b.mjs': 'export const x = 1' });
    await assertRejects(tier.start(specFor(bad, 'a.mjs')), 'KINDLING_INIT_FAILED');
    await assertRejects(tier.start(specFor(bad, 'b.mjs')), 'KINDLING_NO_HANDLER');
    await assertRejects(tier.start(specFor(`${bad}/missing`, 'a.mjs')), 'KINDLING_INIT_FAILED');
    await assertRejects(tier.start(specFor(bad, '../a.mjs')), 'KINDLING_INVALID_CONFIG');
    await assertRejects(tier.start(specFor(bad, 'a.mjs', { memoryMb: 16 })), 'KINDLING_INVALID_CONFIG');
    assert.deepEqual(
      [...childPids()].filter((pid) => !beforePids.has(pid)),
      [],
    );
  });

  test('aborting an invocation kills the instance and answers with the reason', async () => {
    const instance = await tier.start(specFor(dir, 'fn.mjs'));
    const controller = new AbortController();
    const running = instance.invoke({
      requestId: 'ab',
      event: { op: 'hang' },
      timeoutMs: 60_000,
      signal: controller.signal,
    });
    controller.abort(new KindlingError('KINDLING_UNAVAILABLE', 'client went away'));
    assert.equal(assertFails(await running, 'KINDLING_UNAVAILABLE').message, 'client went away');
    assert.equal((await instance.exited).reason, 'stopped');
  });

  test('raw stdout goes to the only invocation in flight, else to the instance', async () => {
    const instance = (await tier.start(
      specFor(dir, 'noisy-init.mjs', { concurrency: 2 }),
    )) as ProcessInstance;
    // The line travels on the stdout pipe, the ready message on another channel: under load the
    // line can land just after start resolves, so collect the instance's logs until it is there.
    const initLogs = await eventually(
      async () => {
        const logs = instance.takeInstanceLogs().logs.map((line) => [line.level, line.msg]);
        return logs.length > 0 ? logs : undefined;
      },
      5_000,
      "the instance's init log line",
    );
    assert.deepEqual(initLogs, [['stdout', 'hello from top level']]);
    await instance.stop();
    const busy = (await tier.start(specFor(dir, 'fn.mjs', { concurrency: 2 }))) as ProcessInstance;
    const alone = await busy.invoke({
      requestId: 'one',
      event: { op: 'stdout-line', text: 'mine' },
      timeoutMs: 10_000,
    });
    assertResult(alone);
    assert.deepEqual(
      alone.logs.map((line) => [line.level, line.msg]),
      [['stdout', 'mine']],
    );
    const hanging = busy.invoke({ requestId: 'two', event: { op: 'hang' }, timeoutMs: 60_000 });
    const shared = await busy.invoke({
      requestId: 'three',
      event: { op: 'stdout-line', text: 'whose' },
      timeoutMs: 10_000,
    });
    assert.deepEqual(shared.logs, []);
    assert.deepEqual(
      busy.takeInstanceLogs().logs.map((line) => line.msg),
      ['whose'],
    );
    await busy.stop();
    assertFails(await hanging, 'KINDLING_INSTANCE_CRASHED');
  });

  for (const mode of ['exit', 'kill'] as const) {
    test(`instances do not outlive their host (host ${mode === 'exit' ? 'exits' : 'is SIGKILLed'})`, async () => {
      const host = spawn(process.execPath, [`${dir}/host.mjs`, mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        host.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(Number(out.trim()));
        });
        host.on('exit', (code) =>
          out.includes('\n') ? undefined : reject(new Error(`host exited with ${code}`)),
        );
      });
      assert.ok(pid > 0);
      if (mode === 'kill') {
        assert.ok(running(pid), 'the instance runs while its host does');
        host.kill('SIGKILL');
      }
      await waitGone(pid);
    });
  }
});
