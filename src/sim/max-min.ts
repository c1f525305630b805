/**
 * Max-min fair bandwidth allocation by progressive filling (Bertsekas and Gallager, "Data
 * Networks", §6.5.2): every flow's rate rises at the same pace; when a link fills up, the flows
 * crossing it are frozen at the current level and the others keep rising. The result is the unique
 * allocation in which no flow can get more without taking from a flow that has no more than it.
 *
 * Pure: links and flows in, rates out. The network model calls it whenever a flow starts or ends.
 */
import { KindlingError } from '../core/errors.js';

/** A flow as the allocator sees it: the links it crosses (each at most once). */
export interface FairFlow {
  id: string;
  links: readonly string[];
  /** Optional ceiling on this flow's own rate (e.g. a disk or a sender limit). */
  maxRate?: number;
}

/**
 * Rates of `flows` sharing `capacity` (link id → capacity, any unit per unit time) max-min fairly.
 * A flow crossing an unknown link is an error; a flow crossing no link and with no `maxRate` is
 * unbounded, also an error (its rate would be infinite).
 *
 * Progressive filling, computed bottleneck by bottleneck: the link whose fair share (capacity left ÷
 * flows not yet fixed) is smallest fills first, at that share, so its flows are fixed at it and
 * their bandwidth is taken off their other links. Shares only grow as this goes on (a link's share
 * after losing a flow at level s is at least s, since s was the smallest), so a heap of shares with
 * stale entries skipped gives the same order as raising every rate together, in
 * O((links + flow-link pairs) · log links) rather than one pass over every link and flow per level:
 * the simulator recomputes with thousands of flows at every flow start and end. A flow's own
 * `maxRate` is a private link of that capacity.
 */
export function maxMinRates(
  capacity: ReadonlyMap<string, number>,
  flows: readonly FairFlow[],
): Map<string, number> {
  const rates = new Map<string, number>();
  const index = new Map<string, number>();
  const left: number[] = [];
  const unfixed: number[] = [];
  const members: number[][] = [];
  const flowLinks: number[][] = [];
  const addLink = (cap: number): number => {
    left.push(cap);
    unfixed.push(0);
    members.push([]);
    return left.length - 1;
  };
  flows.forEach((f, fi) => {
    if (f.links.length === 0 && f.maxRate === undefined)
      throw new KindlingError('KINDLING_BAD_REQUEST', `flow ${f.id} crosses no link and has no maxRate`);
    const links: number[] = [];
    for (const l of f.links) {
      let li = index.get(l);
      if (li === undefined) {
        const c = capacity.get(l);
        if (c === undefined)
          throw new KindlingError('KINDLING_BAD_REQUEST', `flow ${f.id} crosses unknown link ${l}`);
        index.set(l, (li = addLink(c)));
      }
      links.push(li);
    }
    if (f.maxRate !== undefined) links.push(addLink(f.maxRate));
    for (const li of links) {
      unfixed[li]!++;
      members[li]!.push(fi);
    }
    flowLinks.push(links);
  });
  const fixed = new Array<boolean>(flows.length).fill(false);
  const heap = new ShareHeap();
  for (let li = 0; li < left.length; li++) heap.push(Math.max(0, left[li]!) / unfixed[li]!, li);
  let level = 0;
  for (;;) {
    const top = heap.pop();
    if (!top) break;
    const [share, li] = top;
    const n = unfixed[li]!;
    // Stale entry: the link's share changed (or it has no free flows left) since it was pushed.
    if (n === 0 || share !== Math.max(0, left[li]!) / n) continue;
    level = Math.max(level, share);
    for (const fi of members[li]!) {
      if (fixed[fi]) continue;
      fixed[fi] = true;
      rates.set(flows[fi]!.id, level);
      for (const other of flowLinks[fi]!) {
        left[other]! -= level;
        unfixed[other]!--;
        if (other !== li && unfixed[other]! > 0)
          heap.push(Math.max(0, left[other]!) / unfixed[other]!, other);
      }
    }
  }
  return rates;
}

/** A binary min-heap of (share, link) pairs. */
class ShareHeap {
  private readonly keys: number[] = [];
  private readonly vals: number[] = [];

  push(key: number, val: number): void {
    const k = this.keys;
    const v = this.vals;
    let i = k.length;
    k.push(key);
    v.push(val);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (k[p]! < key || (k[p] === key && v[p]! <= val)) break;
      k[i] = k[p]!;
      v[i] = v[p]!;
      i = p;
    }
    k[i] = key;
    v[i] = val;
  }

  pop(): [number, number] | undefined {
    const k = this.keys;
    const v = this.vals;
    if (k.length === 0) return undefined;
    const out: [number, number] = [k[0]!, v[0]!];
    const key = k.pop()!;
    const val = v.pop()!;
    const n = k.length;
    if (n === 0) return out;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (k[r]! < k[l]! || (k[r] === k[l] && v[r]! < v[l]!)) ? r : l;
      if (key < k[c]! || (key === k[c] && val <= v[c]!)) break;
      k[i] = k[c]!;
      v[i] = v[c]!;
      i = c;
    }
    k[i] = key;
    v[i] = val;
    return out;
  }
}
