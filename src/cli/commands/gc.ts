/** `kindling gc`: removes the registry's images that no function version uses (`POST /v1/admin/gc`). */
import type { ApiClient } from '../client.js';
import { parseDuration } from '../duration.js';
import { formatBytes } from '../format.js';
import type { RegistryGcReport } from '../../image/registry-gc.js';
import type { HostGcReport } from '../../worker/host-gc.js';

/** `POST /v1/admin/gc`'s answer: the registry's collection and each host's. */
type GcAnswer = RegistryGcReport & { hosts: HostGcReport[]; hostsNotCollected: string[] };

/** `--grace`: `90s`, `30m`, `1h`, `2d` or `0`, at most 30 days. */
export function parseGrace(text: string): number {
  return parseDuration(text, '--grace', { ms: 30 * 86_400_000, text: '30 days' });
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
