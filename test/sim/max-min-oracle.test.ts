/**
 * The bottleneck-order max-min allocator against the textbook one (every rate rises together, one
 * pass over all links and flows per level), on random networks shaped like the simulator's: hosts'
 * uplinks and downlinks, a registry, some flows with their own ceiling.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxMinRates, type FairFlow } from '../../src/sim/max-min.js';

function progressiveFilling(capacity: Map<string, number>, flows: FairFlow[]): Map<string, number> {
  const rates = new Map<string, number>();
  const remaining = new Map(capacity);
  const active = new Set(flows);
  let level = 0;
  while (active.size > 0) {
    let inc = Number.POSITIVE_INFINITY;
    for (const [l, left] of remaining) {
      const n = [...active].filter((f) => f.links.includes(l)).length;
      if (n > 0) inc = Math.min(inc, left / n);
    }
    for (const f of active) if (f.maxRate !== undefined) inc = Math.min(inc, f.maxRate - level);
    level += inc;
    const freeze = new Set<FairFlow>();
    for (const [l, left] of remaining) {
      const on = [...active].filter((f) => f.links.includes(l));
      const now = left - inc * on.length;
      remaining.set(l, now);
      if (on.length > 0 && now <= 1e-9 * capacity.get(l)!) for (const f of on) freeze.add(f);
    }
    for (const f of active) if (f.maxRate !== undefined && f.maxRate - level <= 1e-9) freeze.add(f);
    for (const f of freeze) {
      active.delete(f);
      rates.set(f.id, level);
    }
  }
  return rates;
}

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('max-min allocator', () => {
  it('matches textbook progressive filling on 200 random host/registry networks', () => {
    const rand = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const hosts = 2 + Math.floor(rand() * 8);
      const capacity = new Map<string, number>([['reg:up', 50 + rand() * 500]]);
      for (let h = 0; h < hosts; h++) {
        capacity.set(`h${h}:up`, 10 + Math.floor(rand() * 4) * 25);
        capacity.set(`h${h}:down`, 10 + Math.floor(rand() * 4) * 25);
      }
      const flows: FairFlow[] = [];
      const nFlows = 1 + Math.floor(rand() * 20);
      for (let i = 0; i < nFlows; i++) {
        const to = Math.floor(rand() * hosts);
        let from = Math.floor(rand() * (hosts + 1)) - 1;
        if (from === to) from = -1;
        const links = [from < 0 ? 'reg:up' : `h${from}:up`, `h${to}:down`];
        flows.push(rand() < 0.15 ? { id: `f${i}`, links, maxRate: 1 + rand() * 40 } : { id: `f${i}`, links });
      }
      const fast = maxMinRates(capacity, flows);
      const slow = progressiveFilling(capacity, flows);
      for (const f of flows) {
        const a = fast.get(f.id)!;
        const b = slow.get(f.id)!;
        assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, b), `trial ${trial} ${f.id}: ${a} ≠ ${b}`);
      }
    }
  });
});
