/** `kindling deploy DIR`: build the image here, push the blocks the platform lacks, create a version. */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildImage } from '../../image/builder.js';
import { HttpRegistryClient } from '../../image/http-registry.js';
import { pushImage } from '../../image/registry.js';
import type { FunctionVersion } from '../../control/functions.js';
import { assertFunctionName } from '../../control/names.js';
import { CliError } from '../cli-error.js';
import type { ApiClient } from '../client.js';
import { formatBytes } from '../format.js';
import { Progress } from '../progress.js';

export interface DeployFlags {
  name?: string;
  memory?: string;
  timeout?: string;
  concurrency?: string;
  maxInstances?: string;
  minWarm?: string;
  keepAlive?: string;
  tier?: string;
  /** `--public` / `--no-public`: whether the HTTP trigger answers without a key (else kindling.json's). */
  public?: boolean;
  /** `--schedule` (repeatable) replaces kindling.json's schedule; `--no-schedule` removes it. */
  schedule?: string[] | false;
  env?: string[];
  json?: boolean;
  /** Data directory whose build cache holds npm installs. */
  dataDir?: string;
}

function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  // Decimal digits only: Number() would also take "0x10", "1e3" and "" (as 0).
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new CliError(`${flag} must be a whole number (got ${JSON.stringify(value)})`);
  return n;
}

/** Configuration from flags, on top of kindling.json's. */
export function configFromFlags(flags: DeployFlags, base: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = { ...base };
  const set = (key: string, value: number | undefined) => {
    if (value !== undefined) config[key] = value;
  };
  set('memoryMb', intFlag(flags.memory, '--memory'));
  set('timeoutMs', intFlag(flags.timeout, '--timeout'));
  set('concurrency', intFlag(flags.concurrency, '--concurrency'));
  set('maxInstances', intFlag(flags.maxInstances, '--max-instances'));
  set('minWarm', intFlag(flags.minWarm, '--min-warm'));
  set('keepAliveMs', intFlag(flags.keepAlive, '--keep-alive'));
  // Validated by the platform, which lists the tiers it offers.
  if (flags.tier !== undefined) config.tier = flags.tier;
  if (flags.public !== undefined) config.public = flags.public;
  if (flags.schedule === false) delete config.schedule;
  else if (flags.schedule !== undefined) config.schedule = flags.schedule;
  if (flags.env?.length) {
    const env = { ...((base.env as Record<string, string> | undefined) ?? {}) };
    for (const pair of flags.env) {
      const i = pair.indexOf('=');
      if (i <= 0) throw new CliError(`--env takes KEY=VALUE (got ${JSON.stringify(pair)})`);
      env[pair.slice(0, i)] = pair.slice(i + 1);
    }
    config.env = env;
  }
  return config;
}

export async function deploy(client: ApiClient, dirArg: string, flags: DeployFlags): Promise<void> {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`${dirArg} is not a directory`);
  const progress = new Progress(!flags.json && process.stderr.isTTY === true);
  progress.update(`bundling ${dirArg}…`);
  const built = await buildImage(dir, {
    cacheDir: resolve(flags.dataDir ?? process.env.KINDLING_DATA ?? '.kindling', 'build-cache'),
    onProgress: (e) => progress.update(`${e.phase}…`, e.done, e.total),
  }).finally(() => progress.done());
  const name = flags.name ?? built.name;
  if (!name) throw new CliError(`no function name: pass --name or set "name" in ${dirArg}/kindling.json`);
  assertFunctionName(name); // before the push, whose repository-name rule would speak for it
  const config = configFromFlags(flags, built.config);

  const who = (await client.request<{ tenant: string }>('GET', '/v1/whoami')).body;
  const repo = `${who.tenant}/${name}`;
  const registry = new HttpRegistryClient({ baseUrl: client.endpoint.url, token: client.endpoint.key });
  const pushed = await pushImage(built, registry, repo, 'latest', (e) =>
    progress.update('uploading', e.done, e.total),
  ).finally(() => progress.done());
  const version = (
    await client.request<FunctionVersion>('POST', `/v1/functions/${name}/versions`, {
      digest: pushed.digest,
      config,
    })
  ).body;
  if (flags.json) {
    console.log(
      JSON.stringify({
        ...version,
        image: { ...built.stats, uploadedBytes: pushed.uploadedBytes, skippedBlocks: pushed.skippedBlocks },
      }),
    );
    return;
  }
  console.log(`Deployed ${name} v${version.version} (latest → v${version.version})`);
  console.log(
    `  image ${pushed.digest.slice(0, 19)}…  ${built.stats.files} files, ${formatBytes(built.stats.bytes)} in ${built.stats.blocks} blocks; uploaded ${formatBytes(pushed.uploadedBytes)}, ${pushed.skippedBlocks} blocks already there`,
  );
  console.log(`  invoke: npx kindling invoke ${name}`);
  if (version.config.public === true)
    console.log(`  public: ${client.endpoint.url}/pub/${who.tenant}/${name}/   (no API key needed)`);
  for (const cron of version.config.schedule ?? []) console.log(`  schedule: ${cron} (UTC)`);
}
