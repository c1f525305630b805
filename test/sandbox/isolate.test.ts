/**
 * The isolate tier: the compliance suite (without the tests that need Node's APIs), plus isolation:
 * what an isolate cannot see, what one instance cannot see of another, and bombs that are contained
 * while the host keeps serving.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createIsolateTier } from '../../src/sandbox/isolate/index.js';
import type { SandboxInstance, SandboxTier } from '../../src/sandbox/tier.js';
import { assertFails, assertRejects, assertResult, sandboxTierCompliance } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

sandboxTierCompliance('isolate', () => createIsolateTier(), { nodeApis: false });

const PROBE = `
let counter = 0;
exports.handler = async (event, context) => {
  switch (event.op) {
    case 'globals': return {
      process: typeof process, require: typeof require, Buffer: typeof Buffer, fetch: typeof fetch,
      setImmediate: typeof setImmediate, globalRequire: typeof globalThis.require,
    };
    case 'require': return require(event.name);
    case 'count': globalThis.leak = (globalThis.leak ?? 0) + 1; return ++counter;
    case 'peek': return { leak: globalThis.leak ?? null, counter };
    case 'apis': {
      const bytes = new TextEncoder().encode('héllo ✓ 😀');
      const url = new URL('/a/b?x=1&y=two%20words#h', 'https://example.com:8443');
      url.searchParams.append('z', '3');
      const random = crypto.getRandomValues(new Uint8Array(16));
      await new Promise((resolve) => setTimeout(resolve, 1));
      const cleared = await new Promise((resolve) => {
        const id = setTimeout(() => resolve('fired'), 1);
        clearTimeout(id);
        setTimeout(() => resolve('cleared'), 2);
      });
      return {
        decoded: new TextDecoder().decode(bytes), length: bytes.length,
        href: url.href, host: url.host, y: url.searchParams.get('y'),
        randomLength: random.length, nonZero: random.some((b) => b !== 0), cleared,
        uuid: /^[0-9a-f-]{36}$/.test(crypto.randomUUID()), env: context.env,
      };
    }
    case 'console': console.log('one', { a: 1 }, [2]); console.warn('two %d', 2); return 'logged';
    case 'bomb': { const hold = []; for (;;) hold.push(new Array(100000).fill(hold.length)); }
    case 'spin': for (;;) {}
    default: return event.op;
  }
};
`;

describe('isolate tier isolation', () => {
  const dirs = new FixtureDirs();
  let tier: SandboxTier;
  let dir: string;
  before(async () => {
    tier = createIsolateTier();
    dir = await dirs.make({
      'probe.cjs': PROBE,
      'needs-fs.cjs': `const fs = require('fs'); exports.handler = () => fs;`,
      'imports-fs.mjs': `import { readFileSync } from 'node:fs'; export default () => readFileSync;`,
      'tla.mjs': `const v = await new Promise((r) => setTimeout(() => r(41), 5)); export const handler = () => v + 1;`,
      'noisy.cjs': `console.log('top level'); exports.handler = () => 1;`,
    });
  });
  after(async () => {
    await tier.close();
    await dirs.cleanup();
  });
  const call = (instance: SandboxInstance, event: unknown, timeoutMs = 30_000) =>
    instance.invoke({ requestId: `r-${Math.random()}`, event, timeoutMs });

  test('an isolate sees no process, require, Buffer, fetch or host environment', async () => {
    process.env.KINDLING_HOST_SECRET = 'hunter2';
    try {
      const instance = await tier.start(specFor(dir, 'probe.cjs', { env: { ONLY: 'this' } }));
      assert.deepEqual(assertResult(await call(instance, { op: 'globals' })), {
        process: 'undefined',
        require: 'function', // the CommonJS wrapper's, which only throws
        Buffer: 'undefined',
        fetch: 'undefined',
        setImmediate: 'undefined',
        globalRequire: 'undefined',
      });
      const apis = assertResult(await call(instance, { op: 'apis' })) as Record<string, unknown>;
      assert.deepEqual(apis.env, { ONLY: 'this' });
      await instance.stop();
    } finally {
      delete process.env.KINDLING_HOST_SECRET;
    }
  });

  test('require() of a Node module fails with a message naming it and the process tier', async () => {
    const instance = await tier.start(specFor(dir, 'probe.cjs'));
    const err = assertFails(await call(instance, { op: 'require', name: 'fs' }), 'KINDLING_HANDLER_ERROR');
    assert.match(err.message, /require\("fs"\)/);
    assert.match(err.message, /tier: "process"/);
    await instance.stop();
    const atLoad = await assertRejects(tier.start(specFor(dir, 'needs-fs.cjs')), 'KINDLING_INIT_FAILED');
    assert.match(atLoad.message, /require\("fs"\)/);
    const esm = await assertRejects(tier.start(specFor(dir, 'imports-fs.mjs')), 'KINDLING_INIT_FAILED');
    assert.match(esm.message, /node:fs/);
    assert.match(esm.message, /tier: "process"/);
  });

  test('the provided Web APIs work: TextEncoder/Decoder, URL, crypto, timers', async () => {
    const instance = await tier.start(specFor(dir, 'probe.cjs'));
    const apis = assertResult(await call(instance, { op: 'apis' })) as Record<string, unknown>;
    assert.equal(apis.decoded, 'héllo ✓ 😀');
    assert.equal(apis.length, Buffer.byteLength('héllo ✓ 😀'));
    assert.equal(apis.href, 'https://example.com:8443/a/b?x=1&y=two+words&z=3#h');
    assert.equal(apis.host, 'example.com:8443');
    assert.equal(apis.y, 'two words');
    assert.equal(apis.randomLength, 16);
    assert.equal(apis.nonZero, true);
    assert.equal(apis.cleared, 'cleared');
    assert.equal(apis.uuid, true);
    await instance.stop();
  });

  test('console output of a lone invocation is its own; top-level output is the instance’s', async () => {
    const instance = await tier.start(specFor(dir, 'noisy.cjs'));
    assert.deepEqual(
      instance.takeInstanceLogs?.().logs.map((l) => l.msg),
      ['top level'],
    );
    await instance.stop();
    const probe = await tier.start(specFor(dir, 'probe.cjs'));
    const outcome = await call(probe, { op: 'console' });
    assert.deepEqual(
      outcome.logs.map((l: { level: string; msg: string }) => `${l.level}:${l.msg}`),
      ['log:one { a: 1 } [ 2 ]', 'warn:two 2'],
    );
    await probe.stop();
  });

  test('an ES module with top-level await loads', async () => {
    const instance = await tier.start(specFor(dir, 'tla.mjs'));
    assert.equal(assertResult(await call(instance, {})), 42);
    await instance.stop();
  });

  test('a stack the function writes cannot make the host read a map outside its code directory', async () => {
    // The host maps the frames an isolate reports; a frame is text the function controls.
    const map = (source: string) => JSON.stringify({ version: 3, sources: [source], mappings: 'AAAA' });
    const crafted = await dirs.make({
      'inside.cjs.map': map('INSIDE.ts'),
      'crafted.cjs': `exports.handler = () => {
        const err = new Error('crafted');
        err.stack = 'Error: crafted\\n    at a (fixture/inside.cjs:1:1)\\n    at b (fixture/../outside/x.cjs:1:1)';
        throw err;
      };`,
    });
    mkdirSync(join(crafted, '..', 'outside'), { recursive: true });
    writeFileSync(join(crafted, '..', 'outside', 'x.cjs.map'), map('OUTSIDE.ts'));
    const instance = await tier.start(specFor(crafted, 'crafted.cjs'));
    const stack = String(assertFails(await call(instance, {}), 'KINDLING_HANDLER_ERROR').details?.stack);
    assert.match(stack, /at a \(fixture\/INSIDE\.ts:1:1\)/, stack);
    assert.match(stack, /at b \(fixture\/\.\.\/outside\/x\.cjs:1:1\)/, stack);
    await instance.stop();
  });

  test("one function's state is invisible to another's instance (and to another instance)", async () => {
    const other = await dirs.make({ 'probe.cjs': PROBE });
    const a = await tier.start(specFor(dir, 'probe.cjs', { functionName: 'a' }));
    const a2 = await tier.start(specFor(dir, 'probe.cjs', { functionName: 'a' }));
    const b = await tier.start(specFor(other, 'probe.cjs', { functionName: 'b' }));
    assert.equal(assertResult(await call(a, { op: 'count' })), 1);
    assert.equal(assertResult(await call(a, { op: 'count' })), 2);
    assert.deepEqual(assertResult(await call(a, { op: 'peek' })), { leak: 2, counter: 2 });
    assert.deepEqual(assertResult(await call(b, { op: 'peek' })), { leak: null, counter: 0 });
    assert.deepEqual(assertResult(await call(a2, { op: 'peek' })), { leak: null, counter: 0 });
    await Promise.all([a.stop(), a2.stop(), b.stop()]);
  });

  test('a memory bomb and an infinite loop are contained; the host keeps serving', async () => {
    const bystander = await tier.start(specFor(dir, 'probe.cjs', { functionName: 'bystander' }));
    const bomb = await tier.start(specFor(dir, 'probe.cjs', { memoryMb: 16 }));
    const err = assertFails(await call(bomb, { op: 'bomb' }), 'KINDLING_MEMORY_LIMIT');
    assert.match(err.message, /limit of 16 MiB/);
    assert.equal((await bomb.exited).reason, 'memory');
    const spinner = await tier.start(specFor(dir, 'probe.cjs'));
    assertFails(await call(spinner, { op: 'spin' }, 200), 'KINDLING_TIMEOUT');
    assert.equal((await spinner.exited).reason, 'timeout');
    assert.equal(assertResult(await call(bystander, { op: 'still here' })), 'still here');
    const fresh = await tier.start(specFor(dir, 'probe.cjs'));
    assert.equal(assertResult(await call(fresh, { op: 'fresh' })), 'fresh');
    assert.ok((fresh.memoryBytes() ?? 1) > 0);
    await Promise.all([bystander.stop(), fresh.stop()]);
  });

  test('a memoryMb below isolated-vm’s minimum is refused', async () => {
    const err = await assertRejects(
      tier.start(specFor(dir, 'probe.cjs', { memoryMb: 4 })),
      'KINDLING_INVALID_CONFIG',
    );
    assert.match(err.message, /8 MiB/);
  });
});
