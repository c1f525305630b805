/**
 * What the scheduler sees of a host: the seam between placement and execution. The embedded
 * platform's {@link WorkerAgent} is one (in this process); cluster mode's `RemoteWorker` is another
 * (a worker process on another host, over HTTP). Nothing above this seam knows which it has.
 */
import type { InstanceState } from '../core/metrics.js';
import type { FunctionVersion } from '../control/functions.js';
import type { KeepAliveState, PoolCounts, WorkerInvocation, WorkerResult } from './agent.js';
import type { HostGcInput, HostGcReport } from './host-gc.js';

/** One instance, as the API shows it. */
export interface InstanceDescription {
  id: string;
  pid: number | undefined;
  inflight: number;
  lastUsed: number;
  state: InstanceState;
  memoryBytes: number | undefined;
}

/** One function version's instances on one host. */
export interface VersionInstances {
  /** The host the instances run on. */
  host: string;
  version: number;
  instances: InstanceDescription[];
}

/** Instance counts of one tier in one state. */
export interface InstanceCount {
  tier: string;
  state: InstanceState;
  count: number;
}

export interface WorkerHandle {
  /** Stable id of the host (`local` for the embedded platform's own worker). */
  readonly hostId: string;
  /** Invocations this handle has running now (placement balances on it). */
  readonly inFlight: number;
  /** Runs one invocation. Rejects with KINDLING_WORKER_LOST when the host stopped answering. */
  invoke(target: FunctionVersion, inv: WorkerInvocation): Promise<WorkerResult>;
  /** Keeps `target.config.minWarm` instances ready and gets the image onto the host ahead of time. */
  keepWarm(target: FunctionVersion): void;
  /**
   * Starts one instance of `target` ahead of an arrival known in advance (a scheduled trigger's
   * tick) unless one is loaded, kept idle for `holdMs`. Fire and forget.
   */
  prewarm(target: FunctionVersion, holdMs: number): void;
  /** Stops every instance of a function (all versions). */
  drop(tenant: string, name: string): Promise<void>;
  /** The instances of one function on this host. */
  instancesOf(tenant: string, name: string): Promise<VersionInstances[]>;
  /** Instance counts by tier and state (for metrics; a remote host's come from its last heartbeat). */
  instanceCounts(): InstanceCount[];
  /** Instance counts of every warm pool on the host (a remote host's from its last heartbeat). */
  poolCounts(): PoolCounts[];
  /** The keep-alive policy in force for `target` and its current decision; only where the pool runs in this process. */
  keepAliveOf?(target: FunctionVersion): KeepAliveState;
  /** True when the host holds the image (placement prefers such hosts for a cold start). */
  holdsImage(digest: string): boolean;
  /** True when the host has (or is starting) an instance of this version. */
  runs(versionKey: string): boolean;
  /**
   * Removes the host's copies of images nothing live uses, after the registry's garbage collection;
   * only where the host's files are in this process's reach (the embedded worker).
   */
  collectGarbage?(input: HostGcInput): Promise<HostGcReport>;
}
