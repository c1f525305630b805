/**
 * Garbage collection of the registry: mark and sweep over what function versions still use.
 *
 * Live, and kept: the image of every version (the roots the control plane passes), the manifest
 * each tag points at in a repository that some version uses (its newest push, deployed or not),
 * and anything pushed within the grace period (a push whose version is not created yet; pushes
 * and the collection also exclude each other through the registry's write lock). A live manifest
 * keeps its blocks. Swept: the links of a repository to blobs and manifests that are not live, its
 * tags that point at manifests no longer linked, the repository itself once empty, and every blob
 * of the shared store that no repository keeps. A deleted function's versions are gone, so its
 * repository's images go at the next collection after the grace period.
 */
import { KindlingError } from '../core/errors.js';
import type { Digest } from './manifest.js';
import type { LocalRegistry, RegistryLink, RegistryTag } from './registry.js';

/** An image a function version uses. */
export interface ImageRoot {
  repository: string;
  digest: Digest;
}

/** Options of {@link collectRegistryGarbage}. */
export interface RegistryGcOptions {
  /**
   * Every function version's image, across tenants; read once the collection holds the registry's
   * write lock, which a deploy holds shared while it checks its image and creates its version, so
   * no version appears between this read and the sweep.
   */
  roots: () => Iterable<ImageRoot>;
  /** Anything pushed more recently than this is kept, ms. */
  graceMs: number;
  /** Now, ms since the epoch (the registry's files carry wall-clock times). */
  now: number;
  /** Report what would go, delete nothing. */
  dryRun?: boolean;
  /**
   * Run once the registry is swept, still holding its write lock (so no version appears meanwhile),
   * with what the collection found live: hosts sweep their copies of images against it.
   */
  thenSweep?: (live: LiveImages) => Promise<void>;
}

/** What a collection keeps: manifests and every blob (manifests and blocks) they need. */
export interface LiveImages {
  manifests: ReadonlySet<Digest>;
  blobs: ReadonlySet<Digest>;
}

/** What a collection found and did. */
export interface RegistryGcReport {
  dryRun: boolean;
  graceMs: number;
  /** Manifests kept (images in use, newest pushes, recent pushes). */
  liveManifests: number;
  blobsKept: number;
  blobsDeleted: number;
  bytesKept: number;
  bytesFreed: number;
  linksRemoved: number;
  tagsRemoved: number;
  repositoriesRemoved: string[];
}

/** Runs one collection; see the module comment. */
export async function collectRegistryGarbage(
  registry: LocalRegistry,
  opts: RegistryGcOptions,
): Promise<RegistryGcReport> {
  if (!(Number.isFinite(opts.graceMs) && opts.graceMs >= 0)) {
    throw new KindlingError('KINDLING_BAD_REQUEST', `grace period ${opts.graceMs} ms: use 0 or more`);
  }
  return registry.writeLock.exclusively(() => collect(registry, opts));
}

async function collect(registry: LocalRegistry, opts: RegistryGcOptions): Promise<RegistryGcReport> {
  const recent = (at: number) => at >= opts.now - opts.graceMs;
  const dryRun = opts.dryRun ?? false;
  /** Per repository: the manifests and blobs it keeps linked. */
  const kept = new Map<string, { manifests: Set<Digest>; blobs: Set<Digest> }>();
  const keptIn = (repository: string) => {
    let k = kept.get(repository);
    if (!k) kept.set(repository, (k = { manifests: new Set(), blobs: new Set() }));
    return k;
  };
  const liveBlobs = new Set<Digest>();
  const markManifest = async (repository: string, digest: Digest) => {
    const k = keptIn(repository);
    if (k.manifests.has(digest)) return;
    k.manifests.add(digest);
    liveBlobs.add(digest);
    let blocks: Digest[];
    try {
      const { manifest } = await registry.getManifest(repository, digest);
      blocks = manifest.layers.flatMap((l) => l.blocks.map((b) => b.digest));
    } catch (err) {
      // A root whose manifest is gone cannot be kept any more than it is; keep looking.
      if (KindlingError.is(err) && ['KINDLING_MANIFEST_UNKNOWN', 'KINDLING_BLOB_UNKNOWN'].includes(err.code))
        return;
      throw err;
    }
    for (const b of blocks) {
      k.blobs.add(b);
      liveBlobs.add(b);
    }
  };

  // Mark.
  const rootRepositories = new Set<string>();
  for (const root of opts.roots()) {
    rootRepositories.add(root.repository);
    await markManifest(root.repository, root.digest);
  }
  const repositories = await registry.repositories();
  const tags = new Map<string, RegistryTag[]>();
  const links = new Map<string, { manifests: RegistryLink[]; blobs: RegistryLink[] }>();
  for (const repository of repositories) {
    const repoTags = await registry.taggedManifests(repository);
    const repoLinks = {
      manifests: await registry.links(repository, 'manifests'),
      blobs: await registry.links(repository, 'blobs'),
    };
    tags.set(repository, repoTags);
    links.set(repository, repoLinks);
    for (const t of repoTags)
      if (rootRepositories.has(repository) || recent(t.taggedAt)) await markManifest(repository, t.digest);
    for (const m of repoLinks.manifests) if (recent(m.pushedAt)) await markManifest(repository, m.digest);
    for (const b of repoLinks.blobs)
      if (recent(b.pushedAt)) {
        keptIn(repository).blobs.add(b.digest);
        liveBlobs.add(b.digest);
      }
  }

  // Sweep: links and tags per repository, then the shared store.
  const liveManifests = new Set<Digest>();
  for (const k of kept.values()) for (const m of k.manifests) liveManifests.add(m);
  const report: RegistryGcReport = {
    dryRun,
    graceMs: opts.graceMs,
    liveManifests: liveManifests.size,
    blobsKept: 0,
    blobsDeleted: 0,
    bytesKept: 0,
    bytesFreed: 0,
    linksRemoved: 0,
    tagsRemoved: 0,
    repositoriesRemoved: [],
  };
  for (const repository of repositories) {
    const k = keptIn(repository);
    const repoLinks = links.get(repository)!;
    for (const kind of ['manifests', 'blobs'] as const) {
      for (const link of repoLinks[kind]) {
        if (k[kind].has(link.digest)) continue;
        report.linksRemoved++;
        if (!dryRun) await registry.unlink(repository, kind, link.digest);
      }
    }
    for (const t of tags.get(repository)!) {
      if (k.manifests.has(t.digest)) continue;
      report.tagsRemoved++;
      if (!dryRun) await registry.deleteTag(repository, t.tag);
    }
    const emptied = k.manifests.size === 0 && k.blobs.size === 0;
    if (emptied && (dryRun || (await registry.removeIfEmpty(repository))))
      report.repositoriesRemoved.push(repository);
  }
  for await (const blob of registry.blobs.list()) {
    if (liveBlobs.has(blob.digest) || recent(blob.writtenAt)) {
      report.blobsKept++;
      report.bytesKept += blob.bytes;
      continue;
    }
    report.blobsDeleted++;
    report.bytesFreed += blob.bytes;
    if (!dryRun) await registry.blobs.delete(blob.digest);
  }
  await opts.thenSweep?.({ manifests: liveManifests, blobs: liveBlobs });
  return report;
}
