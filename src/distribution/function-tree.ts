/**
 * A function tree (FaaSNet, USENIX ATC'21, the FT design): one balanced binary tree of hosts per function,
 * along which a function's image flows. The root fetches from the registry; every other host fetches
 * from its parent, which forwards each block as soon as it has it. Each host therefore has exactly one
 * upstream and at most two downstream transfers, and the number of hops from the registry to the
 * farthest host is the tree's height, kept O(log n).
 *
 * Unlike a search tree, a function tree has no key order: only its shape matters. That is what lets
 * FaaSNet insert breadth-first (the new host goes under the shallowest host with a free slot) and
 * still use AVL rotations on delete, since rotations are valid reshapings of any binary tree.
 *
 * Pure and deterministic: no clock, no I/O, no randomness, so the scheduler and the simulator run the
 * same code and get the same trees.
 */
import { KindlingError } from '../core/errors.js';

/** A host (worker agent) identifier, as the scheduler names it. */
export type HostId = string;

/** The upstream of the root: the root fetches blocks from the registry, not from a peer. */
export const REGISTRY = 'registry' as const;

/** Where a host fetches from: its parent host, or the registry for the root. */
export type Upstream = HostId | typeof REGISTRY;

/** One host whose upstream changed during an operation. `undefined` means "not in the tree". */
export interface ParentChange {
  readonly host: HostId;
  /** The upstream before the operation; `undefined` for the host that was inserted. */
  readonly oldParent: Upstream | undefined;
  /** The upstream after the operation; `undefined` for the host that was removed. */
  readonly newParent: Upstream | undefined;
}

/** What one insert or remove did to the tree. */
export interface TreeChange {
  readonly op: 'insert' | 'remove';
  /** The host inserted or removed. */
  readonly host: HostId;
  /**
   * Every host whose upstream changed, and only those: the inserted or removed host itself, the
   * children re-pointed to a replacement, and the hosts moved by rotations. The removed host comes
   * first (its transfers are cancelled), then hosts by depth in the new tree, shallowest first, so the
   * distribution layer re-parents upstream transfers before the ones that hang below them.
   */
  readonly moved: readonly ParentChange[];
}

/** The JSON form of one node; `left` and `right` are kept apart so positions survive a round trip. */
export interface TreeNodeJSON {
  host: HostId;
  left: TreeNodeJSON | null;
  right: TreeNodeJSON | null;
}

/** The JSON form of a tree: the root node, or `null` when the tree is empty. */
export interface FunctionTreeJSON {
  size: number;
  height: number;
  root: TreeNodeJSON | null;
}

/** The read-only queries of a {@link FunctionTree}; what the FT manager hands out. */
export interface FunctionTreeView {
  /** Number of hosts in the tree. */
  readonly size: number;
  /** The root host (the one that fetches from the registry), or `undefined` when empty. */
  readonly root: HostId | undefined;
  /** True when `host` is in the tree. */
  has(host: HostId): boolean;
  /** The host's upstream: its parent, `REGISTRY` for the root, `undefined` for a host not in the tree. */
  parentOf(host: HostId): Upstream | undefined;
  /** The host's children, left before right; empty for a leaf or a host not in the tree. */
  childrenOf(host: HostId): HostId[];
  /** Hops from the root (the root is 0), or `undefined` for a host not in the tree. */
  depthOf(host: HostId): number | undefined;
  /** Number of levels (0 when empty): the longest chain of transfers from the registry. */
  height(): number;
  /** All hosts in breadth-first order (root first, each level left to right). */
  hosts(): HostId[];
  toJSON(): FunctionTreeJSON;
}

interface TreeNode {
  readonly host: HostId;
  parent: TreeNode | undefined;
  left: TreeNode | undefined;
  right: TreeNode | undefined;
  /** Levels in this subtree (a leaf is 1). */
  height: number;
  /**
   * Relative depth of the shallowest node in this subtree with a free child slot (0 when this node has
   * one). Kept per node so insert finds the breadth-first slot in O(log n) instead of scanning levels.
   */
  freeDepth: number;
}

const heightOf = (n: TreeNode | undefined): number => (n ? n.height : 0);

/** Rejects host ids that could not be told apart from the registry sentinel or are empty. */
function checkHostId(host: HostId): void {
  if (typeof host !== 'string' || host.length === 0) {
    throw new KindlingError('KINDLING_BAD_REQUEST', 'a host id must be a non-empty string', { host });
  }
  if (host === REGISTRY) {
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `"${REGISTRY}" is reserved for the root's upstream and cannot name a host; use another host id`,
      { host },
    );
  }
}

/**
 * One function tree. `insert` fills the tree breadth-first; `remove` puts a leaf from the removed
 * host's subtree in its place and rebalances with AVL rotations, so after every operation each node's
 * subtrees differ in height by at most one. Both return the exact list of hosts whose upstream changed.
 */
export class FunctionTree implements FunctionTreeView {
  private rootNode: TreeNode | undefined;
  private readonly nodes = new Map<HostId, TreeNode>();
  /** Hosts touched by the running operation, with their upstream before it; see `touch`. */
  private touched = new Map<TreeNode, Upstream | undefined>();

  /** {@inheritDoc FunctionTreeView.size} */
  get size(): number {
    return this.nodes.size;
  }

  /** {@inheritDoc FunctionTreeView.root} */
  get root(): HostId | undefined {
    return this.rootNode?.host;
  }

  /** {@inheritDoc FunctionTreeView.has} */
  has(host: HostId): boolean {
    return this.nodes.has(host);
  }

  /** {@inheritDoc FunctionTreeView.parentOf} */
  parentOf(host: HostId): Upstream | undefined {
    const n = this.nodes.get(host);
    return n ? this.upstreamOf(n) : undefined;
  }

  /** {@inheritDoc FunctionTreeView.childrenOf} */
  childrenOf(host: HostId): HostId[] {
    const n = this.nodes.get(host);
    const out: HostId[] = [];
    if (n?.left) out.push(n.left.host);
    if (n?.right) out.push(n.right.host);
    return out;
  }

  /** {@inheritDoc FunctionTreeView.depthOf} */
  depthOf(host: HostId): number | undefined {
    let n = this.nodes.get(host);
    if (!n) return undefined;
    let depth = 0;
    while (n.parent) {
      n = n.parent;
      depth++;
    }
    return depth;
  }

  /** {@inheritDoc FunctionTreeView.height} */
  height(): number {
    return heightOf(this.rootNode);
  }

  /** {@inheritDoc FunctionTreeView.hosts} */
  hosts(): HostId[] {
    const out: HostId[] = [];
    const queue: TreeNode[] = this.rootNode ? [this.rootNode] : [];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i] as TreeNode;
      out.push(n.host);
      if (n.left) queue.push(n.left);
      if (n.right) queue.push(n.right);
    }
    return out;
  }

  /** {@inheritDoc FunctionTreeView.toJSON} */
  toJSON(): FunctionTreeJSON {
    const walk = (n: TreeNode | undefined): TreeNodeJSON | null =>
      n ? { host: n.host, left: walk(n.left), right: walk(n.right) } : null;
    return { size: this.size, height: this.height(), root: walk(this.rootNode) };
  }

  /**
   * Adds `host` under the shallowest host with a free child slot (leftmost at that depth, left slot
   * first), as FaaSNet's FT insert does: a new host hangs as close to the registry as the tree allows.
   * Throws KINDLING_CONFLICT when the host is already in the tree, KINDLING_BAD_REQUEST for a bad id.
   */
  insert(host: HostId): TreeChange {
    checkHostId(host);
    if (this.nodes.has(host)) {
      throw new KindlingError(
        'KINDLING_CONFLICT',
        `host "${host}" is already in this function tree; remove it before inserting it again`,
        { host },
      );
    }
    const node: TreeNode = {
      host,
      parent: undefined,
      left: undefined,
      right: undefined,
      height: 1,
      freeDepth: 0,
    };
    this.touch(node);
    this.nodes.set(host, node);
    const at = this.freeSlot();
    if (!at) {
      this.setRoot(node);
    } else {
      if (!at.left) at.left = node;
      else at.right = node;
      this.setParent(node, at);
      // Breadth-first insertion into an AVL tree keeps it AVL (every host above the free slot has two
      // children, so no sibling subtree can be two levels shorter); retracing still runs, to refresh
      // heights and free-slot depths on the path, and would rotate if that reasoning ever broke.
      this.retrace(at);
    }
    return this.finish('insert', host);
  }

  /**
   * Removes `host`. A leaf is simply detached. An inner host is replaced by the deepest leaf of its own
   * subtree, so only that leaf and the removed host's children get a new parent: replacing the node, as
   * FaaSNet's FT delete does, rather than re-inserting its subtree, which would restart transfers that
   * were already streaming. The path above the vacated leaf is then rebalanced with AVL rotations.
   * Throws KINDLING_NOT_FOUND when the host is not in the tree.
   */
  remove(host: HostId): TreeChange {
    const x = this.nodes.get(host);
    if (!x) {
      throw new KindlingError('KINDLING_NOT_FOUND', `host "${host}" is not in this function tree`, { host });
    }
    this.touch(x);
    let retraceFrom: TreeNode | undefined;
    if (!x.left && !x.right) {
      retraceFrom = x.parent;
      this.replaceInParent(x, undefined);
    } else {
      const y = this.deepestLeaf(x);
      const yp = y.parent as TreeNode;
      // Detach the leaf first, so that when it was x's own child it is not copied under itself.
      if (yp.left === y) yp.left = undefined;
      else yp.right = undefined;
      y.left = x.left;
      y.right = x.right;
      if (y.left) this.setParent(y.left, y);
      if (y.right) this.setParent(y.right, y);
      this.replaceInParent(x, y);
      retraceFrom = yp === x ? y : yp;
    }
    x.left = undefined;
    x.right = undefined;
    this.nodes.delete(host);
    if (retraceFrom) this.retrace(retraceFrom);
    return this.finish('remove', host);
  }

  private upstreamOf(n: TreeNode): Upstream | undefined {
    if (n.parent) return n.parent.host;
    return n === this.rootNode ? REGISTRY : undefined;
  }

  /**
   * Records a host's upstream before its first change in this operation. Every write to a `parent`
   * pointer or to the root goes through `setParent` / `setRoot`, which call this first; `finish` then
   * compares against the final upstreams, so the reported change is exact by construction.
   */
  private touch(n: TreeNode): void {
    if (!this.touched.has(n)) this.touched.set(n, this.upstreamOf(n));
  }

  private setParent(n: TreeNode, parent: TreeNode | undefined): void {
    this.touch(n);
    n.parent = parent;
  }

  private setRoot(n: TreeNode | undefined): void {
    if (this.rootNode) this.touch(this.rootNode);
    if (n) this.touch(n);
    this.rootNode = n;
    if (n) n.parent = undefined;
  }

  /** Puts `replacement` (or nothing) where `old` hangs: under old's parent, or at the root. */
  private replaceInParent(old: TreeNode, replacement: TreeNode | undefined): void {
    const p = old.parent;
    if (!p) {
      this.setRoot(replacement);
    } else {
      if (p.left === old) p.left = replacement;
      else p.right = replacement;
      if (replacement) this.setParent(replacement, p);
    }
    this.setParent(old, undefined);
  }

  /** The breadth-first insertion point: shallowest node with a free slot, leftmost among equals. */
  private freeSlot(): TreeNode | undefined {
    let n = this.rootNode;
    while (n?.left && n.right) n = n.left.freeDepth <= n.right.freeDepth ? n.left : n.right;
    return n;
  }

  /**
   * The leaf that replaces a removed inner node: follow the taller child down (the right one on a
   * tie, mirroring breadth-first insertion, which fills left first), so the leaf comes off the
   * deepest level, where losing it most often lowers an over-tall side instead of unbalancing one.
   */
  private deepestLeaf(from: TreeNode): TreeNode {
    let n = from;
    for (;;) {
      const l = heightOf(n.left);
      const r = heightOf(n.right);
      if (l === 0 && r === 0) return n;
      n = (l > r ? n.left : n.right) as TreeNode;
    }
  }

  private update(n: TreeNode): void {
    n.height = 1 + Math.max(heightOf(n.left), heightOf(n.right));
    n.freeDepth = n.left && n.right ? 1 + Math.min(n.left.freeDepth, n.right.freeDepth) : 0;
  }

  /** Refreshes heights from `from` to the root, rotating wherever a node's subtrees differ by two. */
  private retrace(from: TreeNode): void {
    let n: TreeNode | undefined = from;
    while (n) {
      this.update(n);
      const balance = heightOf(n.left) - heightOf(n.right);
      if (balance > 1) {
        const l = n.left as TreeNode;
        if (heightOf(l.left) < heightOf(l.right)) this.rotateLeft(l);
        n = this.rotateRight(n);
      } else if (balance < -1) {
        const r = n.right as TreeNode;
        if (heightOf(r.right) < heightOf(r.left)) this.rotateRight(r);
        n = this.rotateLeft(n);
      }
      n = n.parent;
    }
  }

  /** Lifts z's left child y into z's place; z becomes y's right child and takes y's old right subtree. */
  private rotateRight(z: TreeNode): TreeNode {
    const y = z.left as TreeNode;
    const t = y.right;
    this.replaceInParent(z, y);
    y.right = z;
    this.setParent(z, y);
    z.left = t;
    if (t) this.setParent(t, z);
    this.update(z);
    this.update(y);
    return y;
  }

  /** Mirror of {@link rotateRight}. */
  private rotateLeft(z: TreeNode): TreeNode {
    const y = z.right as TreeNode;
    const t = y.left;
    this.replaceInParent(z, y);
    y.left = z;
    this.setParent(z, y);
    z.right = t;
    if (t) this.setParent(t, z);
    this.update(z);
    this.update(y);
    return y;
  }

  private finish(op: TreeChange['op'], host: HostId): TreeChange {
    const moved: { change: ParentChange; depth: number }[] = [];
    for (const [n, oldParent] of this.touched) {
      const newParent = this.upstreamOf(n);
      if (newParent === oldParent) continue;
      const depth = newParent === undefined ? -1 : (this.depthOf(n.host) as number);
      moved.push({ change: { host: n.host, oldParent, newParent }, depth });
    }
    this.touched = new Map();
    moved.sort((a, b) => a.depth - b.depth || (a.change.host < b.change.host ? -1 : 1));
    return { op, host, moved: moved.map((m) => m.change) };
  }
}
