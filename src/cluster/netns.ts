/**
 * A test cluster on one machine: one network namespace per host, joined by veth pairs to a bridge
 * that lives in a namespace of its own, each host's link limited with `tc` each way (the host side
 * shapes its upload, the bridge side its download), with a fair queue per peer under the limit
 * (`link-shaping.ts`). The control plane runs in
 * one namespace, each worker in another, so image bytes between hosts cross real, rate-limited
 * links.
 *
 * Traffic stays inside what this creates: the addresses are on a private /24 that exists only on
 * these links, and the machine's own namespace gets one veth onto the bridge (with the .254 address)
 * so the operator's CLI can reach the gateway; nothing is routed anywhere else. Everything is torn
 * down on close, on exit and on SIGINT/SIGTERM: processes, then namespaces (deleting a namespace
 * deletes its links). Names carry a random id (`kd<id>…`) so two clusters never collide, and the
 * names are written to `<dataDir>/netns-cluster.json` so `kindling cluster down` can clean up after
 * a crash.
 *
 * The control plane's host has a second address, the registry's: workers fetch from the registry
 * there, so a test can take the registry off the network ({@link ClusterNetwork.setRegistryReachable})
 * while the gateway, scheduler and distribution hub stay reachable.
 *
 * Latency uses the kernel's netem qdisc in each leaf of the shaping; on kernels without it (as on the
 * machines this was developed on) each link is instead a pair of TAP devices joined by a userspace
 * forwarder that adds the delay (`delay-line.ts`), and {@link ClusterNetwork.warnings} says so. Either
 * way the delay is one way per link end: a packet between two hosts crosses two ends, so the round
 * trip between hosts is four times `latencyMs`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KindlingError } from '../core/errors.js';
import { delayLineProgram, startDelayLine } from './delay-line.js';
import { fairShapingBatch, peerClassId, type LinkQueue, type LinkShaping } from './link-shaping.js';

interface State {
  id: string;
  namespaces: string[];
  rootLink: string;
}

const STATE_FILE = 'netns-cluster.json';

/** Why a netns cluster cannot run here, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'tc']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing (apt-get install iproute2)`;
    }
  }
  return undefined;
}

/** Parses `100mbit`, `1gbit`, `500kbit` or a number of bits/s. */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?(bit|bps)?$/i.exec(text.trim());
  if (!m) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `invalid rate ${JSON.stringify(text)}: use e.g. 100mbit, 1gbit or 500kbit`,
    );
  }
  const unit = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  const bits = Number(m[1]) * unit * ((m[3] ?? '').toLowerCase() === 'bps' ? 8 : 1);
  if (bits < 64_000) throw new KindlingError('KINDLING_INVALID_CONFIG', `rate ${text} is below 64kbit`);
  return bits;
}

/** Parses `1ms`, `0.5ms`, `0`. */
export function parseLatency(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms)?$/.exec(text.trim());
  if (!m || Number(m[1]) > 10_000) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `invalid latency ${JSON.stringify(text)}: use e.g. 1ms (0 to 10000 ms)`,
    );
  }
  return Number(m[1]);
}

/** Runs `ip` with `args` (and `input` on its stdin), throwing its stderr as a KindlingError. */
function ip(args: string[], input?: string): void {
  try {
    execFileSync(
      'ip',
      args,
      input === undefined
        ? { stdio: ['ignore', 'ignore', 'pipe'] }
        : { input, stdio: ['pipe', 'ignore', 'pipe'] },
    );
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new KindlingError('KINDLING_UNAVAILABLE', `ip ${args.join(' ')} failed: ${stderr || err}`);
  }
}

function inNs(ns: string, cmd: string[]): void {
  ip(['netns', 'exec', ns, ...cmd]);
}

/** Shapes egress of `dev` in `ns` (see `link-shaping.ts`), in one `tc -batch` run. */
function shape(ns: string, dev: string, shaping: LinkShaping): void {
  ip(['netns', 'exec', ns, 'tc', '-batch', '-'], fairShapingBatch(dev, shaping).join('\n') + '\n');
}

/** Bytes each HTB class of `dev` in `ns` has sent (`tc -s class show`), by class id (`1:10`). */
function classBytesSent(ns: string, dev: string): Map<string, number> {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'tc', '-s', 'class', 'show', 'dev', dev], {
    encoding: 'utf8',
  });
  const sent = new Map<string, number>();
  for (const m of text.matchAll(/^class htb (\S+) [^\n]*\n\s*Sent (\d+) bytes/gm))
    sent.set(m[1]!, Number(m[2]));
  return sent;
}

/** Whether this kernel has the netem qdisc (tried on the loopback device of `ns`). */
function netemAvailable(ns: string): boolean {
  try {
    execFileSync(
      'ip',
      ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'],
      {
        stdio: 'ignore',
      },
    );
    execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Removes whatever a previous cluster in `dataDir` left behind (processes are gone with it). */
export function netnsClusterDown(dataDir: string): string[] {
  const file = join(resolve(dataDir), STATE_FILE);
  if (!existsSync(file)) return [];
  const state = JSON.parse(readFileSync(file, 'utf8')) as State;
  const removed: string[] = [];
  for (const ns of state.namespaces) {
    try {
      // Processes still inside (a crashed run) are killed with the namespace's pids.
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        .split(/\s+/)
        .filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      removed.push(ns);
    } catch {
      // already gone
    }
  }
  try {
    execFileSync('ip', ['link', 'del', state.rootLink], { stdio: 'ignore' });
  } catch {
    // deleted with its peer
  }
  rmSync(file, { force: true });
  return removed;
}

/** A network built for a local cluster: where each process runs and how to remove it all. */
export interface ClusterNetwork {
  /** Address of the control plane and of each worker. */
  controlIp: string;
  /**
   * The address workers reach the registry at: a second address of the control plane's host, so
   * that it can be made unreachable alone (the control plane serves the registry).
   */
  registryIp: string;
  workerIps: string[];
  /** The namespace a process runs in (undefined: this machine's). */
  controlNs: string | undefined;
  workerNs: (string | undefined)[];
  warnings: string[];
  /**
   * Makes the registry's address unreachable (its address removed from the control plane's host:
   * new connections find no one, open ones stall) or reachable again. Netns only.
   */
  setRegistryReachable(reachable: boolean): void;
  /**
   * Bytes a host has sent to each peer address over its link so far (the control plane's host, or a
   * worker by index), read from its shaping's per-peer classes. Netns with fair queues only.
   */
  uploadByPeer(host: 'control' | number): Map<string, number>;
  teardown(): void;
}

/** Builds the namespaces, bridge, links and shaping of a netns cluster (see the module comment). */
export async function buildNetnsNetwork(opts: {
  hosts: number;
  nicBitsPerSec: number;
  registryNicBitsPerSec: number;
  latencyMs?: number;
  /** A fair queue per peer under each link's rate (default) or one FIFO (see link-shaping.ts). */
  linkQueue?: LinkQueue;
  dataDir: string;
}): Promise<ClusterNetwork> {
  const why = netnsUnavailable();
  if (why) {
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      `cannot build a network-namespace cluster: ${why}; use a loopback cluster (kindling cluster up --loopback), whose bandwidth is limited in the transport`,
    );
  }
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  netnsClusterDown(dataDir);
  const id = randomBytes(3).toString('hex');
  const subnet = `10.${200 + (parseInt(id.slice(0, 2), 16) % 50)}.${parseInt(id.slice(2, 4), 16)}`;
  const sw = `kd${id}sw`;
  const control = `kd${id}cp`;
  const workerNs = Array.from({ length: opts.hosts }, (_, i) => `kd${id}h${i + 1}`);
  const controlIp = `${subnet}.1`;
  const registryIp = `${subnet}.2`;
  const controlAddresses = [controlIp, registryIp];
  const workerAddresses = workerNs.map((_, i) => `${subnet}.${10 + i}`);
  const state: State = { id, namespaces: [sw, control, ...workerNs], rootLink: `kd${id}r` };
  writeFileSync(join(dataDir, STATE_FILE), JSON.stringify(state) + '\n');
  const warnings: string[] = [];
  const uploads = new Map<string, LinkShaping>();
  const teardown = () => void netnsClusterDown(dataDir);
  try {
    ip(['netns', 'add', sw]);
    inNs(sw, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    inNs(sw, ['ip', 'link', 'set', 'br0', 'up']);
    inNs(sw, ['ip', 'link', 'set', 'lo', 'up']);
    // netem's delay in the shaping's leaves, or a delay line per link where the kernel has no netem.
    let latencyMs = opts.latencyMs ?? 0;
    let delayLine: string | undefined;
    if (latencyMs && !netemAvailable(sw)) {
      try {
        delayLine = delayLineProgram(dataDir);
        warnings.push(
          `this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): each link is a TAP pair whose ${latencyMs} ms ` +
            'delay a userspace forwarder adds (native/delay-line.c), which costs CPU per frame',
        );
      } catch (err) {
        warnings.push(
          `--latency ${latencyMs}ms ignored: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM) and ` +
            `${(err as Error).message}; bandwidth limits apply`,
        );
      }
      latencyMs = 0;
    }
    // Every address on the subnet, so each link gets one fair-queued class per peer.
    const everyAddress = [...controlAddresses, ...workerAddresses, `${subnet}.254`];
    const attach = async (ns: string, index: number, own: string[], bits: number) => {
      ip(['netns', 'add', ns]);
      const port = `p${index}`;
      if (delayLine)
        await startDelayLine(delayLine, { ns, device: 'eth0' }, { ns: sw, device: port }, opts.latencyMs!);
      else ip(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', sw]);
      inNs(ns, ['ip', 'addr', 'add', `${own[0]}/24`, 'dev', 'eth0']);
      inNs(ns, ['ip', 'link', 'set', 'eth0', 'up']);
      inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
      inNs(sw, ['ip', 'link', 'set', port, 'master', 'br0']);
      inNs(sw, ['ip', 'link', 'set', port, 'up']);
      const peers = everyAddress.filter((a) => !own.includes(a));
      const queue = opts.linkQueue ?? 'fair';
      const hostUpload: LinkShaping = { bitsPerSec: bits, peers, match: 'dst', latencyMs, queue };
      uploads.set(ns, hostUpload);
      shape(ns, 'eth0', hostUpload);
      shape(sw, port, { bitsPerSec: bits, peers, match: 'src', latencyMs, queue });
    };
    await attach(control, 0, controlAddresses, opts.registryNicBitsPerSec);
    for (const [i, ns] of workerNs.entries())
      await attach(ns, i + 1, [workerAddresses[i]!], opts.nicBitsPerSec);
    // The operator's way in: one unshaped link from this namespace to the bridge.
    ip(['link', 'add', state.rootLink, 'type', 'veth', 'peer', 'name', 'op', 'netns', sw]);
    ip(['addr', 'add', `${subnet}.254/24`, 'dev', state.rootLink]);
    ip(['link', 'set', state.rootLink, 'up']);
    inNs(sw, ['ip', 'link', 'set', 'op', 'master', 'br0']);
    inNs(sw, ['ip', 'link', 'set', 'op', 'up']);
  } catch (err) {
    teardown();
    throw err;
  }
  // The registry's own address on the control plane's link (see ClusterNetwork.registryIp).
  const registryAddress = ['ip', 'addr', 'add', `${registryIp}/24`, 'dev', 'eth0'];
  try {
    inNs(control, registryAddress);
  } catch (err) {
    teardown();
    throw err;
  }
  return {
    controlIp,
    registryIp,
    setRegistryReachable(reachable) {
      inNs(control, reachable ? registryAddress : ['ip', 'addr', 'del', `${registryIp}/24`, 'dev', 'eth0']);
    },
    uploadByPeer(host) {
      const ns = host === 'control' ? control : workerNs[host];
      const shaping = ns === undefined ? undefined : uploads.get(ns);
      if (!ns || !shaping) throw new KindlingError('KINDLING_NOT_FOUND', `no host ${host} in this cluster`);
      if (shaping.queue === 'fifo')
        throw new KindlingError('KINDLING_UNAVAILABLE', 'a fifo link has no per-peer classes to count');
      const sent = classBytesSent(ns, 'eth0');
      return new Map(shaping.peers.map((peer) => [peer, sent.get(peerClassId(shaping, peer)!) ?? 0]));
    },
    workerIps: workerAddresses,
    controlNs: control,
    workerNs,
    warnings,
    teardown,
  };
}
