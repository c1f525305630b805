/**
 * Max-min fair bandwidth allocation by progressive filling (Bertsekas and Gallager, "Data
 * Networks", §6.5.2): every flow's rate rises at the same pace; when a link fills up, the flows
 * crossing it are frozen at the current level and the others keep rising. The result is the unique
 * allocation in which no flow can get more without taking from a flow that has no more than it.
 *
 * Weighted form: a flow may use a link at a multiple of its rate (`uses`: the simulator's CPU is a
 * link in CPU-ms per ms that a byte flow crosses at its measured cost per byte), and may rise at a
 * multiple of the common level (`share`: a CPU-only task, whose rate is in CPU-ms per ms, is given
 * the share that makes it rise like a byte flow of the same cost). With every `uses` and `share` 1
 * this is the classic allocation.
 *
 * Pure: links and flows in, rates out. The network model calls the indexed form
 * ({@link maxMinRatesIndexed}: links are numbers, state in typed arrays, no per-call maps) whenever
 * flows start or end; {@link maxMinRates} is the same allocation over named links.
 */
import { KindlingError } from '../core/errors.js';

/** A flow as the allocator sees it: the links it crosses (each at most once). */
export interface FairFlow {
  id: string;
  links: readonly string[];
  /** Capacity used per unit of rate on each of `links`, in order; default 1 each. */
  uses?: readonly number[];
  /** Rate = `share` × the common level; default 1. */
  share?: number;
  /** Optional ceiling on this flow's own rate (e.g. a disk or a sender limit). */
  maxRate?: number;
}

/** A flow over numbered links. */
export interface IndexedFlow {
  links: readonly number[];
  /** Link capacity used per unit of this flow's rate, per link in `links` order; default 1 each. */
  uses?: readonly number[];
  /** This flow's rate is `share` × the common level; default 1. */
  share?: number;
  maxRate?: number;
}

/** Relative slack under which a link counts as full (floating-point residue). */
const EPS = 1e-9;

/**
 * Rates of `flows` over links `0..capacity.length-1` (each flow's links distinct and in range), in
 * the order of `flows`. Every flow must cross a link or have a `maxRate`.
 */
export function maxMinRatesIndexed(capacity: Float64Array, flows: readonly IndexedFlow[]): Float64Array {
  const nf = flows.length;
  const rates = new Float64Array(nf);
  const remaining = Float64Array.from(capacity);
  /** Unfrozen flows per link. */
  const count = new Int32Array(capacity.length);
  /** Capacity the unfrozen flows of each link use per unit of level. */
  const demand = new Float64Array(capacity.length);
  const share = (i: number): number => flows[i]!.share ?? 1;
  // Flows of each link, as a CSR list.
  const start = new Int32Array(capacity.length + 1);
  for (const f of flows) for (const l of f.links) start[l + 1]!++;
  for (let l = 0; l < capacity.length; l++) {
    start[l + 1]! += start[l]!;
    count[l] = start[l + 1]! - start[l]!;
  }
  const members = new Int32Array(start[capacity.length]!);
  const fill = start.slice(0, capacity.length);
  flows.forEach((f, i) => {
    const s = f.share ?? 1;
    f.links.forEach((l, k) => {
      members[fill[l]!++] = i;
      demand[l]! += (f.uses?.[k] ?? 1) * s;
    });
  });
  const used: number[] = [];
  for (let l = 0; l < capacity.length; l++) if (count[l]! > 0) used.push(l);
  const frozen = new Uint8Array(nf);
  const capped: number[] = [];
  flows.forEach((f, i) => {
    if (f.maxRate !== undefined) capped.push(i);
  });
  let active = nf;
  let level = 0;
  while (active > 0) {
    // The next level at which a link fills or a flow reaches its own ceiling.
    let inc = Number.POSITIVE_INFINITY;
    for (const l of used)
      if (count[l]! > 0 && demand[l]! > 0) inc = Math.min(inc, Math.max(0, remaining[l]!) / demand[l]!);
    for (const i of capped) if (!frozen[i]) inc = Math.min(inc, flows[i]!.maxRate! / share(i) - level);
    if (!Number.isFinite(inc)) break; // only unbounded flows left (rejected by the callers)
    inc = Math.max(0, inc);
    level += inc;
    const freeze: number[] = [];
    for (const l of used) {
      const n = count[l]!;
      if (n === 0) continue;
      const left = remaining[l]! - inc * demand[l]!;
      remaining[l] = left;
      if (left <= EPS * Math.max(1, capacity[l]!))
        for (let k = start[l]!; k < start[l + 1]!; k++) if (!frozen[members[k]!]) freeze.push(members[k]!);
    }
    for (const i of capped) {
      const cap = flows[i]!.maxRate! / share(i);
      if (!frozen[i] && cap - level <= EPS * Math.max(1, cap)) freeze.push(i);
    }
    for (const i of freeze) {
      if (frozen[i]) continue;
      frozen[i] = 1;
      active--;
      const f = flows[i]!;
      const s = f.share ?? 1;
      rates[i] = level * s;
      f.links.forEach((l, k) => {
        count[l]!--;
        demand[l]! -= (f.uses?.[k] ?? 1) * s;
      });
    }
  }
  return rates;
}

/**
 * Rates of `flows` sharing `capacity` (link id → capacity, any unit per unit time) max-min fairly.
 * A flow crossing an unknown link is an error; a flow crossing no link and with no `maxRate` is
 * unbounded, also an error (its rate would be infinite).
 *
 * Progressive filling (see {@link maxMinRatesIndexed}, which this names links for); a flow's own
 * `maxRate` is a private link of that capacity.
 */
export function maxMinRates(
  capacity: ReadonlyMap<string, number>,
  flows: readonly FairFlow[],
): Map<string, number> {
  const index = new Map<string, number>();
  const caps: number[] = [];
  const indexed = flows.map((f) => {
    if (f.links.length === 0 && f.maxRate === undefined)
      throw new KindlingError('KINDLING_BAD_REQUEST', `flow ${f.id} crosses no link and has no maxRate`);
    const links = f.links.map((l) => {
      let i = index.get(l);
      if (i === undefined) {
        const c = capacity.get(l);
        if (c === undefined)
          throw new KindlingError('KINDLING_BAD_REQUEST', `flow ${f.id} crosses unknown link ${l}`);
        index.set(l, (i = caps.length));
        caps.push(c);
      }
      return i;
    });
    return {
      links,
      ...(f.uses ? { uses: f.uses } : {}),
      ...(f.share !== undefined ? { share: f.share } : {}),
      ...(f.maxRate !== undefined ? { maxRate: f.maxRate } : {}),
    };
  });
  const rates = maxMinRatesIndexed(Float64Array.from(caps), indexed);
  return new Map(flows.map((f, i) => [f.id, rates[i]!]));
}
