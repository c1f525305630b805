/**
 * The simulator's network: every node (host, or the registry) has a NIC with an uplink and a
 * downlink of fixed bandwidth; a transfer is a flow from one node's uplink to another's downlink,
 * and concurrent flows share links max-min fairly ({@link maxMinRates}). Rates are recomputed when
 * a flow starts or ends; between those instants every flow moves at a constant rate, so the model
 * needs one event per flow start/end, not per packet.
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
  /** Link indices: the sender's uplink and the receiver's downlink. */
  links: number[];
  done: (flow: SimFlow, at: number) => void;
}

/** Nodes, links and flows with max-min fair sharing; see the file comment. */
export class Network {
  /** Link capacities, bytes per ms: node k's uplink is 2k, its downlink 2k + 1. */
  private capacity = new Float64Array(0);
  private readonly nodes = new Map<string, number>();
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

  /** Adds a node with its NIC (the registry is a node too, usually with only an uplink that matters). */
  addNode(id: string, nic: NicSpec): void {
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
    const k = this.nodes.size;
    this.nodes.set(id, k);
    const caps = new Float64Array(2 * (k + 1));
    caps.set(this.capacity);
    caps[2 * k] = mbpsToBytesPerMs(nic.upMbps);
    caps[2 * k + 1] = mbpsToBytesPerMs(nic.downMbps);
    this.capacity = caps;
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
   * flow (its id can cancel it).
   */
  transfer(from: string, to: string, bytes: number, done: (flow: SimFlow, at: number) => void): SimFlow {
    for (const n of [from, to])
      if (!this.has(n)) throw new KindlingError('KINDLING_BAD_REQUEST', `network has no node ${n}`);
    if (from === to)
      throw new KindlingError('KINDLING_BAD_REQUEST', `a flow needs two different nodes, got ${from} twice`);
    if (!(bytes >= 0) || !Number.isFinite(bytes))
      throw new KindlingError('KINDLING_BAD_REQUEST', `flow size must be a finite number ≥ 0, got ${bytes}`);
    this.settle();
    const flow: FlowState = {
      id: `f${++this.seq}`,
      from,
      to,
      bytes,
      startedAt: this.clock.now(),
      remaining: bytes,
      rate: 0,
      links: [2 * this.nodes.get(from)!, 2 * this.nodes.get(to)! + 1],
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
