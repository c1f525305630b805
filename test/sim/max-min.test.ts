import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { maxMinRates, maxMinRatesIndexed } from '../../src/sim/max-min.js';
import { Network, mbpsToBytesPerMs } from '../../src/sim/network.js';
import { SimClock } from '../../src/sim/sim-clock.js';

const caps = (o: Record<string, number>) => new Map(Object.entries(o));
const near = (a: number | undefined, b: number) =>
  assert.ok(a !== undefined && Math.abs(a - b) < 1e-6, `${a} ≠ ${b}`);

describe('max-min fair rates (progressive filling)', () => {
  it('splits one link equally', () => {
    const r = maxMinRates(caps({ L: 90 }), [
      { id: 'a', links: ['L'] },
      { id: 'b', links: ['L'] },
      { id: 'c', links: ['L'] },
    ]);
    for (const id of ['a', 'b', 'c']) near(r.get(id), 30);
  });

  it('gives a bottlenecked flow its share and the rest to the others (classic two-link case)', () => {
    // L1 = 10 shared by a and b; L2 = 100 shared by b and c. b is held to 5 by L1; a gets 5, c gets 95.
    const r = maxMinRates(caps({ L1: 10, L2: 100 }), [
      { id: 'a', links: ['L1'] },
      { id: 'b', links: ['L1', 'L2'] },
      { id: 'c', links: ['L2'] },
    ]);
    near(r.get('a'), 5);
    near(r.get('b'), 5);
    near(r.get('c'), 95);
  });

  it('handles a parking-lot chain by hand: long flow over three links, one short flow per link', () => {
    // Links 12, 6, 9. Every link carries the long flow x plus one short flow.
    // Level 3: link 2 (6/2) fills: x = 3, s2 = 3. Then s1 = 12 − 3 = 9, s3 = 9 − 3 = 6.
    const r = maxMinRates(caps({ A: 12, B: 6, C: 9 }), [
      { id: 'x', links: ['A', 'B', 'C'] },
      { id: 's1', links: ['A'] },
      { id: 's2', links: ['B'] },
      { id: 's3', links: ['C'] },
    ]);
    near(r.get('x'), 3);
    near(r.get('s2'), 3);
    near(r.get('s1'), 9);
    near(r.get('s3'), 6);
  });

  it('respects a per-flow ceiling and hands the rest to the others', () => {
    const r = maxMinRates(caps({ L: 100 }), [
      { id: 'slow', links: ['L'], maxRate: 10 },
      { id: 'a', links: ['L'] },
      { id: 'b', links: ['L'] },
    ]);
    near(r.get('slow'), 10);
    near(r.get('a'), 45);
    near(r.get('b'), 45);
  });

  it('has the bottleneck property on random instances (the definition of max-min fairness)', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const nl = 2 + Math.floor(rnd() * 6);
      const capacity = Float64Array.from({ length: nl }, () => 1 + Math.floor(rnd() * 100));
      const flows = Array.from({ length: 1 + Math.floor(rnd() * 10) }, () => {
        const links = [
          ...new Set(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => Math.floor(rnd() * nl))),
        ];
        return { links };
      });
      const rates = maxMinRatesIndexed(capacity, flows);
      const load = new Float64Array(nl);
      flows.forEach((f, i) => f.links.forEach((l) => (load[l]! += rates[i]!)));
      for (let l = 0; l < nl; l++)
        assert.ok(load[l]! <= capacity[l]! * (1 + 1e-9), `link ${l} over capacity`);
      // Every flow has a bottleneck: a full link on which no flow gets more than it does.
      flows.forEach((f, i) => {
        const ok = f.links.some(
          (l) =>
            load[l]! >= capacity[l]! * (1 - 1e-9) &&
            flows.every((g, j) => !g.links.includes(l) || rates[j]! <= rates[i]! * (1 + 1e-9)),
        );
        assert.ok(ok, `flow ${i} has no bottleneck in round ${round}`);
      });
    }
  });

  it('rejects unknown links and unbounded flows', () => {
    assert.throws(
      () => maxMinRates(caps({}), [{ id: 'a', links: ['X'] }]),
      (e) => KindlingError.is(e),
    );
    assert.throws(
      () => maxMinRates(caps({}), [{ id: 'a', links: [] }]),
      (e) => KindlingError.is(e),
    );
  });
});

describe('network model', () => {
  it('recomputes rates when flows arrive and leave: finish times by hand', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    // 8 Mbit/s = 1000 bytes/ms.
    net.addNode('registry', { upMbps: 8, downMbps: 8 });
    net.addNode('h1', { upMbps: 80, downMbps: 80 });
    net.addNode('h2', { upMbps: 80, downMbps: 80 });
    const done: Record<string, number> = {};
    net.transfer('registry', 'h1', 10_000, (_f, at) => (done.h1 = at));
    clock.setTimer(() => net.transfer('registry', 'h2', 2_000, (_f, at) => (done.h2 = at)), 4);
    clock.run();
    // h1 alone at 1000 B/ms for 4 ms (4000 B), then both at 500 B/ms: h2 needs 4 ms (ends at 8),
    // h1 has 6000 − 2000 = 4000 left at 8 ms, alone again: 4 ms more.
    near(done.h2, 8);
    near(done.h1, 12);
    assert.equal(mbpsToBytesPerMs(8), 1000);
  });

  it('limits a flow by the receiver downlink when the sender is faster', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    net.addNode('a', { upMbps: 800, downMbps: 800 });
    net.addNode('b', { upMbps: 800, downMbps: 8 });
    let at = -1;
    net.transfer('a', 'b', 5_000, (_f, t) => (at = t));
    clock.run();
    near(at, 5);
  });

  it('validates nodes and sizes', () => {
    const net = new Network(new SimClock());
    assert.throws(
      () => net.addNode('a', { upMbps: 0, downMbps: 1 }),
      (e) => KindlingError.is(e),
    );
    net.addNode('a', { upMbps: 1, downMbps: 1 });
    assert.throws(
      () => net.transfer('a', 'zz', 1, () => {}),
      (e) => KindlingError.is(e),
    );
    assert.throws(
      () => net.transfer('a', 'a', 1, () => {}),
      (e) => KindlingError.is(e),
    );
  });

  it('runs a thousand hosts fetching from a registry and each other quickly (scale smoke test)', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    net.addNode('registry', { upMbps: 10_000, downMbps: 10_000 });
    let finished = 0;
    for (let i = 0; i < 1000; i++) net.addNode(`h${i}`, { upMbps: 1000, downMbps: 1000 });
    for (let i = 0; i < 1000; i++)
      net.transfer('registry', `h${i}`, 1_000_000 + i * 1000, () => {
        finished++;
      });
    clock.run();
    assert.equal(finished, 1000);
    // 1000 flows share the 10 Gbit/s registry uplink: the first ends after ≈ 1000 × 1 MB / 1.25 MB/ms.
    assert.ok(clock.now() > 800 && clock.now() < 2000, `ended at ${clock.now()}`);
  });

  it('runs a thousand hosts exchanging blocks peer to peer (5,000 flows, rates recomputed each time)', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    const H = 1000;
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    net.addNode('registry', { upMbps: 10_000, downMbps: 10_000 });
    for (let i = 0; i < H; i++) net.addNode(`h${i}`, { upMbps: 1000 * (1 + (i % 4)), downMbps: 1000 });
    let done = 0;
    let bytes = 0;
    const next = (i: number, left: number) => {
      if (left === 0) return;
      const from = rnd() < 0.2 ? 'registry' : `h${(i + 1 + Math.floor(rnd() * (H - 1))) % H}`;
      net.transfer(from, `h${i}`, 512 * 1024, (f) => {
        done++;
        bytes += f.bytes;
        next(i, left - 1);
      });
    };
    for (let i = 0; i < H; i++) next(i, 5);
    clock.run();
    assert.equal(done, 5 * H);
    assert.equal(bytes, 5 * H * 512 * 1024);
    assert.equal(net.active().length, 0);
    // Each host receives 2.5 MiB through a 1 Gbit/s downlink: at least 21 ms.
    assert.ok(clock.now() >= (5 * 512 * 1024) / mbpsToBytesPerMs(1000));
  });
});
