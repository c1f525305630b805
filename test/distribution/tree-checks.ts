/**
 * Shared checks for function-tree tests: the structural invariants, computed independently of the
 * tree's own bookkeeping (from its JSON form and its public queries), a deterministic PRNG, and a diff
 * of upstreams to hold each reported change against.
 */
import assert from 'node:assert/strict';
import { REGISTRY } from '../../src/distribution/function-tree.js';
import type {
  FunctionTreeView,
  HostId,
  ParentChange,
  TreeNodeJSON,
  Upstream,
} from '../../src/distribution/function-tree.js';

/** mulberry32: a tiny seeded PRNG, so "random" deletions are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Host ids `h0`, `h1`, …, zero-padded so string order matches number order. */
export const hostName = (i: number): HostId => `h${String(i).padStart(4, '0')}`;

/**
 * Asserts every invariant of a function tree: ≤ 2 children per host (by construction of the JSON
 * shape), AVL balance at every node, no host twice, parent and child views agreeing, the root's
 * upstream being the registry, and `size`, `height`, `depthOf` and `hosts()` matching the structure.
 */
export function checkInvariants(tree: FunctionTreeView): void {
  const json = tree.toJSON();
  const seen = new Set<HostId>();
  const walk = (n: TreeNodeJSON | null, parent: Upstream, depth: number): number => {
    if (!n) return 0;
    assert.ok(!seen.has(n.host), `host ${n.host} appears twice`);
    seen.add(n.host);
    assert.equal(tree.parentOf(n.host), parent, `parent of ${n.host}`);
    assert.equal(tree.depthOf(n.host), depth, `depth of ${n.host}`);
    const kids = [n.left, n.right].filter((c): c is TreeNodeJSON => c !== null).map((c) => c.host);
    assert.deepEqual(tree.childrenOf(n.host), kids, `children of ${n.host}`);
    assert.ok(kids.length <= 2);
    const hl = walk(n.left, n.host, depth + 1);
    const hr = walk(n.right, n.host, depth + 1);
    assert.ok(Math.abs(hl - hr) <= 1, `AVL balance broken at ${n.host}: left ${hl}, right ${hr}`);
    return 1 + Math.max(hl, hr);
  };
  const height = walk(json.root, REGISTRY, 0);
  assert.equal(json.height, height);
  assert.equal(tree.height(), height);
  assert.equal(tree.size, seen.size);
  assert.equal(json.size, seen.size);
  assert.equal(tree.root, json.root?.host);
  const bfs = tree.hosts();
  assert.equal(bfs.length, seen.size);
  assert.deepEqual(new Set(bfs), seen);
  // AVL height bound: a tree of height h has at least F(h+2) - 1 nodes.
  if (seen.size > 0)
    assert.ok(height <= 1.4405 * Math.log2(seen.size + 2), `height ${height} for ${seen.size}`);
}

/** Every host's upstream, for diffing before and after an operation. */
export function upstreams(tree: FunctionTreeView): Map<HostId, Upstream> {
  return new Map(tree.hosts().map((h) => [h, tree.parentOf(h) as Upstream]));
}

/** The exact set of upstream changes between two snapshots, sorted by host. */
export function diffUpstreams(before: Map<HostId, Upstream>, after: Map<HostId, Upstream>): ParentChange[] {
  const out: ParentChange[] = [];
  for (const host of new Set([...before.keys(), ...after.keys()])) {
    const oldParent = before.get(host);
    const newParent = after.get(host);
    if (oldParent !== newParent) out.push({ host, oldParent, newParent });
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : 1));
}

/** A change list sorted by host, for comparing as a set. */
export const byHost = (moved: readonly ParentChange[]): ParentChange[] =>
  [...moved].sort((a, b) => (a.host < b.host ? -1 : 1));

/** The first host in breadth-first order with fewer than two children: where an insert must go. */
export function firstFreeSlot(tree: FunctionTreeView): HostId | undefined {
  return tree.hosts().find((h) => tree.childrenOf(h).length < 2);
}
