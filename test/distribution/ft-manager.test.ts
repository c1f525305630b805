import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { FtManager } from '../../src/distribution/ft-manager.js';
import { REGISTRY } from '../../src/distribution/function-tree.js';
import type { FunctionTreeView, HostId, Upstream } from '../../src/distribution/function-tree.js';
import { byHost, checkInvariants, diffUpstreams, hostName, prng, upstreams } from './tree-checks.js';

const isCode = (code: string) => (err: unknown) => KindlingError.is(err) && err.code === code;
const FNS = ['acme/api', 'acme/cron', 'zeta/resize'];

function snapshot(m: FtManager): Map<string, Map<HostId, Upstream>> {
  return new Map(m.functions().map((fn) => [fn, upstreams(m.treeOf(fn) as FunctionTreeView)]));
}

describe('FtManager', () => {
  it('keeps one tree per function; a host can sit at different places in different trees', () => {
    const m = new FtManager();
    for (let i = 0; i < 7; i++) m.join('acme/api', hostName(i));
    for (let i = 6; i >= 0; i--) m.join('acme/cron', hostName(i));
    assert.deepEqual(m.functions(), ['acme/api', 'acme/cron']);
    assert.equal(m.treeOf('acme/api')?.root, 'h0000');
    assert.equal(m.treeOf('acme/cron')?.root, 'h0006');
    assert.equal(m.treeOf('acme/api')?.parentOf('h0006'), 'h0002');
    assert.equal(m.treeOf('acme/cron')?.parentOf('h0006'), REGISTRY);
    assert.deepEqual(m.functionsOf('h0003'), ['acme/api', 'acme/cron']);
    assert.equal(m.treeOf('nope'), undefined);
  });

  it('reports the function with each change', () => {
    const m = new FtManager();
    assert.deepEqual(m.join('f', 'a'), {
      fn: 'f',
      op: 'insert',
      host: 'a',
      moved: [{ host: 'a', oldParent: undefined, newParent: REGISTRY }],
    });
    assert.deepEqual(m.join('f', 'b').moved, [{ host: 'b', oldParent: undefined, newParent: 'a' }]);
  });

  it('removes a dead host from every tree it is in, one exact change per tree', () => {
    const m = new FtManager();
    const rnd = prng(5);
    for (let i = 0; i < 60; i++) {
      for (const fn of FNS) if (rnd() < 0.7) m.join(fn, hostName(i));
    }
    for (const victim of ['h0000', 'h0017', 'h0042', 'h0059']) {
      const inTrees = m.functionsOf(victim);
      assert.ok(inTrees.length > 0);
      const before = snapshot(m);
      const changes = m.leave(victim);
      const after = snapshot(m);
      assert.deepEqual(
        changes.map((c) => c.fn),
        inTrees,
      );
      for (const c of changes) {
        assert.equal(c.op, 'remove');
        assert.equal(c.host, victim);
        assert.deepEqual(
          byHost(c.moved),
          diffUpstreams(before.get(c.fn) ?? new Map(), after.get(c.fn) ?? new Map()),
        );
      }
      // Trees the host was not in are untouched.
      for (const fn of FNS.filter((f) => !inTrees.includes(f)))
        assert.deepEqual(after.get(fn), before.get(fn));
      for (const fn of m.functions()) {
        const tree = m.treeOf(fn) as FunctionTreeView;
        assert.equal(tree.has(victim), false);
        checkInvariants(tree);
      }
      assert.deepEqual(m.functionsOf(victim), []);
      // Failure detection may report the same host twice.
      assert.deepEqual(m.leave(victim), []);
    }
  });

  it('removes a host from one function only, and drops a tree once it is empty', () => {
    const m = new FtManager();
    m.join('f', 'a');
    m.join('g', 'a');
    m.join('g', 'b');
    const change = m.remove('f', 'a');
    assert.deepEqual(change.moved, [{ host: 'a', oldParent: REGISTRY, newParent: undefined }]);
    assert.deepEqual(m.functions(), ['g']);
    assert.deepEqual(m.functionsOf('a'), ['g']);
    assert.deepEqual(m.toJSON(), [
      {
        fn: 'g',
        tree: {
          size: 2,
          height: 2,
          root: { host: 'a', left: { host: 'b', left: null, right: null }, right: null },
        },
      },
    ]);
    m.leave('a');
    m.leave('b');
    assert.deepEqual(m.functions(), []);
    assert.deepEqual(m.toJSON(), []);
  });

  it('rejects bad input with stable codes, leaving state unchanged', () => {
    const m = new FtManager();
    m.join('f', 'a');
    assert.throws(() => m.join('f', 'a'), isCode('KINDLING_CONFLICT'));
    assert.throws(() => m.join('', 'a'), isCode('KINDLING_BAD_REQUEST'));
    assert.throws(() => m.join('g', ''), isCode('KINDLING_BAD_REQUEST'));
    assert.throws(() => m.join('g', REGISTRY), isCode('KINDLING_BAD_REQUEST'));
    assert.throws(() => m.remove('f', 'zz'), isCode('KINDLING_NOT_FOUND'));
    assert.throws(() => m.remove('nope', 'a'), isCode('KINDLING_NOT_FOUND'));
    assert.deepEqual(m.functions(), ['f']);
    assert.deepEqual(m.functionsOf('a'), ['f']);
    assert.deepEqual(m.functionsOf(REGISTRY), []);
  });
});
