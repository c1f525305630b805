/**
 * The SandboxTier compliance suite: every tier runs the same handler shapes, enforces the same limits
 * and reports the same failures. A tier's own test file calls `sandboxTierCompliance(name, factory)`.
 *
 * No assertion depends on wall-clock speed: concurrency is proven with a counter inside the function,
 * timeouts with handlers that never finish, limits with allocations that never stop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/errors.js';
import type { InstanceSpec, InvokeOutcome, SandboxInstance, SandboxTier } from '../../src/sandbox/tier.js';
import {
  BEHAVIOUR,
  FixtureDirs,
  PORTABLE_BEHAVIOUR,
  SHAPES,
  SOURCE_MAPPED,
  bundleOf,
  specFor,
} from './fixtures.js';

const MIB = 1024 * 1024;

/** Asserts a failed outcome with `code`, returning its error. */
export function assertFails(outcome: InvokeOutcome, code: ErrorCode): KindlingError {
  assert.equal(
    outcome.ok,
    false,
    `expected ${code}, got a result: ${JSON.stringify(outcome.ok && outcome.result)}`,
  );
  assert.ok(!outcome.ok);
  assert.ok(KindlingError.is(outcome.error), 'the error is a KindlingError');
  assert.equal(outcome.error.code, code, outcome.error.message);
  return outcome.error;
}

/** Asserts a successful outcome, returning its result. */
export function assertResult(outcome: InvokeOutcome): unknown {
  if (!outcome.ok) assert.fail(`expected a result, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.result;
}

/** Awaits a promise expected to reject with a KindlingError of `code`. */
export async function assertRejects(promise: Promise<unknown>, code: ErrorCode): Promise<KindlingError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(KindlingError.is(err), `expected a KindlingError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  return assert.fail(`expected a rejection with ${code}`);
}

let requestSeq = 0;
const rid = () => `req-${++requestSeq}`;

/** What a tier offers the functions it runs; the suite adapts only the tests that depend on it. */
export interface TierCapabilities {
  /**
   * Handlers see Node's APIs and process semantics: `process` (exit, env, stdout), `Buffer`, `node:`
   * imports, the Web `Response`, and a crash on an unhandled rejection. Default true. When false the
   * suite runs PORTABLE_BEHAVIOUR (env through `context.env`) and skips the tests that need those APIs.
   */
  nodeApis?: boolean;
}

/** Registers the compliance tests for the tier that `createTier` makes (one tier for the whole suite). */
export function sandboxTierCompliance(
  name: string,
  createTier: () => SandboxTier,
  capabilities: TierCapabilities = {},
): void {
  const nodeApis = capabilities.nodeApis ?? true;
  const needsNode = { skip: nodeApis ? false : `${name} has no Node APIs` };
  describe(`SandboxTier compliance: ${name}`, () => {
    const dirs = new FixtureDirs();
    let tier: SandboxTier;
    let behaviourDir: string;
    const started: SandboxInstance[] = [];

    before(async () => {
      tier = createTier();
      behaviourDir = await dirs.make({ 'fn.mjs': nodeApis ? BEHAVIOUR : PORTABLE_BEHAVIOUR });
    });
    after(async () => {
      await tier.close();
      await dirs.cleanup();
    });

    async function start(overrides: Partial<InstanceSpec> = {}, codeDir = behaviourDir, entry = 'fn.mjs') {
      const instance = await tier.start(specFor(codeDir, entry, overrides));
      started.push(instance);
      return instance;
    }
    const call = (instance: SandboxInstance, event: Record<string, unknown>, timeoutMs = 30_000) =>
      instance.invoke({ requestId: rid(), event, timeoutMs });

    describe('handler shapes', () => {
      for (const file of Object.keys(SHAPES)) {
        test(file, async () => {
          const dir = await dirs.make({ [file]: SHAPES[file] as string });
          const instance = await start({}, dir, file);
          assert.equal(instance.alive, true);
          const result = assertResult(await call(instance, { n: 1 }));
          assert.deepEqual(result, { shape: file, event: { n: 1 } });
          await instance.stop();
        });
      }
    });

    test('context carries the request id, function identity, memory and deadline', async () => {
      const instance = await start({ memoryMb: 192 });
      const before = Date.now();
      const outcome = await instance.invoke({
        requestId: 'ctx-1',
        event: { op: 'context' },
        timeoutMs: 20_000,
      });
      const after = Date.now();
      const ctx = assertResult(outcome) as Record<string, unknown>;
      assert.equal(ctx.requestId, 'ctx-1');
      assert.equal(ctx.awsRequestId, 'ctx-1');
      assert.equal(ctx.functionName, 'fixture');
      assert.equal(ctx.functionVersion, 7);
      assert.equal(ctx.memoryLimitInMB, 192);
      assert.deepEqual(ctx.log, ['function', 'function', 'function', 'function']);
      const deadline = ctx.deadline as number;
      assert.ok(
        deadline >= before && deadline <= after + 20_000,
        `deadline ${deadline} is within the timeout`,
      );
      const remaining = ctx.remaining as number;
      assert.ok(remaining > 0 && remaining <= 20_000, `remaining ${remaining} ms is within the timeout`);
      assert.equal(deadline - (ctx.now as number) >= remaining, true);
      await instance.stop();
    });

    test('a handler past its timeout ends the instance; other invocations on it fail as crashed', async () => {
      const instance = await start({ concurrency: 2 });
      const bystander = call(instance, { op: 'hang' }, 60_000);
      const late = await call(instance, { op: 'spin' }, 500);
      const err = assertFails(late, 'KINDLING_TIMEOUT');
      assert.match(err.message, /500 ms/);
      assert.match(err.message, /replaced/);
      const other = assertFails(await bystander, 'KINDLING_INSTANCE_CRASHED');
      assert.match(other.message, /timeout/);
      assert.equal((await instance.exited).reason, 'timeout');
      assert.equal(instance.alive, false);
      assertFails(await call(instance, { op: 'echo', value: 1 }), 'KINDLING_INSTANCE_CRASHED');
    });

    for (const op of ['heap-bomb', 'buffer-bomb']) {
      test(`memory limit: ${op}`, async () => {
        const instance = await start({ memoryMb: 128 });
        const err = assertFails(await call(instance, { op }), 'KINDLING_MEMORY_LIMIT');
        // The RSS watchdog says "used 142 MiB, over its limit of 128 MiB"; a full V8 heap says
        // "used 80 MiB of JavaScript heap, all that its memory limit of 128 MiB allows".
        assert.match(err.message, /used \d+ MiB/);
        assert.match(err.message, /limit of 128 MiB/);
        assert.match(err.message, /raise memoryMb/);
        assert.equal((await instance.exited).reason, 'memory');
      });
    }

    test('a thrown error is reported with its message, type and stack; the instance lives on', async () => {
      const instance = await start();
      const err = assertFails(await call(instance, { op: 'throw', value: 42 }), 'KINDLING_HANDLER_ERROR');
      assert.equal(err.message, 'bad type: 42');
      assert.equal(err.details?.errorType, 'TypeError');
      const stack = String(err.details?.stack);
      assert.match(stack, /bad type: 42/);
      // In the author's terms: the function's name and file, not the image store or the runtime.
      assert.match(stack, /\bfixture\/fn\.mjs:\d+:\d+/);
      assert.ok(!stack.includes(behaviourDir), stack);
      assert.doesNotMatch(stack, /runtime\.cjs|kindling:runtime/, "the runtime's own frames are cut");
      const str = assertFails(await call(instance, { op: 'throw-string' }), 'KINDLING_HANDLER_ERROR');
      assert.equal(str.message, 'just a string');
      assert.equal(instance.alive, true);
      assert.equal(assertResult(await call(instance, { op: 'echo', value: 'still here' })), 'still here');
      await instance.stop();
    });

    test('process.exit inside a handler fails the invocation and ends the instance', needsNode, async () => {
      const instance = await start();
      const err = assertFails(await call(instance, { op: 'exit', code: 3 }), 'KINDLING_INSTANCE_CRASHED');
      assert.match(err.message, /code 3/);
      const exit = await instance.exited;
      assert.equal(exit.reason, 'exited');
      assert.equal(exit.code, 3);
      assert.equal(instance.alive, false);
    });

    for (const [op, text] of [
      ['crash-later', 'idle boom'],
      ['reject-later', 'idle rejection'],
    ] as const) {
      // An isolate has no hook for unhandled rejections: only a timer's uncaught exception is seen.
      const opts = op === 'reject-later' ? needsNode : {};
      test(`a crash while idle ends the instance (${op})`, opts, async () => {
        const instance = await start();
        assert.equal(assertResult(await call(instance, { op })), 'armed');
        const exit = await instance.exited;
        assert.equal(exit.reason, 'crashed');
        assert.match(exit.stderrTail, new RegExp(text));
        assert.equal(instance.alive, false);
      });
    }

    test('an instance with concurrency 4 runs 4 invocations at once', async () => {
      const instance = await start({ concurrency: 4 });
      const outcomes = await Promise.all(
        [1, 2, 3, 4].map(() => call(instance, { op: 'max-in-flight', expect: 4 }, 20_000)),
      );
      assert.deepEqual(outcomes.map(assertResult), [4, 4, 4, 4]);
      assert.equal(instance.inflight, 0);
      await instance.stop();
    });

    test('logs are captured per invocation, never mixed between concurrent ones', async () => {
      const instance = await start({ concurrency: 4 });
      const ids = ['alpha', 'bravo', 'charlie', 'delta'];
      const outcomes = await Promise.all(
        ids.map((id) => call(instance, { op: 'chatty', id, expect: 4 }, 20_000)),
      );
      outcomes.forEach((outcome, i) => {
        const id = ids[i] as string;
        assert.equal(assertResult(outcome), id);
        assert.equal(outcome.logs.length, 15, JSON.stringify(outcome.logs));
        for (const line of outcome.logs)
          assert.ok(line.msg.startsWith(`${id} `), `${line.msg} belongs to ${id}`);
        const levels = outcome.logs.map((line) => `${line.level}:${line.msg.split(' ')[1]}`);
        // Without async context (nodeApis: false) the fixture logs through context.log.info.
        for (const [level, word] of [
          [nodeApis ? 'log' : 'info', 'log'],
          ['error', 'error'],
          ['warn', 'warn'],
        ]) {
          assert.equal(levels.filter((l) => l === `${level}:${word}`).length, 5, `5 ${level} lines`);
        }
        assert.equal(outcome.logsDroppedBytes, 0);
      });
      await instance.stop();
    });

    for (const op of ['console-flood', 'stdout-flood']) {
      const opts = op === 'stdout-flood' ? needsNode : {};
      test(`100 MiB of output (${op}) is truncated and counted; the host stays fine`, opts, async () => {
        const limit = 64 * 1024;
        const instance = await start({ logLimitBytes: limit });
        const outcome = await call(instance, { op, mib: 100 }, 60_000);
        assert.equal(assertResult(outcome), 'flooded');
        const kept = outcome.logs.reduce((sum, line) => sum + Buffer.byteLength(line.msg) + 1, 0);
        assert.ok(kept > 0 && kept <= limit, `kept ${kept} bytes, limit ${limit}`);
        assert.ok(outcome.logsDroppedBytes >= 100 * MIB - limit, `dropped ${outcome.logsDroppedBytes} bytes`);
        assert.ok(outcome.logsDroppedBytes <= 101 * MIB, `dropped ${outcome.logsDroppedBytes} bytes`);
        assert.equal(assertResult(await call(instance, { op: 'echo', value: 'after' })), 'after');
        await instance.stop();
      });
    }

    test("the handler sees spec.env and a minimal base, never the host's environment", async () => {
      process.env.KINDLING_HOST_SECRET = 'hunter2';
      try {
        const instance = await start({ env: { GREETING: 'hello' } });
        const env = assertResult(await call(instance, { op: 'env' })) as Record<string, string>;
        assert.equal(env.GREETING, 'hello');
        assert.equal(env.KINDLING_HOST_SECRET, undefined);
        assert.ok(!Object.values(env).includes('hunter2'));
        await instance.stop();
      } finally {
        delete process.env.KINDLING_HOST_SECRET;
      }
    });

    test("a bundle's error frames point at the author's sources through its source map", async () => {
      const bundle = await bundleOf(SOURCE_MAPPED, 'handler.ts');
      const dir = await dirs.make({ 'index.cjs': bundle.code, 'index.cjs.map': bundle.map });
      const instance = await start({}, dir, 'index.cjs');
      const err = assertFails(await call(instance, {}), 'KINDLING_HANDLER_ERROR');
      const stack = String(err.details?.stack);
      assert.match(stack, /at check \(fixture\/lib\.ts:3:11\)/, stack);
      assert.match(stack, /fixture\/handler\.ts:4:19/, stack);
      assert.doesNotMatch(stack, /index\.cjs/, stack);
      // Without the map the frames keep the bundle's positions.
      const bare = await dirs.make({ 'index.cjs': bundle.code });
      const unmapped = await start({}, bare, 'index.cjs');
      const plain = String(assertFails(await call(unmapped, {}), 'KINDLING_HANDLER_ERROR').details?.stack);
      assert.match(plain, /fixture\/index\.cjs:\d+:\d+/, plain);
      await Promise.all([instance.stop(), unmapped.stop()]);
    });

    test("an ES module bundle's frames (file:// URLs) are mapped too", needsNode, async () => {
      // Top-level await makes the bundler emit an ES module.
      const bundle = await bundleOf(
        { ...SOURCE_MAPPED, 'esm.ts': `await Promise.resolve();\nexport { handler } from './handler';\n` },
        'esm.ts',
      );
      assert.equal(bundle.entry, 'index.mjs');
      const dir = await dirs.make({ 'index.mjs': bundle.code, 'index.mjs.map': bundle.map });
      const instance = await start({}, dir, 'index.mjs');
      const stack = String(assertFails(await call(instance, {}), 'KINDLING_HANDLER_ERROR').details?.stack);
      assert.match(stack, /at check \(fixture\/lib\.ts:3:11\)/, stack);
      await instance.stop();
    });

    test('top-level code that throws fails the start with KINDLING_INIT_FAILED', async () => {
      const dir = await dirs.make({ 'broken.mjs': `throw new Error('top-level kaboom');` });
      const err = await assertRejects(tier.start(specFor(dir, 'broken.mjs')), 'KINDLING_INIT_FAILED');
      assert.match(err.message, /top-level kaboom/);
      assert.ok(!JSON.stringify(err.toJSON()).includes(dir), 'no path inside the image store');
    });

    test('a module without a handler fails the start with KINDLING_NO_HANDLER: its real exports and the export to add, in its own syntax', async () => {
      const dir = await dirs.make({
        'nothing.mjs': `export const answer = 42;`,
        'nothing.cjs': `exports.foo = () => 1; exports.handler = { not: 'a function' };`,
      });
      const esm = await assertRejects(tier.start(specFor(dir, 'nothing.mjs')), 'KINDLING_NO_HANDLER');
      assert.equal(esm.status, 502, "the function's fault, found when it starts: as KINDLING_INIT_FAILED");
      assert.match(esm.message, /its exports are "answer"\)/);
      assert.match(esm.message, /`export default async \(event, context\) => /);
      assert.match(esm.message, /`export async function handler\(event, context\)/);
      assert.doesNotMatch(esm.message, /module\.exports/);
      const cjs = await assertRejects(tier.start(specFor(dir, 'nothing.cjs')), 'KINDLING_NO_HANDLER');
      // module.exports itself is not listed as an export called "default".
      assert.match(cjs.message, /its exports are "foo", "handler"; "handler" is an object, not a function\)/);
      assert.match(cjs.message, /`module\.exports = async \(event, context\) => /);
      assert.match(cjs.message, /`exports\.handler = async/);
      assert.deepEqual(cjs.details?.exports, ['foo', 'handler']);
    });

    test('a Web Response becomes statusCode/headers/body; binary bodies are base64', needsNode, async () => {
      const instance = await start();
      const json = assertResult(await call(instance, { op: 'response-json' })) as Record<string, unknown>;
      assert.equal(json.statusCode, 201);
      assert.equal(json.body, '{"hello":"world"}');
      assert.equal(json.isBase64Encoded, false);
      assert.equal((json.headers as Record<string, string>)['x-kind'], 'json');
      const bin = assertResult(await call(instance, { op: 'response-binary' })) as Record<string, unknown>;
      assert.equal(bin.statusCode, 200);
      assert.equal(bin.isBase64Encoded, true);
      assert.deepEqual([...Buffer.from(bin.body as string, 'base64')], [0, 255, 1, 128]);
      await instance.stop();
    });

    test('results: undefined is null; BigInt and cycles are not serialisable; over 6 MiB is too large', async () => {
      const instance = await start();
      assert.equal(assertResult(await call(instance, { op: 'undefined' })), null);
      assert.match(
        assertFails(await call(instance, { op: 'bigint' }), 'KINDLING_RESULT_NOT_SERIALIZABLE').message,
        /BigInt/,
      );
      assertFails(await call(instance, { op: 'cycle' }), 'KINDLING_RESULT_NOT_SERIALIZABLE');
      const big = assertFails(await call(instance, { op: 'huge' }), 'KINDLING_RESULT_TOO_LARGE');
      assert.match(big.message, /6 MiB/);
      assert.equal(instance.alive, true);
      await instance.stop();
    });

    test('stop() is idempotent and ends the instance', async () => {
      const instance = await start();
      await Promise.all([instance.stop(), instance.stop()]);
      await instance.stop();
      assert.equal(instance.alive, false);
      assert.equal((await instance.exited).reason, 'stopped');
      assertFails(await call(instance, { op: 'echo', value: 1 }), 'KINDLING_INSTANCE_CRASHED');
    });

    test('close() stops every instance', async () => {
      const closing = createTier();
      const a = await closing.start(specFor(behaviourDir, 'fn.mjs'));
      const b = await closing.start(specFor(behaviourDir, 'fn.mjs'));
      const pending = b.invoke({ requestId: rid(), event: { op: 'hang' }, timeoutMs: 60_000 });
      await closing.close();
      assert.equal((await a.exited).reason, 'stopped');
      assert.equal((await b.exited).reason, 'stopped');
      assertFails(await pending, 'KINDLING_INSTANCE_CRASHED');
      await assertRejects(closing.start(specFor(behaviourDir, 'fn.mjs')), 'KINDLING_UNAVAILABLE');
    });

    after(async () => {
      await Promise.all(started.map((instance) => instance.stop()));
    });
  });
}
