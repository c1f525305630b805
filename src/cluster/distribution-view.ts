/**
 * The control plane's picture of image distribution, for the dashboard: every function version with
 * hosts in its distribution, its strategy, its function tree (FaaSNet) when it has one, and how far
 * each host's copy has come (blocks local, bytes from the registry and from peers). Read from the
 * {@link DistributionHub}, the tree strategy's FT manager and the hub's {@link TransferProgress}; the
 * image sizes come from the manifests in the registry.
 */
import type { DistributionView } from '../api/cluster-types.js';
import { toKindlingError } from '../core/errors.js';
import type { FunctionStore } from '../control/functions.js';
import type { BlockSource } from '../image/source.js';
import type { DistributionHub } from '../distribution/distribution-hub.js';
import type { FtManager } from '../distribution/ft-manager.js';
import type { TransferProgress } from '../distribution/transfer-progress.js';

/** What the view reads. */
export interface DistributionViewParts {
  hub: DistributionHub;
  /** The tree strategy's FT manager, when the cluster runs one. */
  ft: FtManager | undefined;
  progress: TransferProgress;
  functions: FunctionStore;
  /** Where manifests are read (the control plane's registry). */
  manifests: Pick<BlockSource, 'getManifest'>;
  /** Told (once per version) when a manifest cannot be read; the view shows the image as unknown. */
  onError?: (err: Error, fn: string) => void;
}

type ImageSize = NonNullable<DistributionView['image']>;

/** Builds {@link DistributionView}s; manifests are read once per image (they never change). */
export class DistributionViews {
  private readonly sizes = new Map<string, ImageSize>();
  private readonly warned = new Set<string>();

  constructor(private readonly parts: DistributionViewParts) {}

  /** Every distribution whose key `visible` accepts, in key order. */
  async list(visible: (tenant: string) => boolean = () => true): Promise<DistributionView[]> {
    const { hub, ft, progress } = this.parts;
    const out: DistributionView[] = [];
    for (const fn of hub.functions()) {
      // Distribution keys are version keys: tenant/name@version.
      const m = /^([^/]+)\/(.+)@(\d+)$/.exec(fn);
      if (!m || !visible(m[1]!)) continue;
      const [tenant, name, version] = [m[1]!, m[2]!, Number(m[3])];
      const strategy = hub.strategyOf(fn).name;
      const tree = strategy === 'tree' ? ft?.treeOf(fn) : undefined;
      const transfers = new Map(progress.of(fn).map((t) => [t.host, t]));
      const hosts = hub
        .membersOf(fn)
        .sort()
        .map((host) => {
          const t = transfers.get(host);
          const upstream =
            strategy === 'registry'
              ? 'registry'
              : strategy === 'tree'
                ? (tree?.parentOf(host) ?? null)
                : null;
          return {
            host,
            upstream,
            blocksLocal: t?.blocksLocal ?? 0,
            blocksCached: t?.blocksCached ?? 0,
            bytesFromRegistry: t?.bytesFromRegistry ?? 0,
            bytesFromPeers: t?.bytesFromPeers ?? 0,
            bytesFromUpstream:
              upstream === 'registry'
                ? (t?.bytesFromRegistry ?? 0)
                : upstream
                  ? (t?.bytesByPeer[upstream] ?? 0)
                  : 0,
          };
        });
      out.push({
        fn,
        tenant,
        name,
        version,
        strategy,
        image: await this.imageOf(fn, tenant, name, version),
        tree: tree ? tree.toJSON() : null,
        hosts,
        bytesFromRegistry: hosts.reduce((s, h) => s + h.bytesFromRegistry, 0),
        bytesFromPeers: hosts.reduce((s, h) => s + h.bytesFromPeers, 0),
      });
    }
    return out;
  }

  private async imageOf(
    fn: string,
    tenant: string,
    name: string,
    version: number,
  ): Promise<ImageSize | null> {
    try {
      const v = this.parts.functions.getVersion(tenant, name, version);
      let size = this.sizes.get(v.imageDigest);
      if (!size) {
        const { manifest } = await this.parts.manifests.getManifest(v.imageRepo, v.imageDigest);
        const distinct = new Map<string, number>();
        for (const layer of manifest.layers)
          for (const b of layer.blocks) distinct.set(b.digest, b.compressedSize);
        let bytes = 0;
        for (const s of distinct.values()) bytes += s;
        size = { digest: v.imageDigest, blocks: distinct.size, bytes };
        this.sizes.set(v.imageDigest, size);
      }
      return size;
    } catch (err) {
      // A version deleted while hosts still hold it, or a registry problem: show the image as unknown.
      if (!this.warned.has(fn)) this.parts.onError?.(toKindlingError(err), fn);
      this.warned.add(fn);
      return null;
    }
  }
}
