/**
 * The FT manager (FaaSNet, USENIX ATC'21): the scheduler-side bookkeeping of one function tree
 * per function. A host joins a function's tree when it starts holding that function's image, is removed
 * from it when it stops (its instances reclaimed), and leaves every tree at once when it dies.
 *
 * Trees are per function, as in FaaSNet: a tree only spans the hosts that hold that function's image,
 * and a host sits at different depths in different trees, which spreads the upload work of inner
 * positions across hosts. Pure and deterministic, like {@link FunctionTree}.
 */
import { KindlingError } from '../core/errors.js';
import { FunctionTree } from './function-tree.js';
import type { FunctionTreeJSON, FunctionTreeView, HostId, TreeChange } from './function-tree.js';

/** A function's key as the scheduler names it (for example `tenant/name`); opaque to the manager. */
export type FunctionKey = string;

/** A {@link TreeChange} in the tree of function `fn`. */
export interface FtChange extends TreeChange {
  readonly fn: FunctionKey;
}

/**
 * The JSON form of the manager: every tree with its function, in function order. A list rather than an
 * object keyed by function, so no function key (such as `__proto__`) can collide with object internals.
 */
export type FtManagerJSON = { fn: FunctionKey; tree: FunctionTreeJSON }[];

function checkFunctionKey(fn: FunctionKey): void {
  if (typeof fn !== 'string' || fn.length === 0) {
    throw new KindlingError('KINDLING_BAD_REQUEST', 'a function key must be a non-empty string', { fn });
  }
}

/** One function tree per function, plus the reverse index from a host to the trees it is in. */
export class FtManager {
  private readonly trees = new Map<FunctionKey, FunctionTree>();
  private readonly byHost = new Map<HostId, Set<FunctionKey>>();

  /**
   * Adds `host` to the tree of `fn` (creating the tree for the function's first host, which becomes
   * the root and fetches from the registry). Throws KINDLING_CONFLICT when it is already there.
   */
  join(fn: FunctionKey, host: HostId): FtChange {
    checkFunctionKey(fn);
    let tree = this.trees.get(fn);
    const created = !tree;
    tree ??= new FunctionTree();
    const change = tree.insert(host);
    if (created) this.trees.set(fn, tree);
    let fns = this.byHost.get(host);
    if (!fns) this.byHost.set(host, (fns = new Set()));
    fns.add(fn);
    return { fn, ...change };
  }

  /**
   * Removes `host` from the tree of `fn` (its instances of `fn` were reclaimed); the tree is dropped
   * when it becomes empty. Throws KINDLING_NOT_FOUND when the host is not in that tree.
   */
  remove(fn: FunctionKey, host: HostId): FtChange {
    const tree = this.trees.get(fn);
    if (!tree?.has(host)) {
      throw new KindlingError('KINDLING_NOT_FOUND', `host "${host}" is not in the function tree of "${fn}"`, {
        fn,
        host,
      });
    }
    const change = tree.remove(host);
    if (tree.size === 0) this.trees.delete(fn);
    const fns = this.byHost.get(host);
    fns?.delete(fn);
    if (fns?.size === 0) this.byHost.delete(host);
    return { fn, ...change };
  }

  /**
   * Removes `host` from every tree it is in (the host died or was drained), one change per tree, in
   * function order. A host in no tree yields no changes rather than an error: failure detection may
   * report the same dead host more than once.
   */
  leave(host: HostId): FtChange[] {
    return this.functionsOf(host).map((fn) => this.remove(fn, host));
  }

  /** The tree of `fn`, read-only (changes go through the manager so its host index stays true). */
  treeOf(fn: FunctionKey): FunctionTreeView | undefined {
    return this.trees.get(fn);
  }

  /** Functions that have a tree, sorted. */
  functions(): FunctionKey[] {
    return [...this.trees.keys()].sort();
  }

  /** Functions whose tree holds `host`, sorted. */
  functionsOf(host: HostId): FunctionKey[] {
    return [...(this.byHost.get(host) ?? [])].sort();
  }

  /** Every tree in JSON form, in function order. */
  toJSON(): FtManagerJSON {
    return this.functions().map((fn) => ({ fn, tree: (this.trees.get(fn) as FunctionTree).toJSON() }));
  }
}
