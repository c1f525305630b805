/** `kindling cluster up|down`: a whole cluster on this machine (see src/cluster/local-cluster.ts). */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from '../cli-error.js';
import { startLocalCluster } from '../../cluster/local-cluster.js';
import { parseLinkQueue } from '../../cluster/link-shaping.js';
import { netnsClusterDown, netnsUnavailable, parseLatency, parseRate } from '../../cluster/netns.js';
import { describeOwner, liveLockOwner } from '../../core/data-dir-lock.js';
import { toKindlingError } from '../../core/errors.js';

export interface ClusterUpFlags {
  hosts: string;
  nic: string;
  registryNic: string;
  latency: string;
  linkQueue: string;
  data: string;
  loopback?: boolean;
  port?: string;
  distribution?: string;
}

const cliPath = fileURLToPath(new URL('../../../../bin/kindling.js', import.meta.url));

/** A platform error as the CLI reports it, keeping its code (for `--json` errors). */
function asCliError(err: unknown): CliError {
  const e = toKindlingError(err);
  return new CliError(e.message, e.code);
}

function parse<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw asCliError(err);
  }
}

export async function clusterUp(flags: ClusterUpFlags): Promise<void> {
  const hosts = Number(flags.hosts);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 200)
    throw new CliError(`invalid --hosts ${JSON.stringify(flags.hosts)}: use a whole number from 1 to 200`);
  const nicBitsPerSec = parse(() => parseRate(flags.nic));
  const registryNicBitsPerSec = parse(() => parseRate(flags.registryNic));
  const latencyMs = parse(() => parseLatency(flags.latency));
  const linkQueue = parse(() => parseLinkQueue(flags.linkQueue));
  let network: 'netns' | 'loopback' = flags.loopback ? 'loopback' : 'netns';
  const why = netnsUnavailable();
  if (network === 'netns' && why) {
    console.log(`Network namespaces are not available (${why}): starting a loopback cluster instead,`);
    console.log('with bandwidth limited in the transport. Run as root with iproute2 for real links.');
    network = 'loopback';
  }
  const say = (line: string) => console.log(line);
  say(`Starting a ${network} cluster: control plane + ${hosts} workers…`);
  const cluster = await startLocalCluster({
    network,
    hosts,
    nicBitsPerSec,
    registryNicBitsPerSec,
    latencyMs,
    linkQueue,
    dataDir: flags.data,
    cliPath,
    ...(flags.port ? { controlPort: Number(flags.port) } : {}),
    ...(flags.distribution ? { controlArgs: ['--distribution', flags.distribution] } : {}),
    onOutput: process.env.KINDLING_CLUSTER_VERBOSE ? say : undefined,
    say,
  }).catch((err: unknown) => {
    throw asCliError(err);
  });
  for (const w of cluster.warnings) say(`warning: ${w}`);
  say('');
  say(`Control plane: ${cluster.controlUrl}   (admin key: ${flags.data}/control/admin-key)`);
  for (const h of cluster.hosts) say(`  ${h.id}  ${h.url}`);
  say('');
  say(`Deploy and invoke with --url ${cluster.controlUrl} --data-dir ${flags.data}/control, e.g.`);
  say(`  npx kindling --url ${cluster.controlUrl} --data-dir ${flags.data}/control deploy examples/hello`);
  say(
    network === 'netns'
      ? 'Ctrl-C stops every process and removes the namespaces and links.'
      : 'Ctrl-C stops every process.',
  );
  // Stay up until interrupted; local-cluster's signal handlers tear down and re-raise.
  await new Promise<never>(() => {});
}

export function clusterDown(flags: { data: string }): void {
  const owner = liveLockOwner(flags.data);
  if (owner)
    throw new CliError(
      `the cluster in ${resolve(flags.data)} is running (${describeOwner(owner)}): stop it with Ctrl-C ` +
        `or kill ${owner.pid}, which removes its namespaces; \`cluster down\` is for a cluster that crashed`,
    );
  const removed = netnsClusterDown(flags.data);
  console.log(
    removed.length ? `removed ${removed.length} namespaces: ${removed.join(' ')}` : 'nothing to remove',
  );
}
