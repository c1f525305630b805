/**
 * Cluster mode's side of the control plane, assembled in one place: membership (workers register
 * and send heartbeats), the distribution hub (strategies, FT manager, tracker), the startup working
 * sets of lazy loading, and the routes that expose them. `startPlatform` builds it when cluster mode
 * is on and otherwise runs its own worker.
 */
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../api/auth.js';
import type { ApiContext } from '../api/context.js';
import type { Clock } from '../core/clock.js';
import type { Db } from '../control/db.js';
import type { FunctionStore } from '../control/functions.js';
import type { Scheduler } from '../control/scheduler.js';
import { WorkingSetStore } from '../control/working-sets.js';
import { registerDistributionRoutes } from '../distribution/distribution-routes.js';
import type { StrategyName } from '../distribution/strategy.js';
import { clusterRoutes } from './control-routes.js';
import type { BlockSource } from '../image/source.js';
import { createDistributionHub } from './distribution.js';
import { DistributionViews } from './distribution-view.js';
import { ClusterMembership } from './membership.js';

export interface ControlPlaneOptions {
  clock: Clock;
  db: Db;
  scheduler: Scheduler;
  functions: FunctionStore;
  /** The key workers accept from the control plane (they present an admin key in turn). */
  workerKey: string;
  heartbeatMs?: number;
  /** Image distribution strategy of functions that choose none. */
  distribution: StrategyName;
  /** Lazy loading: send each image's recorded working set with its invocations. */
  lazy: boolean;
  /** The registry's manifests (image sizes for the dashboard's distribution view). */
  manifests: Pick<BlockSource, 'getManifest'>;
  say: (line: string) => void;
}

export interface ControlPlane {
  membership: ClusterMembership;
  /** What the dashboard's cluster view reads. */
  view: NonNullable<ApiContext['cluster']>;
  /** The routes workers and admins use (mount inside the authenticated scope). */
  routes: ((scope: FastifyInstance) => Promise<void>)[];
  close(): void;
}

export function createControlPlane(opts: ControlPlaneOptions): ControlPlane {
  const { clock, scheduler, functions, say } = opts;
  const { hub, ft, progress } = createDistributionHub(opts.distribution, functions, clock);
  const views = new DistributionViews({
    hub,
    ft,
    progress,
    functions,
    manifests: opts.manifests,
    onError: (err, fn) => say(`warning: the image of ${fn} cannot be read for the dashboard: ${err.message}`),
  });
  const workingSets = new WorkingSetStore(opts.db);
  const membership = new ClusterMembership({
    clock,
    scheduler,
    workerKey: opts.workerKey,
    ...(opts.lazy ? { workingSetOf: (digest: string) => workingSets.blocksOf(digest) } : {}),
    ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
    onJoin: (host) => {
      say(`host ${host} joined`);
      // minWarm holds per host: a new host warms the latest versions that ask for it.
      const worker = scheduler.get(host);
      for (const fn of functions.list(undefined)) {
        const latest = functions.resolve(fn.tenant, fn.name);
        if (latest.config.minWarm > 0) worker?.keepWarm(latest);
      }
    },
    onLeave: (host, why) => {
      say(`host ${host} left: ${why}`);
      // Its tree children are re-parented; swarm peers stop being named.
      hub.leave(host);
    },
    onBackgroundError: (err, host) => say(`warning: host ${host}: ${err.message}`),
  });
  return {
    membership,
    view: { hosts: () => membership.list(), distributions: (visible) => views.list(visible) },
    routes: [
      (scope) => clusterRoutes(scope, membership, workingSets, clock),
      (scope) => registerDistributionRoutes(scope, hub, { authorize: requireAdmin }),
    ],
    close: () => membership.close(),
  };
}
