/**
 * A whole cluster on this machine, for tests, benchmarks and trying cluster mode out: a control plane
 * (`kindling up --cluster`) and N workers (`kindling worker`) as separate processes, on one of two
 * networks:
 *
 * - `netns` (needs root and iproute2): one network namespace per host, links shaped with tc
 *   (see `netns.ts`). Bytes between hosts cross real, rate-limited links.
 * - `loopback`: every process on 127.0.0.1 with its own port; bandwidth is limited in the
 *   transport instead (each worker's downloads and peer uploads through a token bucket), which
 *   limits the same bytes but not the kernel's queues. The registry's uplink is not limited there.
 *
 * Closing (or this process exiting, or SIGINT/SIGTERM) stops every process and removes the network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lockDataDir } from '../core/data-dir-lock.js';
import { KindlingError } from '../core/errors.js';
import { heapTuningFlags } from './heap-tuning.js';
import { withMallocTuning } from './malloc-tuning.js';
import type { LinkQueue } from './link-shaping.js';
import { buildNetnsNetwork, type ClusterNetwork } from './netns.js';

export interface LocalClusterOptions {
  network: 'netns' | 'loopback';
  hosts: number;
  /** Each worker's link rate each way, bits/s. */
  nicBitsPerSec: number;
  /** The control plane's (the registry's) link rate each way, bits/s. */
  registryNicBitsPerSec: number;
  /** One-way delay per link end, ms (netns only: netem, or a delay line where the kernel has none). */
  latencyMs?: number;
  /** How each shaped link queues: a fair queue per peer (default) or one FIFO (netns only). */
  linkQueue?: LinkQueue;
  dataDir: string;
  /** The `kindling` entry script. */
  cliPath: string;
  /** Port of the control plane (netns: on its own address; loopback: 0 picks one). */
  controlPort?: number;
  /** Extra arguments of `kindling up --cluster` (say `--distribution tree`). */
  controlArgs?: string[];
  /** Extra arguments of every `kindling worker`. */
  workerArgs?: string[];
  /** Lines the processes print, prefixed with their name. Default: dropped. */
  onOutput?: (line: string) => void;
  /** Messages for the operator (a stale lock of the data directory taken over). Default: dropped. */
  say?: (line: string) => void;
}

export interface LocalHost {
  id: string;
  url: string;
  process: ChildProcess;
}

export interface LocalCluster {
  network: 'netns' | 'loopback';
  /** The gateway's URL, reachable from this machine's namespace. */
  controlUrl: string;
  adminKey: string;
  /** Where workers reach the registry (netns: its own address of the control plane's host). */
  registryUrl: string;
  hosts: LocalHost[];
  warnings: string[];
  /** Cuts the registry off from the workers, or restores it (netns only; see ClusterNetwork). */
  setRegistryReachable(reachable: boolean): void;
  /**
   * Bytes a host (`control` or a worker's id) has sent over its link to each peer so far, by the
   * peer's name (`control`, `registry`, a worker's id, or an address). Netns with fair queues only.
   */
  uploadByPeer(host: string): Map<string, number>;
  /** SIGKILLs a worker (a host failure). */
  kill(hostId: string): void;
  /** Stops a worker gracefully (it deregisters and leaves image distribution); resolves once it exited. */
  stop(hostId: string): Promise<void>;
  close(): Promise<void>;
}

const WORKER_PORT = 7000;

function loopbackNetwork(hosts: number, latencyMs: number): ClusterNetwork {
  return {
    controlIp: '127.0.0.1',
    registryIp: '127.0.0.1',
    setRegistryReachable() {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        'a loopback cluster cannot cut the registry off (it shares the control plane address): use the netns cluster',
      );
    },
    uploadByPeer() {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        'a loopback cluster has no shaped links to count: use the netns cluster',
      );
    },
    workerIps: Array.from({ length: hosts }, () => '127.0.0.1'),
    controlNs: undefined,
    workerNs: Array.from({ length: hosts }, () => undefined),
    warnings: latencyMs
      ? [
          `--latency ${latencyMs}ms ignored: a loopback cluster has no links to delay (a netns cluster has, as root)`,
        ]
      : [],
    teardown() {},
  };
}

export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200)
    throw new KindlingError('KINDLING_INVALID_CONFIG', `--hosts must be 1-200, got ${opts.hosts}`);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Before the network: building one first removes whatever network the directory's state file
  // names, which would be a running cluster's.
  const lock = lockDataDir(dataDir, {
    command: 'kindling cluster up',
    otherDir: '--data DIR',
    ...(opts.say ? { say: opts.say } : {}),
  });
  let net: ClusterNetwork;
  try {
    net =
      opts.network === 'netns'
        ? await buildNetnsNetwork(opts)
        : loopbackNetwork(opts.hosts, opts.latencyMs ?? 0);
  } catch (err) {
    lock.release();
    throw err;
  }
  const loopback = opts.network === 'loopback';
  const children: ChildProcess[] = [];
  let closing: Promise<void> | undefined;

  // Every caller waits for the same teardown: a caller that went on while it ran (a signal's close
  // racing the owner's) could delete the data directory holding the network's state file first.
  const close = (): Promise<void> => (closing ??= closeOnce());
  // The signal handlers stay until the teardown is done: a second Ctrl-C (or a supervisor that
  // signals the process and its group) during it must not kill this process with the namespaces
  // still there, since a death by signal runs no 'exit' handler.
  const closeOnce = async () => {
    const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = live.map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of live) c.kill('SIGTERM');
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5_000).unref())]);
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      net.teardown();
    } finally {
      lock.release();
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
  const onExit = () => {
    for (const c of children) c.kill('SIGKILL');
    net.teardown();
    lock.release();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      opts.say?.(`${signal}: still removing the cluster's processes and namespaces…`);
      return;
    }
    void close().then(() => process.kill(process.pid, signal));
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const run = (ns: string | undefined, name: string, args: string[], env: Record<string, string> = {}) => {
    const argv = [process.execPath, ...heapTuningFlags(process.env), opts.cliPath, ...args];
    const options = {
      stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
      env: withMallocTuning({ ...process.env, ...env }),
    };
    const child = ns
      ? spawn('ip', ['netns', 'exec', ns, ...argv], options)
      : spawn(argv[0]!, argv.slice(1), options);
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line) opts.onOutput?.(`[${name}] ${line}`);
    };
    child.stdout!.on('data', forward);
    child.stderr!.on('data', forward);
    children.push(child);
    return child;
  };

  try {
    const controlData = join(dataDir, 'control');
    const controlPort = opts.controlPort ?? (loopback ? 0 : 8080);
    const cp = run(net.controlNs, 'control', [
      'up',
      '--cluster',
      '--no-examples',
      // In a namespace, listen on the host's addresses: the control plane's and the registry's.
      '--host',
      loopback ? net.controlIp : '0.0.0.0',
      ...(loopback ? [] : ['--advertise', `http://${net.controlIp}:${controlPort}`]),
      '--port',
      String(controlPort),
      '--data',
      controlData,
      ...(opts.controlArgs ?? []),
    ]);
    const { url: controlUrl, key: adminKey } = await waitFor(
      async () => {
        if (cp.exitCode !== null) throw new KindlingError('KINDLING_UNAVAILABLE', 'the control plane exited');
        const endpoint = join(controlData, 'endpoint.json');
        const keyFile = join(controlData, 'admin-key');
        if (!existsSync(endpoint) || !existsSync(keyFile)) return undefined;
        const url = (JSON.parse(readFileSync(endpoint, 'utf8')) as { url: string }).url;
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        return ok ? { url, key: readFileSync(keyFile, 'utf8').trim() } : undefined;
      },
      60_000,
      'the control plane to start',
    );

    const registryUrl = controlUrl.replace(net.controlIp, net.registryIp);
    const hosts: LocalHost[] = net.workerIps.map((address, i) => {
      const id = `h${i + 1}`;
      const port = loopback ? 0 : WORKER_PORT;
      const child = run(
        net.workerNs[i],
        id,
        [
          'worker',
          '--control',
          controlUrl,
          ...(loopback ? [] : ['--registry', registryUrl]),
          '--id',
          id,
          '--host',
          address,
          '--port',
          String(port),
          '--data',
          join(dataDir, id),
          ...(loopback ? ['--bandwidth', `${opts.nicBitsPerSec}bit`] : []),
          ...(opts.workerArgs ?? []),
        ],
        // The key goes in the environment, not in argv where `ps` would show it.
        { KINDLING_KEY: adminKey },
      );
      return { id, url: '', process: child };
    });
    const listed = await waitFor(
      async () => {
        for (const h of hosts)
          if (h.process.exitCode !== null)
            throw new KindlingError('KINDLING_UNAVAILABLE', `worker ${h.id} exited`);
        const res = await fetch(`${controlUrl}/v1/cluster/hosts`, {
          headers: { authorization: `Bearer ${adminKey}` },
        }).catch(() => undefined);
        if (!res?.ok) return undefined;
        const body = (await res.json()) as { hosts: { hostId: string; url: string }[] };
        return body.hosts.length === opts.hosts ? body.hosts : undefined;
      },
      120_000,
      `all ${opts.hosts} workers to register`,
    );
    for (const h of hosts) h.url = listed.find((l) => l.hostId === h.id)?.url ?? '';

    return {
      network: opts.network,
      controlUrl,
      adminKey,
      registryUrl,
      hosts,
      warnings: net.warnings,
      setRegistryReachable: (reachable) => net.setRegistryReachable(reachable),
      uploadByPeer(host) {
        const index = hosts.findIndex((h) => h.id === host);
        if (host !== 'control' && index < 0) throw new KindlingError('KINDLING_NOT_FOUND', `no host ${host}`);
        const names = new Map<string, string>([
          [net.controlIp, 'control'],
          [net.registryIp, 'registry'],
          ...net.workerIps.map((ip, i): [string, string] => [ip, hosts[i]?.id ?? ip]),
        ]);
        const sent = net.uploadByPeer(host === 'control' ? 'control' : index);
        return new Map([...sent].map(([ip, bytes]) => [names.get(ip) ?? ip, bytes]));
      },
      kill(hostId) {
        const host = hosts.find((h) => h.id === hostId);
        if (!host) throw new KindlingError('KINDLING_NOT_FOUND', `no host ${hostId}`);
        host.process.kill('SIGKILL');
      },
      async stop(hostId) {
        const host = hosts.find((h) => h.id === hostId);
        if (!host) throw new KindlingError('KINDLING_NOT_FOUND', `no host ${hostId}`);
        if (host.process.exitCode !== null || host.process.signalCode !== null) return;
        const exited = new Promise((r) => host.process.once('exit', r));
        host.process.kill('SIGTERM');
        await exited;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function waitFor<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new KindlingError('KINDLING_TIMEOUT', `gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
