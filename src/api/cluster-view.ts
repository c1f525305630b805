/**
 * `GET /v1/ui/cluster` and its live stream: the hosts that run functions and, in cluster mode, the
 * image distributions with their function trees, filtered to what the principal may see. On the
 * embedded platform that is the one local host; in cluster mode, every registered worker from its
 * heartbeats.
 */
import { cpus, freemem, hostname, loadavg, totalmem } from 'node:os';
import type { InstanceState } from '../core/metrics.js';
import type { Principal } from '../control/tenants.js';
import type { ClusterHostView, ClusterView } from './cluster-types.js';
import type { ApiContext } from './context.js';
import { canSee, type InstanceCounts } from './event-feed.js';

/** The cluster view for `principal`; `instances` counts the embedded host's instances for it. */
export async function clusterView(
  ctx: ApiContext,
  principal: Principal,
  instances: (principal: Principal) => InstanceCounts,
): Promise<ClusterView> {
  const visible = (tenant: string) => canSee(principal, tenant);
  const cluster = ctx.cluster;
  if (!cluster) {
    const local: ClusterHostView = {
      id: 'local',
      name: hostname(),
      roles: ['gateway', 'scheduler', 'registry', 'worker'],
      cpus: cpus().length,
      loadAverage: loadavg(),
      memory: { totalBytes: totalmem(), freeBytes: freemem(), platformRssBytes: process.memoryUsage().rss },
      instances: instances(principal),
      pools: ctx.scheduler
        .all()
        .flatMap((w) => w.poolCounts())
        .filter((p) => visible(p.tenant)).length,
      // One host: every deployed image is in its own registry, nothing is distributed.
      images: 0,
      imageVersions: [],
    };
    return {
      mode: 'embedded',
      message:
        'cluster mode is not running: this is the embedded single-host platform (gateway, scheduler, registry and one worker in one process)',
      hosts: [local],
      trees: [],
    };
  }
  const trees = await cluster.distributions(visible);
  const members = cluster.hosts();
  return {
    mode: 'cluster',
    message: `cluster mode: ${members.length} worker hosts registered with this control plane`,
    hosts: members.map((h) => {
      const pools = (ctx.scheduler.get(h.hostId)?.poolCounts() ?? []).filter((p) => visible(p.tenant));
      const counts: InstanceCounts = {};
      for (const p of pools) {
        const t = (counts[p.tier] ??= { starting: 0, idle: 0, busy: 0, evicting: 0 });
        for (const state of Object.keys(t) as InstanceState[]) t[state] += p.counts[state];
      }
      const totalBytes = h.memory?.totalBytes ?? h.memoryMb * 1024 * 1024;
      // Versions whose image the host holds or is fetching (it is in their distribution); a tenant
      // counts only its own, an admin every image the host reported.
      const imageVersions = trees.filter((t) => t.hosts.some((m) => m.host === h.hostId)).map((t) => t.fn);
      return {
        id: h.hostId,
        name: h.url,
        roles: ['worker'],
        memory: {
          totalBytes,
          freeBytes: h.memory?.freeBytes ?? totalBytes,
          platformRssBytes: h.memory?.workerRssBytes ?? 0,
        },
        instances: counts,
        pools: pools.length,
        images: principal.role === 'admin' ? h.images.length : imageVersions.length,
        imageVersions,
        lastHeartbeatMsAgo: h.lastHeartbeatMsAgo,
      };
    }),
    trees,
  };
}
