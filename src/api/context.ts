/** What the API routes are built from: the platform's services, passed in (no globals). */
import type { Clock } from '../core/clock.js';
import type { Metrics } from '../core/metrics.js';
import type { AsyncDispatcher } from '../control/async-dispatcher.js';
import type { Deployer } from '../control/deployer.js';
import type { FunctionStore } from '../control/functions.js';
import type { InvocationStore } from '../control/invocations.js';
import type { Invoker } from '../control/invoker.js';
import type { Scheduler } from '../control/scheduler.js';
import type { TenantStore } from '../control/tenants.js';
import type { LocalRegistry } from '../image/registry.js';
import type { ClusterMembership } from '../cluster/membership.js';
import type { DistributionView } from './cluster-types.js';
import type { CronTriggers } from '../control/cron-triggers.js';

export interface ApiContext {
  clock: Clock;
  metrics: Metrics;
  tenants: TenantStore;
  functions: FunctionStore;
  invocations: InvocationStore;
  invoker: Invoker;
  dispatcher: AsyncDispatcher;
  deployer: Deployer;
  scheduler: Scheduler;
  registry: LocalRegistry;
  /** Cluster mode's members and function trees; undefined on the embedded platform. */
  cluster?: {
    hosts(): ReturnType<ClusterMembership['list']>;
    /** Image distributions (strategy, function tree, transfer progress) of the tenants `visible` accepts. */
    distributions(visible: (tenant: string) => boolean): Promise<DistributionView[]>;
  };
  /** Scheduled triggers' state (next and last tick of each cron expression). */
  schedules?: Pick<CronTriggers, 'describe'>;
  /** Largest accepted event, in bytes (6 MiB, as AWS Lambda). */
  payloadLimitBytes: number;
  version: string;
}
