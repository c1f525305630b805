/** `kindling worker`: one cluster host, registered with a control plane. */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { CliError } from '../cli-error.js';
import { startWorkerNode } from '../../cluster/worker-node.js';
import { hostIdSchema } from '../../cluster/protocol.js';
import { parseRate } from '../../cluster/netns.js';
import { parseMemoryMb, parsePort, parseRuntimeSnapshot } from './up.js';

export interface WorkerFlags {
  control: string;
  registry?: string;
  key?: string;
  keyFile?: string;
  id?: string;
  port: string;
  host: string;
  advertise?: string;
  data?: string;
  memoryMb?: string;
  runtimeSnapshot?: string;
  bandwidth?: string;
  /** Commander's `--no-background-priority`. */
  backgroundPriority: boolean;
  requesterTurns: boolean;
}

function readKey(flags: WorkerFlags): string {
  const key = flags.key ?? process.env.KINDLING_KEY;
  if (key) return key.trim();
  if (flags.keyFile) {
    if (!existsSync(flags.keyFile)) throw new CliError(`--key-file ${flags.keyFile} does not exist`);
    return readFileSync(flags.keyFile, 'utf8').trim();
  }
  throw new CliError(
    'a worker needs an admin key of the control plane: pass --key, --key-file or KINDLING_KEY',
  );
}

function checkUrl(flag: string, text: string): void {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:')
    throw new CliError(`invalid ${flag} ${JSON.stringify(text)}: use a URL like http://10.0.0.1:8080`);
}

function parseBandwidth(text: string): number {
  try {
    return parseRate(text);
  } catch (err) {
    throw new CliError(`invalid --bandwidth: ${(err as Error).message}`);
  }
}

export async function worker(flags: WorkerFlags): Promise<void> {
  const id =
    flags.id ??
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 63);
  if (!hostIdSchema.safeParse(id).success)
    throw new CliError(`invalid --id ${JSON.stringify(id)}: use 1-63 lowercase letters, digits or dashes`);
  const memoryMb = parseMemoryMb(flags.memoryMb);
  const runtimeSnapshot = parseRuntimeSnapshot(
    flags.runtimeSnapshot ?? process.env.KINDLING_RUNTIME_SNAPSHOT,
  );
  checkUrl('--control', flags.control);
  if (flags.registry !== undefined) checkUrl('--registry', flags.registry);
  const say = (line: string) => console.log(line);
  const node = await startWorkerNode({
    controlUrl: flags.control,
    ...(flags.registry ? { registryUrl: flags.registry } : {}),
    key: readKey(flags),
    hostId: id,
    dataDir: flags.data ?? `.kindling-worker-${id}`,
    listenHost: flags.host,
    port: parsePort(flags.port, 0),
    ...(flags.advertise ? { advertiseUrl: flags.advertise } : {}),
    ...(memoryMb !== undefined ? { memoryMb } : {}),
    ...(runtimeSnapshot ? { runtimeSnapshot } : {}),
    ...(flags.bandwidth !== undefined ? { bandwidthBytesPerSec: parseBandwidth(flags.bandwidth) / 8 } : {}),
    backgroundPriority: flags.backgroundPriority,
    requesterTurns: flags.requesterTurns,
    say,
  });
  say(`worker ${id} serving at ${node.url}; registering with ${flags.control}`);
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    node.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
