/** A loopback cluster for end-to-end tests: a control plane in this process, workers as child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startPlatform, type Platform } from '../../src/platform.js';
import { call, cliPath, eventually, tempDir, type Reply } from './platform.js';

export interface TestCluster {
  platform: Platform;
  workers: Map<string, ChildProcess>;
  call: <T = any>(method: string, path: string, body?: unknown, key?: string) => Promise<Reply<T>>;
  /** Starts `kindling worker --id ID` and waits until the control plane lists it. */
  addWorker(id: string): Promise<ChildProcess>;
  /** Host ids the control plane lists now. */
  hosts(): Promise<string[]>;
  close(): Promise<void>;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

export async function startTestCluster(
  deploy: string[],
  workerIds: string[],
  heartbeatMs = 1000,
  options: {
    lazy?: boolean;
    distribution?: 'registry' | 'swarm' | 'tree';
    /** Each worker's image traffic limit, each way (`kindling worker --bandwidth`, e.g. `8mbit`). */
    bandwidth?: string;
  } = {},
): Promise<TestCluster> {
  const { bandwidth, ...clusterOptions } = options;
  const dir = tempDir('kindling-cluster-');
  const platform = await startPlatform({
    dataDir: join(dir, 'control'),
    port: 0,
    deploy,
    cluster: { heartbeatMs, ...clusterOptions },
  });
  const workers = new Map<string, ChildProcess>();
  const c = (method: string, path: string, body?: unknown, key = platform.adminKey) =>
    call(platform.url, key, method, path, body);
  const hosts = async () =>
    ((await c('GET', '/v1/cluster/hosts')).body.hosts as { hostId: string }[]).map((h) => h.hostId);
  const addWorker = async (id: string) => {
    const child = spawn(
      process.execPath,
      [
        cliPath,
        'worker',
        '--control',
        platform.url,
        '--id',
        id,
        '--data',
        join(dir, id),
        ...(bandwidth ? ['--bandwidth', bandwidth] : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KINDLING_KEY: platform.adminKey } },
    );
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    workers.set(id, child);
    await eventually(
      async () => {
        if (!running(child)) throw new Error(`worker ${id} exited: ${output}`);
        return (await hosts()).includes(id) ? true : undefined;
      },
      30_000,
      `worker ${id} to register`,
    );
    return child;
  };
  for (const id of workerIds) await addWorker(id);
  return {
    platform,
    workers,
    call: c,
    addWorker,
    hosts,
    async close() {
      const live = [...workers.values()].filter(running);
      const exits = live.map((w) => new Promise((r) => w.once('exit', r)));
      for (const child of live) child.kill('SIGTERM');
      await Promise.all(exits);
      await platform.close();
    },
  };
}
