import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { FunctionTree, REGISTRY } from '../../src/distribution/function-tree.js';
import type { HostId, TreeChange } from '../../src/distribution/function-tree.js';
import {
  byHost,
  checkInvariants,
  diffUpstreams,
  firstFreeSlot,
  hostName,
  prng,
  upstreams,
} from './tree-checks.js';

const isCode = (code: string) => (err: unknown) => KindlingError.is(err) && err.code === code;

/** Runs one operation and asserts the reported change is exactly the upstream diff, and the invariants. */
function checked(tree: FunctionTree, op: () => TreeChange): TreeChange {
  const before = upstreams(tree);
  const change = op();
  const after = upstreams(tree);
  assert.deepEqual(byHost(change.moved), diffUpstreams(before, after));
  checkInvariants(tree);
  // Removed host first, then shallowest first.
  const depths = change.moved.map((m) => (m.newParent === undefined ? -1 : (tree.depthOf(m.host) as number)));
  assert.deepEqual(
    depths,
    [...depths].sort((a, b) => a - b),
  );
  return change;
}

/** A tree of hosts h0..h(n-1), inserted in order. */
function treeOf(n: number): FunctionTree {
  const tree = new FunctionTree();
  for (let i = 0; i < n; i++) tree.insert(hostName(i));
  return tree;
}

describe('FunctionTree insert', () => {
  it('fills the tree breadth-first, as a heap: host i hangs under host floor((i-1)/2)', () => {
    const tree = new FunctionTree();
    for (let i = 0; i < 1000; i++) {
      const host = hostName(i);
      const change = checked(tree, () => tree.insert(host));
      const parent = i === 0 ? REGISTRY : hostName(Math.floor((i - 1) / 2));
      // Only the new host moves: no rotation and no re-pointing on insert.
      assert.deepEqual(change, {
        op: 'insert',
        host,
        moved: [{ host, oldParent: undefined, newParent: parent }],
      });
      assert.equal(tree.height(), Math.floor(Math.log2(i + 1)) + 1);
    }
    assert.deepEqual(
      tree.hosts(),
      Array.from({ length: 1000 }, (_, i) => hostName(i)),
    );
  });

  it('lays out the first levels level by level, left before right', () => {
    const tree = treeOf(7);
    assert.equal(tree.root, 'h0000');
    assert.deepEqual(tree.childrenOf('h0000'), ['h0001', 'h0002']);
    assert.deepEqual(tree.childrenOf('h0001'), ['h0003', 'h0004']);
    assert.deepEqual(tree.childrenOf('h0002'), ['h0005', 'h0006']);
    assert.deepEqual(tree.childrenOf('h0003'), []);
    assert.equal(tree.depthOf('h0006'), 2);
    assert.deepEqual(tree.toJSON().root?.left?.right, { host: 'h0004', left: null, right: null });
  });

  it('rejects a duplicate, an empty id and the reserved registry id', () => {
    const tree = treeOf(3);
    assert.throws(() => tree.insert('h0001'), isCode('KINDLING_CONFLICT'));
    assert.throws(() => tree.insert(''), isCode('KINDLING_BAD_REQUEST'));
    assert.throws(() => tree.insert(REGISTRY), isCode('KINDLING_BAD_REQUEST'));
    assert.equal(tree.size, 3);
    checkInvariants(tree);
  });

  it('answers undefined or nothing for a host it does not hold', () => {
    const tree = treeOf(2);
    assert.equal(tree.parentOf('nope'), undefined);
    assert.equal(tree.depthOf('nope'), undefined);
    assert.deepEqual(tree.childrenOf('nope'), []);
    assert.equal(tree.has('nope'), false);
    assert.deepEqual(new FunctionTree().toJSON(), { size: 0, height: 0, root: null });
  });
});

describe('FunctionTree remove', () => {
  it('removes a leaf: only the leaf moves', () => {
    const tree = treeOf(7);
    const change = checked(tree, () => tree.remove('h0005'));
    assert.deepEqual(change.moved, [{ host: 'h0005', oldParent: 'h0002', newParent: undefined }]);
    assert.deepEqual(tree.childrenOf('h0002'), ['h0006']);
    // The freed slot is the shallowest one, so the next host takes it.
    checked(tree, () => tree.insert('new'));
    assert.equal(tree.parentOf('new'), 'h0002');
    assert.deepEqual(tree.childrenOf('h0002'), ['new', 'h0006']);
  });

  it('removes the root: a deepest leaf replaces it and the root children are re-pointed', () => {
    const tree = treeOf(7);
    const change = checked(tree, () => tree.remove('h0000'));
    assert.deepEqual(change.moved, [
      { host: 'h0000', oldParent: REGISTRY, newParent: undefined },
      { host: 'h0006', oldParent: 'h0002', newParent: REGISTRY },
      { host: 'h0001', oldParent: 'h0000', newParent: 'h0006' },
      { host: 'h0002', oldParent: 'h0000', newParent: 'h0006' },
    ]);
    assert.equal(tree.root, 'h0006');
  });

  it('removes an inner node: its children are re-pointed to the replacing leaf', () => {
    const tree = treeOf(15);
    const change = checked(tree, () => tree.remove('h0001'));
    assert.deepEqual(byHost(change.moved), [
      { host: 'h0001', oldParent: 'h0000', newParent: undefined },
      { host: 'h0003', oldParent: 'h0001', newParent: 'h0010' },
      { host: 'h0004', oldParent: 'h0001', newParent: 'h0010' },
      { host: 'h0010', oldParent: 'h0004', newParent: 'h0000' },
    ]);
    assert.deepEqual(tree.childrenOf('h0010'), ['h0003', 'h0004']);
  });

  it('removes a node whose replacement is its own child', () => {
    const tree = treeOf(3);
    checked(tree, () => tree.remove('h0002'));
    checked(tree, () => tree.remove('h0000'));
    assert.equal(tree.root, 'h0001');
    assert.deepEqual(tree.hosts(), ['h0001']);
    checked(tree, () => tree.remove('h0001'));
    assert.equal(tree.size, 0);
    assert.equal(tree.root, undefined);
    assert.throws(() => tree.remove('h0001'), isCode('KINDLING_NOT_FOUND'));
  });

  it('rebalances with a single rotation when removing a leaf leaves one side two levels short', () => {
    // h0's right side shrinks to the lone h2 (height 1) while its left side keeps height 3.
    const tree = treeOf(12);
    checked(tree, () => tree.remove('h0006'));
    checked(tree, () => tree.remove('h0005')); // replaced by its only child h0011
    const change = checked(tree, () => tree.remove('h0011'));
    // h1 rotates up into the root; h0 goes under it and adopts h1's right child h4.
    assert.deepEqual(change.moved, [
      { host: 'h0011', oldParent: 'h0002', newParent: undefined },
      { host: 'h0001', oldParent: 'h0000', newParent: REGISTRY },
      { host: 'h0000', oldParent: REGISTRY, newParent: 'h0001' },
      { host: 'h0004', oldParent: 'h0001', newParent: 'h0000' },
    ]);
    assert.deepEqual(tree.childrenOf('h0001'), ['h0003', 'h0000']);
    assert.deepEqual(tree.childrenOf('h0000'), ['h0004', 'h0002']);
    assert.equal(tree.height(), 4);
  });

  it('rebalances with a double rotation when the heavy side leans inward', () => {
    // Root h0 with a left child h1 whose only child is its right child: a left-right case.
    const tree = treeOf(5); // h0 -> h1 (h3, h4), h2
    checked(tree, () => tree.remove('h0003'));
    const change = checked(tree, () => tree.remove('h0002'));
    // h4 rises to the root between h1 and h0.
    assert.equal(tree.root, 'h0004');
    assert.deepEqual(tree.childrenOf('h0004'), ['h0001', 'h0000']);
    assert.deepEqual(byHost(change.moved), [
      { host: 'h0000', oldParent: REGISTRY, newParent: 'h0004' },
      { host: 'h0001', oldParent: 'h0000', newParent: 'h0004' },
      { host: 'h0002', oldParent: 'h0000', newParent: undefined },
      { host: 'h0004', oldParent: 'h0001', newParent: REGISTRY },
    ]);
  });

  for (const seed of [1, 2, 3, 42, 2021]) {
    it(`keeps every invariant under seeded random joins and leaves (seed ${seed})`, () => {
      const rnd = prng(seed);
      const tree = new FunctionTree();
      const present: HostId[] = [];
      let next = 0;
      let rotated = 0;
      for (let step = 0; step < 1500; step++) {
        // Grow to a few hundred hosts, then churn, then shrink to empty.
        const pInsert = step < 500 ? 0.8 : step < 1000 ? 0.5 : 0.05;
        if (present.length === 0 || rnd() < pInsert) {
          const host = hostName(next++);
          const slot = firstFreeSlot(tree);
          const change = checked(tree, () => tree.insert(host));
          assert.equal(tree.parentOf(host), slot ?? REGISTRY, `breadth-first slot for ${host}`);
          assert.equal(change.moved.length, 1);
          present.push(host);
        } else {
          const i = Math.floor(rnd() * present.length);
          const host = present[i] as HostId;
          present.splice(i, 1);
          const change = checked(tree, () => tree.remove(host));
          const repointedChildren = change.moved.filter((m) => m.oldParent === host).length;
          // The leaf that replaced an inner node adds one more; anything beyond that is a rotation.
          if (change.moved.length > 2 + repointedChildren) rotated++;
        }
        assert.equal(tree.size, present.length);
      }
      assert.equal(tree.size, 0);
      assert.ok(rotated > 0, 'the workload should exercise rotations');
    });
  }

  it('removes every host of a 1000-host tree in a seeded order, staying balanced', () => {
    const tree = treeOf(1000);
    const order = Array.from({ length: 1000 }, (_, i) => hostName(i));
    const rnd = prng(7);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j] as HostId, order[i] as HostId];
    }
    for (const host of order) checked(tree, () => tree.remove(host));
    assert.equal(tree.size, 0);
  });

  it('is deterministic: the same operations give the same tree and changes', () => {
    const run = () => {
      const tree = new FunctionTree();
      const rnd = prng(99);
      const log: TreeChange[] = [];
      for (let i = 0; i < 200; i++) log.push(tree.insert(hostName(i)));
      for (let i = 0; i < 100; i++) {
        const hosts = tree.hosts();
        log.push(tree.remove(hosts[Math.floor(rnd() * hosts.length)] as HostId));
      }
      return { log, json: tree.toJSON() };
    };
    assert.deepEqual(run(), run());
  });
});
