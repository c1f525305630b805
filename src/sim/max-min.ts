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

/** Relative slack under which a link counts as full (floating-point residue). */
const EPS = 1e-9;

/**
 * Rates of `flows` sharing `capacity` (link id → capacity, any unit per unit time) max-min fairly.
 * A flow crossing an unknown link is an error; a flow crossing no link and with no `maxRate` is
 * unbounded, also an error (its rate would be infinite).
 */
export function maxMinRates(
  capacity: ReadonlyMap<string, number>,
  flows: readonly FairFlow[],
): Map<string, number> {
  const rates = new Map<string, number>();
  const remaining = new Map<string, number>();
  const members = new Map<string, FairFlow[]>();
  for (const f of flows) {
    if (f.links.length === 0 && f.maxRate === undefined)
      throw new KindlingError('KINDLING_BAD_REQUEST', `flow ${f.id} crosses no link and has no maxRate`);
    for (const l of f.links) {
      const c = capacity.get(l);
      if (c === undefined)
        throw new KindlingError('KINDLING_BAD_REQUEST', `flow ${f.id} crosses unknown link ${l}`);
      if (!remaining.has(l)) {
        remaining.set(l, c);
        members.set(l, []);
      }
      members.get(l)!.push(f);
    }
  }
  const active = new Set(flows);
  /** Unfrozen flows per link. */
  const count = new Map<string, number>();
  for (const [l, fs] of members) count.set(l, fs.length);
  let level = 0;
  while (active.size > 0) {
    // The next level at which a link fills or a flow reaches its own ceiling.
    let inc = Number.POSITIVE_INFINITY;
    for (const [l, n] of count) if (n > 0) inc = Math.min(inc, remaining.get(l)! / n);
    for (const f of active) if (f.maxRate !== undefined) inc = Math.min(inc, f.maxRate - level);
    inc = Math.max(0, inc);
    level += inc;
    const freeze: FairFlow[] = [];
    for (const [l, n] of count) {
      if (n === 0) continue;
      const left = remaining.get(l)! - inc * n;
      remaining.set(l, left);
      if (left <= EPS * Math.max(1, capacity.get(l)!))
        for (const f of members.get(l)!) if (active.has(f)) freeze.push(f);
    }
    for (const f of active)
      if (f.maxRate !== undefined && f.maxRate - level <= EPS * Math.max(1, f.maxRate)) freeze.push(f);
    for (const f of freeze) {
      if (!active.delete(f)) continue;
      rates.set(f.id, level);
      for (const l of f.links) count.set(l, count.get(l)! - 1);
    }
  }
  return rates;
}
