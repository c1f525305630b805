/**
 * Who is in the cluster, on the control plane: workers register, send heartbeats, and are removed
 * when they miss heartbeats for `deadAfterMs` (their in-flight invocations fail over: the invoker
 * retries KINDLING_WORKER_LOST elsewhere). Clock-driven, so tests move time by hand.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { Scheduler } from '../control/scheduler.js';
import type { HeartbeatBody, RegisterBody } from './protocol.js';
import { RemoteWorker } from './remote-worker.js';

export interface MembershipOptions {
  clock: Clock;
  scheduler: Scheduler;
  /** The key workers accept from the control plane. */
  workerKey: string;
  /** How often workers send heartbeats. Default 1 s. */
  heartbeatMs?: number;
  /** Missed-heartbeat time after which a worker is removed. Default 3 heartbeats. */
  deadAfterMs?: number;
  /** Lazy loading: the startup working set sent to workers with each invocation. */
  workingSetOf?: (digest: string) => string[] | undefined;
  /** A host joined (first registration, or again after being removed). */
  onJoin?(hostId: string): void;
  /** A host was removed (it stopped answering, or left). */
  onLeave?(hostId: string, why: string): void;
  onBackgroundError(err: KindlingError, hostId: string): void;
}

interface Member {
  worker: RemoteWorker;
  lastSeen: number;
  registeredAt: number;
}

export class ClusterMembership {
  readonly heartbeatMs: number;
  private readonly deadAfterMs: number;
  private readonly members = new Map<string, Member>();
  private timer: TimerHandle | undefined;

  constructor(private readonly opts: MembershipOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.deadAfterMs = opts.deadAfterMs ?? 3 * this.heartbeatMs;
    this.schedule();
  }

  /** A worker registers (again): it is (re)added to placement with no state until its first heartbeat. */
  register(body: RegisterBody): { heartbeatMs: number; peers: Record<string, string> } {
    const now = this.opts.clock.monotonic();
    const known = this.members.get(body.hostId);
    const worker = new RemoteWorker({
      hostId: body.hostId,
      url: body.url,
      key: this.opts.workerKey,
      memoryMb: body.memoryMb,
      tiers: body.tiers,
      ...(this.opts.workingSetOf ? { workingSetOf: this.opts.workingSetOf } : {}),
      onBackgroundError: (err) => this.opts.onBackgroundError(err, body.hostId),
    });
    this.members.set(body.hostId, { worker, lastSeen: now, registeredAt: this.opts.clock.now() });
    this.opts.scheduler.add(worker);
    if (!known) this.opts.onJoin?.(body.hostId);
    return { heartbeatMs: this.heartbeatMs, peers: this.addresses() };
  }

  /**
   * A heartbeat; answers the members' addresses (the worker's peer address book for image
   * distribution). KINDLING_NOT_FOUND when the host is not (or no longer) a member.
   */
  heartbeat(hostId: string, body: HeartbeatBody): { peers: Record<string, string> } {
    const member = this.members.get(hostId);
    if (!member) {
      throw new KindlingError('KINDLING_NOT_FOUND', `host ${hostId} is not registered; register first`, {
        host: hostId,
      });
    }
    member.lastSeen = this.opts.clock.monotonic();
    member.worker.update(body);
    return { peers: this.addresses() };
  }

  /** Host id → base URL of every member. */
  addresses(): Record<string, string> {
    const peers: Record<string, string> = {};
    for (const [id, m] of this.members) peers[id] = m.worker.url;
    return peers;
  }

  /** Removes a host now (it left, or a caller found it dead). */
  remove(hostId: string, why: string): boolean {
    const member = this.members.get(hostId);
    if (!member) return false;
    this.members.delete(hostId);
    member.worker.abandon(why);
    this.opts.scheduler.remove(hostId);
    this.opts.onLeave?.(hostId, why);
    return true;
  }

  /** Every member, as `GET /v1/cluster/hosts` shows it. */
  list() {
    const now = this.opts.clock.monotonic();
    return [...this.members.values()]
      .map((m) => ({
        ...m.worker.describe(),
        registeredAt: m.registeredAt,
        lastHeartbeatMsAgo: Math.round(now - m.lastSeen),
      }))
      .sort((a, b) => a.hostId.localeCompare(b.hostId));
  }

  get size(): number {
    return this.members.size;
  }

  close(): void {
    if (this.timer) this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** Removes members whose last heartbeat is older than `deadAfterMs`. */
  sweep(): void {
    const now = this.opts.clock.monotonic();
    for (const [id, m] of this.members) {
      if (now - m.lastSeen > this.deadAfterMs)
        this.remove(id, `no heartbeat for ${Math.round(now - m.lastSeen)} ms`);
    }
  }

  private schedule(): void {
    this.timer = this.opts.clock.setTimer(() => {
      this.sweep();
      this.schedule();
    }, this.heartbeatMs);
  }
}
