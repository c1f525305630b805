/**
 * The simulator's CPU model on cases small enough to check by hand: machines' cores and processes'
 * caps are links in CPU-ms per ms that transfers cross at their cost per byte and CPU work crosses
 * directly; weighted max-min shares them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { simulateDistribution, type DistSimCpu, type DistSimOptions } from '../../src/sim/dist-sim.js';
import { maxMinRates } from '../../src/sim/max-min.js';
import { Network, type NodeCpu } from '../../src/sim/network.js';
import { SimClock } from '../../src/sim/sim-clock.js';

const near = (a: number | undefined, b: number, tol = 1e-6) =>
  assert.ok(a !== undefined && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`);
const caps = (o: Record<string, number>) => new Map(Object.entries(o));
/** 8000 Mbit/s = 1,000,000 bytes per ms: NICs that never limit these cases. */
const FAST = { upMbps: 8000, downMbps: 8000 };

describe('weighted max-min (the CPU model’s allocation)', () => {
  it('a flow that uses a link at twice its rate gets the same rate as the others, and fills it sooner', () => {
    // Link of 12: a uses 2 per unit, b uses 1. Equal rates x: 2x + x = 12, x = 4.
    const r = maxMinRates(caps({ L: 12 }), [
      { id: 'a', links: ['L'], uses: [2] },
      { id: 'b', links: ['L'] },
    ]);
    near(r.get('a'), 4);
    near(r.get('b'), 4);
  });

  it('a flow with share 2 rises twice as fast', () => {
    const r = maxMinRates(caps({ L: 9 }), [
      { id: 'a', links: ['L'], share: 2 },
      { id: 'b', links: ['L'] },
    ]);
    near(r.get('a'), 6);
    near(r.get('b'), 3);
  });

  it('a flow held by a cheap link leaves the costly link to the others', () => {
    // a: link A (cap 1) and C (uses 10); b: C only (uses 10), C = 100. a is held to 1 by A; b gets (100 − 10) / 10 = 9.
    const r = maxMinRates(caps({ A: 1, C: 100 }), [
      { id: 'a', links: ['A', 'C'], uses: [1, 10] },
      { id: 'b', links: ['C'], uses: [10] },
    ]);
    near(r.get('a'), 1);
    near(r.get('b'), 9);
  });
});

function cpu(machine: string, o: Partial<NodeCpu> = {}): NodeCpu {
  return { machine, processCores: 1, sendMsPerByte: 0, receiveMsPerByte: 0.001, ...o };
}

describe('the network’s CPU model', () => {
  it('two hosts sharing one core each get half: CPU work of 100 ms each ends at 200 ms', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    net.addMachine('m', 1);
    net.addNode('a', FAST, cpu('m'));
    net.addNode('b', FAST, cpu('m'));
    const done: Record<string, number> = {};
    net.compute('a', 100, (_f, at) => (done.a = at));
    net.compute('b', 100, (_f, at) => (done.b = at));
    clock.run();
    near(done.a, 200);
    near(done.b, 200);
  });

  it('on machines of their own, two hosts each get a whole core', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    const done: Record<string, number> = {};
    for (const h of ['a', 'b']) {
      net.addMachine(`${h}/m`, 1);
      net.addNode(h, FAST, cpu(`${h}/m`));
      net.compute(h, 100, (_f, at) => (done[h] = at));
    }
    clock.run();
    near(done.a, 100);
    near(done.b, 100);
  });

  it('a process cannot use more than its cores, however many the machine has', () => {
    const clock = new SimClock();
    const net = new Network(clock);
    net.addMachine('m', 8);
    net.addNode('a', FAST, cpu('m', { processCores: 1 }));
    let at = -1;
    net.compute('a', 50, (_f, t) => (at = t));
    clock.run();
    near(at, 50);
  });

  it('per-byte costs add time as the model says: the scarcer of NIC and CPU sets the rate', () => {
    // Receiving costs 0.001 CPU-ms per byte: one core receives 1000 bytes per ms.
    for (const [mbps, want] of [
      [80, 100], // NIC: 10,000 bytes/ms → 10 ms, but the CPU allows 1000 bytes/ms → 100 ms
      [4, 200], // NIC: 500 bytes/ms → 200 ms; CPU not binding
    ] as const) {
      const clock = new SimClock();
      const net = new Network(clock);
      net.addMachine('m', 4);
      net.addNode('src', FAST);
      net.addNode('dst', { upMbps: mbps, downMbps: mbps }, cpu('m'));
      let at = -1;
      net.transfer('src', 'dst', 100_000, (_f, t) => (at = t));
      clock.run();
      near(at, want);
    }
  });

  it('sender, receiver and a third party all pay; the shared machine is the bottleneck', () => {
    // One core for everything. Per byte: send 0.001 + receive 0.002 + control 0.001 = 0.004 CPU-ms:
    // 250 bytes/ms. Two transfers of 10,000 bytes share it: 125 bytes/ms each, both end at 80 ms.
    const clock = new SimClock();
    const net = new Network(clock);
    net.addMachine('m', 1);
    net.addNode('ctl', FAST, cpu('m', { processCores: 1 }));
    net.addNode('src', FAST, cpu('m', { sendMsPerByte: 0.001 }));
    for (const h of ['a', 'b']) net.addNode(h, FAST, cpu('m', { receiveMsPerByte: 0.002 }));
    const done: Record<string, number> = {};
    for (const h of ['a', 'b'])
      net.transfer('src', h, 10_000, (_f, at) => (done[h] = at), [{ node: 'ctl', msPerByte: 0.001 }]);
    clock.run();
    near(done.a, 80);
    near(done.b, 80);
  });

  it('CPU work competes like a download through its node', () => {
    // One core; a receives 10,000 bytes at 0.001 ms/byte while b computes 10 ms (share = b's receive
    // cost, 0.001): both rise at the same level, each gets half a core: a at 500 bytes/ms, b at 0.5.
    // b ends at 20 ms; a has 10,000 − 20 × 500 = 0 left at 20 ms too.
    const clock = new SimClock();
    const net = new Network(clock);
    net.addMachine('m', 1);
    net.addNode('src', FAST);
    net.addNode('a', FAST, cpu('m'));
    net.addNode('b', FAST, cpu('m'));
    const done: Record<string, number> = {};
    net.transfer('src', 'a', 10_000, (_f, at) => (done.a = at));
    net.compute('b', 10, (_f, at) => (done.b = at));
    clock.run();
    near(done.b, 20);
    near(done.a, 20);
  });

  it('rejects CPU on a missing machine, bad costs, and CPU work on a node without CPU', () => {
    const net = new Network(new SimClock());
    const isKindling = (e: unknown) => KindlingError.is(e);
    assert.throws(() => net.addNode('a', FAST, cpu('nowhere')), isKindling);
    net.addMachine('m', 2);
    assert.throws(() => net.addMachine('m', 2), isKindling);
    assert.throws(() => net.addMachine('z', 0), isKindling);
    assert.throws(() => net.addNode('a', FAST, cpu('m', { receiveMsPerByte: 0 })), isKindling);
    assert.throws(() => net.addNode('a', FAST, cpu('m', { sendMsPerByte: -1 })), isKindling);
    net.addNode('plain', FAST);
    assert.throws(() => net.compute('plain', 1, () => {}), isKindling);
  });
});

describe('distribution with the CPU model', () => {
  const MiB = 1024 * 1024;
  const base: DistSimOptions = {
    strategy: 'registry',
    hosts: 4,
    imageBytes: 8 * MiB,
    pieceBytes: 512 * 1024,
    lazy: false,
    hostMbps: 8000,
    registryMbps: 8000,
    containerStartMs: 20,
  };
  const costs: DistSimCpu = {
    machines: 'shared',
    cores: 1,
    receiveMsPerMiB: 30,
    sendMsPerMiB: 10,
    controlMsPerMiB: 5,
    materialiseMsPerMiB: 8,
  };

  it('hosts on one core with fast links: all ready when the work of every host is done, no sooner', async () => {
    const r = await simulateDistribution({ ...base, cpu: costs });
    // Per host: 8 MiB × (30 + 10 + 5 + 8) ms + a 20 ms start; four hosts on one core.
    const work = 4 * (8 * (30 + 10 + 5 + 8) + 20);
    assert.ok(r.allStartedS * 1000 >= work - 1, `${r.allStartedS} s < ${work} ms of work on one core`);
    assert.ok(r.allStartedS * 1000 <= work * 1.01, `${r.allStartedS} s: the core sat idle`);
  });

  it('on machines of their own, hosts do not slow each other; the registry’s one process can', async () => {
    const own = { ...costs, machines: 'per-host' as const, cores: 4, sendMsPerMiB: 0, controlMsPerMiB: 0 };
    const two = await simulateDistribution({ ...base, hosts: 2, cpu: own });
    const eight = await simulateDistribution({ ...base, hosts: 8, cpu: own });
    // Each host: 8 MiB × (30 + 8) ms + a 20 ms start, on its own core.
    near(two.allStartedS, 0.324, 0.01);
    near(eight.allStartedS, 0.324, 0.01);
    // The registry's process (one core) sends and answers for every host: 8 × 8 MiB × 15 ms = 960 ms.
    const busy = await simulateDistribution({
      ...base,
      hosts: 8,
      cpu: { ...own, sendMsPerMiB: 10, controlMsPerMiB: 5 },
    });
    assert.ok(busy.allStartedS >= 0.96, `${busy.allStartedS}`);
  });

  it('a lazy host materialises only its working set before it starts', async () => {
    // One host with a core of its own; links, not CPU, limit the fetch (receiving is nearly free).
    // Once its working set (2 of 8 MiB) is local it writes those 2 MiB at 100 ms/MiB and starts
    // (20 ms): 220 ms after it was ready, not the 820 ms the whole image would take.
    const r = await simulateDistribution({
      ...base,
      hosts: 1,
      hostMbps: 80,
      lazy: true,
      workingSetFraction: 0.25,
      cpu: {
        ...costs,
        machines: 'per-host',
        receiveMsPerMiB: 0.001,
        sendMsPerMiB: 0,
        controlMsPerMiB: 0,
        materialiseMsPerMiB: 100,
      },
    });
    near(r.allStartedS - r.readyS[0]!, 0.22, 0.02);
  });

  it('without CPU costs that bind, the result is the network model’s', async () => {
    const slowLinks = { ...base, hostMbps: 100, registryMbps: 400 };
    const plain = await simulateDistribution(slowLinks);
    const cheap: DistSimCpu = {
      ...costs,
      machines: 'per-host',
      cores: 4,
      receiveMsPerMiB: 0.001,
      sendMsPerMiB: 0,
      controlMsPerMiB: 0,
      materialiseMsPerMiB: 0,
    };
    const withCpu = await simulateDistribution({ ...slowLinks, cpu: cheap });
    near(withCpu.allStartedS, plain.allStartedS, 0.01);
  });
});
