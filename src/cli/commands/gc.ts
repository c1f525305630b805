/** `kindling gc`: removes the registry's images that no function version uses (`POST /v1/admin/gc`). */
import { CliError } from '../cli-error.js';
import type { ApiClient } from '../client.js';
import { formatBytes } from '../format.js';
import type { RegistryGcReport } from '../../image/registry-gc.js';
import type { HostGcReport } from '../../worker/host-gc.js';

/** `POST /v1/admin/gc`'s answer: the registry's collection and each host's. */
type GcAnswer = RegistryGcReport & { hosts: HostGcReport[]; hostsNotCollected: string[] };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `1h`, `2d` or `0` as milliseconds. */
export function parseGrace(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m || (m[2] === undefined && Number(m[1]) !== 0))
    throw new CliError(`invalid --grace ${JSON.stringify(text)}: use a duration such as 30m, 1h or 0`);
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!);
  if (ms > 30 * UNIT_MS.d!) throw new CliError(`--grace ${text} is longer than the 30 days allowed`);
  return ms;
}

export async function gc(
  client: ApiClient,
  flags: { dryRun?: boolean; grace?: string; json?: boolean },
): Promise<void> {
  const body = {
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...(flags.grace !== undefined ? { graceMs: parseGrace(flags.grace) } : {}),
  };
  const report = (await client.request<GcAnswer>('POST', '/v1/admin/gc', body)).body;
  if (flags.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const verb = report.dryRun ? 'would free' : 'freed';
  console.log(
    `registry: ${verb} ${formatBytes(report.bytesFreed)} in ${report.blobsDeleted} blobs; kept ${formatBytes(report.bytesKept)} in ${report.blobsKept} blobs (${report.liveManifests} images in use${report.graceMs > 0 ? ` or pushed in the last ${formatGrace(report.graceMs)}` : ''})`,
  );
  if (report.repositoriesRemoved.length > 0)
    console.log(
      `${report.dryRun ? 'would remove' : 'removed'} ${report.repositoriesRemoved.length} repositories no function uses: ${report.repositoriesRemoved.join(', ')}`,
    );
  for (const h of report.hosts)
    console.log(
      `host ${h.host}: ${verb} ${formatBytes(h.bytesFreed)} (${h.imagesRemoved} materialised images, ${h.blobsDeleted} cached blocks, ${h.derivedRemoved} snapshots and bundles)`,
    );
  if (report.hostsNotCollected.length > 0)
    console.log(`not collected: ${report.hostsNotCollected.join('; ')}`);
  if (report.dryRun)
    console.log('dry run: nothing was deleted; run `kindling gc` without --dry-run to delete');
}

function formatGrace(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
