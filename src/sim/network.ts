/**
 * The simulator's network: every node (host, or the registry) has a NIC with an uplink and a
 * downlink of fixed bandwidth; a transfer is a flow from one node's uplink to another's downlink,
 * and concurrent flows share links max-min fairly ({@link maxMinRates}). Rates are recomputed when
 * a flow starts or ends; between those instants every flow moves at a constant rate, so the model
 * needs one event per flow start/end, not per packet.
 *
 * CPU, optional: a node may run on a machine ({@link Network.addMachine}, a number of cores) as one
 * process that can use at most `processCores` of them, and spend CPU per byte it sends and receives
 * ({@link NodeCpu}). A machine's cores and a process's cap are links too, in CPU-ms per ms, which a
 * flow crosses at its endpoints' cost per byte (and a third party's, such as the control plane that
 * answers a fetcher's requests: {@link CpuCharge}); so a transfer moves at the rate of whichever is
 * scarcer, the NICs or the CPU, shared max-min fairly with everything else on them. CPU-only work
 * (decompressing an image, starting a sandbox) is {@link Network.compute}: a task of so many CPU-ms
 * that competes like a download through its node. Nodes without CPU cost nothing: the network alone.
 *
 * Changes at the same virtual instant are batched: the first marks the network dirty and schedules
 * one zero-delay recompute, so a thousand hosts starting a fetch at once cost one allocation.
 */
import type { TimerHandle } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import { maxMinRatesIndexed } from './max-min.js';
import type { SimClock } from './sim-clock.js';

/** Megabits per second → bytes per millisecond. */
export function mbpsToBytesPerMs(mbps: number): number {
  return (mbps * 1e6) / 8 / 1000;
}

/** A NIC, in megabits per second each way. */
export interface NicSpec {
  upMbps: number;
  downMbps: number;
}

/** A node's process and its CPU costs (see the module comment). */
export interface NodeCpu {
  /** The machine (added with {@link Network.addMachine}) whose cores this node's process shares. */
  machine: string;
  /** Cores this node's process can use at most (> 0). */
  processCores: number;
  /** CPU-ms this node spends per byte it sends (≥ 0). */
  sendMsPerByte: number;
  /** CPU-ms this node spends per byte it receives (> 0: CPU-only tasks compete at this cost). */
  receiveMsPerByte: number;
}

/** CPU a transfer costs a node other than its endpoints, per byte moved. */
export interface CpuCharge {
  node: string;
  msPerByte: number;
}

/** A transfer in progress. */
export interface SimFlow {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly bytes: number;
  readonly startedAt: number;
  /** Bytes still to move (as of the last recompute). */
  remaining: number;
  /** Current rate, bytes per ms. */
  rate: number;
}

interface FlowState extends SimFlow {
  /** Link indices: the sender's uplink, the receiver's downlink, then CPU links (distinct). */
  links: number[];
  /** Capacity used per unit of rate on each link (undefined: 1 each, a network-only flow). */
  uses: number[] | undefined;
  /** Rate per unit of the common level (CPU tasks; undefined: 1). */
  share: number | undefined;
  done: (flow: SimFlow, at: number) => void;
}

/** Link indices of a node. */
interface NodeLinks {
  up: number;
  down: number;
  cpu: { process: number; machine: number; send: number; receive: number } | undefined;
}

/** Nodes, links and flows with max-min fair sharing; see the file comment. */
export class Network {
  /** Link capacities: NICs in bytes per ms, CPUs in CPU-ms per ms. */
  private capacity = new Float64Array(0);
  private readonly nodes = new Map<string, NodeLinks>();
  private readonly machines = new Map<string, number>();
  private readonly flows = new Map<string, FlowState>();
  private lastUpdate: number;
  private dirty: TimerHandle | undefined;
  private next: TimerHandle | undefined;
  private seq = 0;
  /** Rate recomputations so far (for the scale benchmark). */
  recomputes = 0;

  constructor(private readonly clock: SimClock) {
    this.lastUpdate = clock.now();
  }

  /** Adds a machine with `cores` cores that nodes' processes share (see {@link NodeCpu}). */
  addMachine(id: string, cores: number): void {
    if (this.machines.has(id)) throw new KindlingError('KINDLING_CONFLICT', `machine ${id} already exists`);
    if (!(cores > 0) || !Number.isFinite(cores))
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `machine ${id}: cores must be a finite number > 0, got ${cores}`,
      );
    this.machines.set(id, this.addLink(cores));
  }

  /**
   * Adds a node with its NIC (the registry is a node too, usually with only an uplink that matters)
   * and, optionally, its process on a machine with its CPU costs.
   */
  addNode(id: string, nic: NicSpec, cpu?: NodeCpu): void {
    if (this.nodes.has(id)) throw new KindlingError('KINDLING_CONFLICT', `network node ${id} already exists`);
    for (const [dir, mbps] of [
      ['up', nic.upMbps],
      ['down', nic.downMbps],
    ] as const) {
      if (!(mbps > 0) || !Number.isFinite(mbps))
        throw new KindlingError(
          'KINDLING_INVALID_CONFIG',
          `node ${id}: ${dir}Mbps must be a finite number > 0, got ${mbps}`,
        );
    }
    let machine = -1;
    if (cpu) {
      machine = this.machines.get(cpu.machine) ?? -1;
      if (machine < 0)
        throw new KindlingError(
          'KINDLING_INVALID_CONFIG',
          `node ${id} runs on machine ${cpu.machine}, which was not added (addMachine first)`,
        );
      const bad = (k: string, v: number, min: string) =>
        new KindlingError(
          'KINDLING_INVALID_CONFIG',
          `node ${id}: ${k} must be a finite number ${min}, got ${v}`,
        );
      if (!(cpu.processCores > 0) || !Number.isFinite(cpu.processCores))
        throw bad('processCores', cpu.processCores, '> 0');
      if (!(cpu.receiveMsPerByte > 0) || !Number.isFinite(cpu.receiveMsPerByte))
        throw bad('receiveMsPerByte', cpu.receiveMsPerByte, '> 0');
      if (!(cpu.sendMsPerByte >= 0) || !Number.isFinite(cpu.sendMsPerByte))
        throw bad('sendMsPerByte', cpu.sendMsPerByte, '≥ 0');
    }
    const up = this.addLink(mbpsToBytesPerMs(nic.upMbps));
    const down = this.addLink(mbpsToBytesPerMs(nic.downMbps));
    this.nodes.set(id, {
      up,
      down,
      cpu: cpu && {
        process: this.addLink(cpu.processCores),
        machine,
        send: cpu.sendMsPerByte,
        receive: cpu.receiveMsPerByte,
      },
    });
  }

  private addLink(capacity: number): number {
    const caps = new Float64Array(this.capacity.length + 1);
    caps.set(this.capacity);
    caps[this.capacity.length] = capacity;
    this.capacity = caps;
    return this.capacity.length - 1;
  }

  /** True when a machine of that id exists. */
  hasMachine(id: string): boolean {
    return this.machines.has(id);
  }

  /** True when a node of that id exists. */
  has(id: string): boolean {
    return this.nodes.has(id);
  }

  /** Flows in progress. */
  active(): SimFlow[] {
    this.settle();
    return [...this.flows.values()];
  }

  /**
   * Starts moving `bytes` from `from` to `to`; `done` runs when the last byte arrives. Returns the
   * flow (its id can cancel it). With CPU, the flow costs the sender its send cost per byte, the
   * receiver its receive cost, and every node in `charges` its cost.
   */
  transfer(
    from: string,
    to: string,
    bytes: number,
    done: (flow: SimFlow, at: number) => void,
    charges: readonly CpuCharge[] = [],
  ): SimFlow {
    for (const n of [from, to, ...charges.map((c) => c.node)])
      if (!this.has(n)) throw new KindlingError('KINDLING_BAD_REQUEST', `network has no node ${n}`);
    if (from === to)
      throw new KindlingError('KINDLING_BAD_REQUEST', `a flow needs two different nodes, got ${from} twice`);
    if (!(bytes >= 0) || !Number.isFinite(bytes))
      throw new KindlingError('KINDLING_BAD_REQUEST', `flow size must be a finite number ≥ 0, got ${bytes}`);
    const a = this.nodes.get(from)!;
    const b = this.nodes.get(to)!;
    const cpu = new Map<number, number>();
    const charge = (n: NodeLinks, msPerByte: number) => {
      if (!n.cpu || msPerByte === 0) return;
      for (const l of [n.cpu.process, n.cpu.machine]) cpu.set(l, (cpu.get(l) ?? 0) + msPerByte);
    };
    charge(a, a.cpu?.send ?? 0);
    charge(b, b.cpu?.receive ?? 0);
    for (const c of charges) {
      if (!(c.msPerByte >= 0) || !Number.isFinite(c.msPerByte))
        throw new KindlingError(
          'KINDLING_BAD_REQUEST',
          `CPU charge on ${c.node} must be a finite number ≥ 0 per byte, got ${c.msPerByte}`,
        );
      charge(this.nodes.get(c.node)!, c.msPerByte);
    }
    const links = [a.up, b.down, ...cpu.keys()];
    return this.start(
      from,
      to,
      bytes,
      links,
      cpu.size ? [1, 1, ...cpu.values()] : undefined,
      undefined,
      done,
    );
  }

  /**
   * Runs `cpuMs` of CPU-only work in `node`'s process (it needs a {@link NodeCpu}); `done` runs when
   * it is finished. It shares the process's cap and the machine's cores with the node's transfers,
   * rising like a download through the node (its share of the level is the receive cost per byte).
   */
  compute(node: string, cpuMs: number, done: (flow: SimFlow, at: number) => void): SimFlow {
    const n = this.nodes.get(node);
    if (!n) throw new KindlingError('KINDLING_BAD_REQUEST', `network has no node ${node}`);
    if (!n.cpu)
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `node ${node} has no CPU (add it with a NodeCpu) and cannot run CPU work`,
      );
    if (!(cpuMs >= 0) || !Number.isFinite(cpuMs))
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        `CPU work must be a finite number ≥ 0 ms, got ${cpuMs}`,
      );
    return this.start(node, node, cpuMs, [n.cpu.process, n.cpu.machine], undefined, n.cpu.receive, done);
  }

  private start(
    from: string,
    to: string,
    bytes: number,
    links: number[],
    uses: number[] | undefined,
    share: number | undefined,
    done: (flow: SimFlow, at: number) => void,
  ): SimFlow {
    this.settle();
    const flow: FlowState = {
      id: `f${++this.seq}`,
      from,
      to,
      bytes,
      startedAt: this.clock.now(),
      remaining: bytes,
      rate: 0,
      links,
      uses,
      share,
      done,
    };
    this.flows.set(flow.id, flow);
    this.markDirty();
    return flow;
  }

  /** Stops a flow early (its `done` never runs). */
  cancel(id: string): void {
    this.settle();
    if (this.flows.delete(id)) this.markDirty();
  }

  /** Moves every flow forward to now at its current rate. */
  private settle(): void {
    const now = this.clock.now();
    const dt = now - this.lastUpdate;
    if (dt > 0) for (const f of this.flows.values()) f.remaining = Math.max(0, f.remaining - f.rate * dt);
    this.lastUpdate = now;
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.dirty = this.clock.setTimer(() => {
      this.dirty = undefined;
      this.recompute();
    }, 0);
  }

  /** New rates, then finish what is done and arm one timer for the next completion. */
  private recompute(): void {
    this.settle();
    this.recomputes++;
    if (this.next) {
      this.clock.clearTimer(this.next);
      this.next = undefined;
    }
    const now = this.clock.now();
    // Finished flows first (zero-byte ones finish at once).
    for (const f of [...this.flows.values()]) {
      if (f.remaining <= 1e-6) {
        this.flows.delete(f.id);
        f.remaining = 0;
        f.done(f, now);
      }
    }
    if (this.flows.size === 0) return;
    const flows = [...this.flows.values()];
    const rates = maxMinRatesIndexed(this.capacity, flows);
    let soonest = Number.POSITIVE_INFINITY;
    flows.forEach((f, i) => {
      f.rate = rates[i]!;
      if (f.rate > 0) soonest = Math.min(soonest, f.remaining / f.rate);
    });
    if (Number.isFinite(soonest))
      this.next = this.clock.setTimer(() => {
        this.next = undefined;
        this.recompute();
      }, soonest);
  }
}
