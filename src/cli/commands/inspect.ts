/** The read-and-manage commands: ls, versions, logs, stats, alias, rm, invocation, tenants. */
import type { FunctionSummary, FunctionVersion } from '../../control/functions.js';
import type { FunctionStats, InvocationRecord } from '../../control/invocations.js';
import { PHASES } from '../../core/phases.js';
import type { ApiClient } from '../client.js';
import { CliError } from '../cli-error.js';
import { formatAge, formatMs, oneLine, table } from '../format.js';
import { printRecord } from './invoke.js';
import { MAX_INVOCATION_LIST } from '../../api/list-limits.js';

type Out = { json?: boolean };

const emit = (flags: Out, data: unknown, human: () => string) =>
  console.log(flags.json ? JSON.stringify(data) : human());

export async function ls(client: ApiClient, flags: Out & { all?: boolean }): Promise<void> {
  const { functions } = (
    await client.request<{ functions: FunctionSummary[] }>('GET', `/v1/functions${flags.all ? '?all=1' : ''}`)
  ).body;
  emit(flags, functions, () =>
    functions.length === 0
      ? 'No functions yet. Deploy one: npx kindling deploy examples/hello'
      : table(
          [
            'NAME',
            ...(flags.all ? ['TENANT'] : []),
            'LATEST',
            'ALIASES',
            'MEMORY',
            'TIMEOUT',
            'HTTP',
            'SCHEDULE',
            'CREATED',
          ],
          functions.map((f) => [
            f.name,
            ...(flags.all ? [f.tenant] : []),
            `v${f.latestVersion}`,
            // Every alias, `latest` too: it is one (`-q latest`), moved by deploys, as `versions` shows.
            Object.entries(f.aliases)
              .map(([a, v]) => `${a}→v${v}`)
              .join(',') || '-',
            `${f.config.memoryMb} MB`,
            formatMs(f.config.timeoutMs),
            // Who may call its HTTP trigger: anyone (`/pub/…`), or holders of a key (`/fn/…`).
            f.config.public === true ? 'public' : 'key',
            f.config.schedule?.join('; ') || '-',
            formatAge(f.createdAt),
          ]),
        ),
  );
}

export async function versions(client: ApiClient, name: string, flags: Out): Promise<void> {
  const { versions: list } = (
    await client.request<{ versions: FunctionVersion[] }>(
      'GET',
      `/v1/functions/${encodeURIComponent(name)}/versions`,
    )
  ).body;
  const { aliases } = (
    await client.request<{ aliases: Record<string, number> }>(
      'GET',
      `/v1/functions/${encodeURIComponent(name)}/aliases`,
    )
  ).body;
  emit(flags, { versions: list, aliases }, () =>
    table(
      ['VERSION', 'ALIASES', 'IMAGE', 'MEMORY', 'CREATED'],
      list.map((v) => [
        `v${v.version}`,
        Object.entries(aliases)
          .filter(([, n]) => n === v.version)
          .map(([a]) => a)
          .join(',') || '-',
        v.imageDigest.slice(0, 19),
        `${v.config.memoryMb} MB`,
        formatAge(v.createdAt),
      ]),
    ),
  );
}

/** `logs -n`: a whole number from 1 to {@link MAX_INVOCATION_LIST}, checked here to name the flag. */
export function parseLogsLimit(value: string | undefined): number {
  if (value === undefined) return 20;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_INVOCATION_LIST)
    throw new CliError(
      `invalid -n/--limit ${JSON.stringify(value)}: use a whole number from 1 to ${MAX_INVOCATION_LIST}`,
    );
  return n;
}

export async function logs(client: ApiClient, name: string, flags: Out & { limit?: string }): Promise<void> {
  const limit = parseLogsLimit(flags.limit);
  const { invocations } = (
    await client.request<{ invocations: InvocationRecord[] }>(
      'GET',
      `/v1/functions/${encodeURIComponent(name)}/invocations?limit=${limit}`,
    )
  ).body;
  emit(flags, invocations, () => {
    if (invocations.length === 0) return `No invocations of ${name} yet. Try: npx kindling invoke ${name}`;
    const lines: string[] = [];
    for (const r of [...invocations].reverse()) {
      lines.push(
        `${new Date(r.createdAt).toISOString()} ${r.id} v${r.version} ${r.mode} ${r.status}${r.cold ? ' cold' : ''} ${formatMs(r.totalMs ?? 0)}${r.error ? ` ${r.error.code}: ${oneLine(r.error.message)}` : ''}`,
      );
      for (const l of r.logs) lines.push(`    ${l.level.padEnd(6)} ${l.msg}`);
      if (r.logsDroppedBytes) lines.push(`    … ${r.logsDroppedBytes} more bytes of output dropped`);
    }
    return lines.join('\n');
  });
}

export async function stats(client: ApiClient, name: string, flags: Out): Promise<void> {
  const s = (
    await client.request<FunctionStats & { instances: unknown[] }>(
      'GET',
      `/v1/functions/${encodeURIComponent(name)}/stats`,
    )
  ).body;
  emit(flags, s, () => {
    const rows = [...PHASES, 'total'].map((p) => [
      p,
      formatMs(s.cold_ms.p50[p] ?? 0),
      formatMs(s.cold_ms.p99[p] ?? 0),
      formatMs(s.warm_ms.p50[p] ?? 0),
      formatMs(s.warm_ms.p99[p] ?? 0),
    ]);
    return [
      `${name}: ${s.invocations} invocations (last 1000): ${s.cold} cold, ${s.warm} warm, ${s.errors} errors`,
      '',
      table(['PHASE', 'COLD p50', 'COLD p99', 'WARM p50', 'WARM p99'], rows),
    ].join('\n');
  });
}

export async function alias(
  client: ApiClient,
  name: string,
  aliasName: string,
  version: string,
  flags: Out,
): Promise<void> {
  const n = Number(version.replace(/^v/, ''));
  if (!Number.isInteger(n) || n <= 0)
    throw new CliError(`VERSION must be a version number like 3 (got ${JSON.stringify(version)})`);
  const res = (
    await client.request(
      'PUT',
      `/v1/functions/${encodeURIComponent(name)}/aliases/${encodeURIComponent(aliasName)}`,
      { version: n },
    )
  ).body;
  emit(flags, res, () => `${name}:${aliasName} → v${n}`);
}

export async function rm(client: ApiClient, name: string, flags: Out): Promise<void> {
  await client.request('DELETE', `/v1/functions/${encodeURIComponent(name)}`);
  emit(flags, { deleted: name }, () => `Deleted ${name}`);
}

/** An invocation ID as the platform makes them: a UUID (v7), 36 characters. */
const INVOCATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `kindling invocation ID`: the record, which a failed invocation's error is part of; `--exit-status`
 * also exits 1 when it failed (and 2 while it has not finished), for scripts, as `gh run view` does.
 */
export async function invocation(
  client: ApiClient,
  id: string,
  flags: Out & { exitStatus?: boolean },
): Promise<void> {
  const record = (
    await client
      .request<InvocationRecord>('GET', `/v1/invocations/${encodeURIComponent(id)}`)
      .catch((err: unknown) => {
        // A shortened ID cannot be looked up: its first digits are a timestamp that invocations of the
        // same minute share. Say where the whole one is printed.
        if (
          err instanceof CliError &&
          err.code === 'KINDLING_INVOCATION_NOT_FOUND' &&
          !INVOCATION_ID.test(id)
        )
          throw new CliError(
            `${err.message}: pass the whole invocation ID (36 characters), as \`kindling logs NAME\` and \`kindling invoke\` print it`,
            err.code,
          );
        throw err;
      })
  ).body;
  if (flags.json) console.log(JSON.stringify(record));
  else printRecord(record);
  if (flags.exitStatus && record.status !== 'succeeded')
    process.exitCode = record.status === 'failed' ? 1 : 2;
}

export async function tenantCreate(client: ApiClient, name: string, flags: Out): Promise<void> {
  const res = (await client.request<{ tenant: string; apiKey: string }>('POST', '/v1/tenants', { name }))
    .body;
  emit(flags, res, () => `Created tenant ${res.tenant}. Its API key (shown once):\n  ${res.apiKey}`);
}

export async function tenantList(client: ApiClient, flags: Out): Promise<void> {
  const { tenants } = (
    await client.request<{ tenants: { tenant: string; createdAt: number; keys: number }[] }>(
      'GET',
      '/v1/tenants',
    )
  ).body;
  emit(flags, tenants, () =>
    table(
      ['TENANT', 'KEYS', 'CREATED'],
      tenants.map((t) => [t.tenant, t.keys, formatAge(t.createdAt)]),
    ),
  );
}
