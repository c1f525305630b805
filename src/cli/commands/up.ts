/** `kindling up`: the embedded platform in this process, with the example functions deployed. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from '../cli-error.js';
import { parseDuration } from '../duration.js';
import { startHints } from '../start-hints.js';
import { isPolicyName, POLICY_NAMES } from '../../policy/catalog.js';
import { startPlatform } from '../../platform.js';
import { STRATEGY_NAMES } from '../../cluster/distribution.js';
import type { StrategyName } from '../../distribution/strategy.js';
import { RUNTIME_SNAPSHOT_MODES, type RuntimeSnapshotMode } from '../../sandbox/process/index.js';

export interface UpFlags {
  port?: string;
  host?: string;
  advertise?: string;
  data?: string;
  examples: boolean;
  stemCells?: string;
  keepAlivePolicy?: string;
  cluster?: boolean;
  distribution?: string;
  lazyLoading?: boolean;
  memoryMb?: string;
  runtimeSnapshot?: string;
  schedulePrewarm?: string;
}

/** The example functions shipped with the package. */
export function exampleDirs(): string[] {
  const root = fileURLToPath(new URL('../../../../examples/', import.meta.url));
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'kindling.json')))
    .map((e) => join(root, e.name))
    .sort();
}

export function parsePort(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`invalid port ${JSON.stringify(value)}: use 0-65535`);
  return port;
}

export function parseCount(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 64)
    throw new CliError(`invalid ${flag} ${JSON.stringify(value)}: use a whole number from 0 to 64`);
  return n;
}

/** `--runtime-snapshot`: when the process tier restores its runtime snapshot. */
export function parseRuntimeSnapshot(value: string | undefined): RuntimeSnapshotMode | undefined {
  if (value === undefined) return undefined;
  if (!(RUNTIME_SNAPSHOT_MODES as readonly string[]).includes(value))
    throw new CliError(`invalid --runtime-snapshot ${JSON.stringify(value)}: use auto, always or never`);
  return value as RuntimeSnapshotMode;
}

function parseStrategy(value: string | undefined): StrategyName {
  if (value === undefined) return 'tree';
  if (!(STRATEGY_NAMES as string[]).includes(value))
    throw new CliError(`invalid --distribution ${JSON.stringify(value)}: use ${STRATEGY_NAMES.join(', ')}`);
  return value as StrategyName;
}

/** `--memory-mb`: the host's budget for greedy-dual instances, a whole number of MiB ≥ 64. */
export function parseMemoryMb(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 64)
    throw new CliError(
      `invalid --memory-mb ${JSON.stringify(value)}: use a whole number of MiB, at least 64`,
    );
  return n;
}

export async function up(flags: UpFlags): Promise<void> {
  if ((flags.distribution !== undefined || flags.lazyLoading) && !flags.cluster)
    throw new CliError('--distribution and --lazy-loading apply to cluster mode: add --cluster');
  const port = parsePort(flags.port ?? process.env.KINDLING_PORT, 8080);
  const stemCells = parseCount(flags.stemCells ?? process.env.KINDLING_STEM_CELLS, 1, '--stem-cells');
  const keepAlivePolicy = flags.keepAlivePolicy ?? process.env.KINDLING_KEEP_ALIVE_POLICY ?? 'fixed';
  if (!isPolicyName(keepAlivePolicy)) {
    throw new CliError(
      `invalid --keep-alive-policy ${JSON.stringify(keepAlivePolicy)}: use one of ${POLICY_NAMES.join(', ')}`,
    );
  }
  const memoryMb = parseMemoryMb(flags.memoryMb ?? process.env.KINDLING_MEMORY_MB);
  const prewarm = flags.schedulePrewarm ?? process.env.KINDLING_SCHEDULE_PREWARM;
  const schedulePrewarmMs =
    prewarm === undefined
      ? undefined
      : parseDuration(prewarm, '--schedule-prewarm', { ms: 600_000, text: '10 minutes' });
  const runtimeSnapshot = parseRuntimeSnapshot(
    flags.runtimeSnapshot ?? process.env.KINDLING_RUNTIME_SNAPSHOT,
  );
  if (flags.advertise !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(flags.advertise))
    throw new CliError(
      `invalid --advertise ${JSON.stringify(flags.advertise)}: use a base URL like http://10.0.0.1:8080`,
    );
  const dataDir = flags.data ?? process.env.KINDLING_DATA ?? '.kindling';
  const say = (line: string) => console.log(line);
  const examples = flags.examples ? exampleDirs() : [];
  const platform = await startPlatform({
    dataDir,
    port,
    host: flags.host ?? '127.0.0.1',
    ...(flags.advertise ? { advertiseUrl: flags.advertise } : {}),
    deploy: examples,
    stemCells,
    ...(runtimeSnapshot ? { runtimeSnapshot } : {}),
    keepAlivePolicy,
    ...(flags.cluster
      ? { cluster: { distribution: parseStrategy(flags.distribution), lazy: flags.lazyLoading === true } }
      : {}),
    ...(memoryMb !== undefined ? { memoryMb } : {}),
    ...(schedulePrewarmMs !== undefined ? { schedulePrewarmMs } : {}),
    say,
    logger: { level: process.env.KINDLING_LOG_LEVEL ?? 'warn' },
  }).catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE')
      throw new CliError(`port ${port} is in use: pass --port or set KINDLING_PORT`);
    throw err;
  });
  if (platform.newAdminKey) {
    say('');
    say(`Admin API key (shown once; also saved to ${join(platform.dataDir, 'admin-key')}, mode 0600):`);
    say(`  ${platform.newAdminKey}`);
  }
  say('');
  say(`Kindling is up at ${platform.url}  (data: ${platform.dataDir})`);
  if (flags.cluster) {
    say(`  cluster mode: start hosts with`);
    say(
      `    npx kindling worker --control ${platform.url} --key-file ${join(platform.dataDir, 'admin-key')} --id host-1`,
    );
  }
  say(`  dashboard: ${platform.url}/ui/  (sign in with the admin key)`);
  for (const line of startHints({ url: platform.url, dataDir: platform.dataDir, examples })) say(line);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    say(`\n${signal}: stopping (finishing running invocations)…`);
    platform.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`kindling: error while stopping: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
