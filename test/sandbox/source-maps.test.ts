import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { originalPositions } from '../../src/sandbox/process/source-maps.cjs';
import { userStack } from '../../src/sandbox/process/user-errors.cjs';
import { SOURCE_MAPPED, bundleOf } from './fixtures.js';

/** Line and column (1-based) of the first occurrence of `text` in `code`. */
function positionOf(code: string, text: string): { line: number; column: number } {
  const at = code.indexOf(text);
  assert.ok(at >= 0, `${text} is in the code`);
  const before = code.slice(0, at).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

describe('source maps', () => {
  it("maps a bundle's positions back to each source's line and column", async () => {
    const bundle = await bundleOf(SOURCE_MAPPED, 'handler.ts');
    const found = originalPositions(bundle.map, [
      positionOf(bundle.code, 'new RangeError'),
      positionOf(bundle.code, 'check(event)'),
    ]);
    assert.deepEqual(found, [
      { source: 'lib.ts', line: 3, column: 11 },
      { source: 'handler.ts', line: 4, column: 19 },
    ]);
  });

  it('maps nothing it cannot read, and throws nothing', () => {
    const where = [{ line: 1, column: 1 }];
    assert.deepEqual(originalPositions('not json', where), [undefined]);
    assert.deepEqual(originalPositions('{"version":2,"sources":[],"mappings":""}', where), [undefined]);
    assert.deepEqual(originalPositions('{"version":3,"sources":["a.ts"],"mappings":"A!AA"}', where), [
      undefined,
    ]);
    // One segment at column 4 of line 1 ("IAAA": generated 4, source 0, line 0, column 0).
    const map = '{"version":3,"sources":["a.ts"],"sourceRoot":"src","mappings":"IAAA"}';
    assert.deepEqual(
      originalPositions(map, [{ line: 1, column: 3 }]),
      [undefined],
      'before the first segment',
    );
    assert.deepEqual(originalPositions(map, [{ line: 1, column: 9 }]), [
      { source: 'src/a.ts', line: 1, column: 1 },
    ]);
    assert.deepEqual(originalPositions(map, [{ line: 2, column: 1 }]), [undefined], 'past the last line');
    assert.deepEqual(originalPositions(map, [{ line: 0, column: 0 }]), [undefined]);
  });

  it('rewrites the frames a map covers, reads each map once per place, and leaves other frames alone', async () => {
    const bundle = await bundleOf(SOURCE_MAPPED, 'handler.ts');
    const reads: string[] = [];
    const where = {
      codeDir: '/img/abc',
      functionName: 'orders',
      readSourceMap: (file: string) => {
        reads.push(file);
        return file === '/img/abc/index.cjs' ? bundle.map : undefined;
      },
    };
    const at = (text: string) => {
      const p = positionOf(bundle.code, text);
      return `${p.line}:${p.column}`;
    };
    const stack = [
      'RangeError: order has no items',
      `    at check (/img/abc/index.cjs:${at('new RangeError')})`,
      `    at async file:///img/abc/index.cjs:${at('check(event)')}`,
      '    at helper (/img/abc/vendor.js:7:3)',
      '    at other (/elsewhere/x.js:1:1)',
    ].join('\n');
    const expected = [
      'RangeError: order has no items',
      '    at check (orders/lib.ts:3:11)',
      '    at async orders/handler.ts:4:19',
      '    at helper (orders/vendor.js:7:3)',
      '    at other (/elsewhere/x.js:1:1)',
    ].join('\n');
    assert.equal(userStack(stack, where), expected);
    assert.deepEqual(reads, ['/img/abc/index.cjs', '/img/abc/vendor.js']);
    // The same throw site again: no map is read.
    assert.equal(userStack(stack, where), expected);
    assert.equal(reads.length, 2);
  });

  it('names a function the bundler renamed as its author did, from the name the map gives its call', async () => {
    // Two modules with a top-level `check`: esbuild renames the entry's `check2`.
    const bundle = await bundleOf(
      {
        'lib.ts': `function check(order: unknown) { return order !== null; }
export function present(order: unknown) {
  return check(order);
}
`,
        'handler.ts': `import { present } from './lib';
function check(order: { items?: number[] }): number {
  if (!order.items) throw new RangeError('order has no items');
  return order.items.length;
}
export async function handler(event: { items?: number[] }) {
  return present(event) && { count: check(event) };
}
`,
      },
      'handler.ts',
    );
    assert.match(bundle.code, /function check2\(/);
    const dir = await mkdtemp(join(tmpdir(), 'kindling-renamed-'));
    try {
      // The stack V8 writes for the bundle, run from its real path.
      await writeFile(join(dir, 'index.cjs'), bundle.code);
      const { handler } = createRequire(import.meta.url)(join(dir, 'index.cjs')) as {
        handler: (e: unknown) => Promise<unknown>;
      };
      const stack = await handler({}).then(
        () => assert.fail('the handler threw'),
        (err: Error) => err.stack!,
      );
      assert.match(stack, /at check2 \(/);
      const where = { codeDir: dir, functionName: 'orders', readSourceMap: () => bundle.map };
      assert.deepEqual(userStack(stack, where).split('\n').slice(0, 3), [
        'RangeError: order has no items',
        '    at check (orders/handler.ts:3:27)',
        '    at handler (orders/handler.ts:7:37)',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
