/**
 * What the dashboard's cluster view receives (`GET /v1/ui/cluster`, and its live stream
 * `GET /v1/events/cluster`), shared by the server and the page: types only, nothing a browser bundle
 * could not take.
 */
import type { InstanceCounts } from './event-types.js';

/** A node of a function tree in JSON form (as `FunctionTree.toJSON` writes it). */
export interface TreeNodeView {
  host: string;
  left: TreeNodeView | null;
  right: TreeNodeView | null;
}

/** One host's part in one function's image distribution. */
export interface DistributionHostView {
  host: string;
  /**
   * Where the strategy points it: its parent (`tree`), `registry` (the tree's root, and every host of
   * the `registry` strategy), or null (`swarm`: any peer that has the block).
   */
  upstream: string | null;
  /** Distinct blocks of the image on the host, and of those, the ones already in its cache. */
  blocksLocal: number;
  blocksCached: number;
  /** Compressed bytes fetched, by origin. */
  bytesFromRegistry: number;
  bytesFromPeers: number;
  /** Of `bytesFromPeers`, those from `upstream` (what the tree edge into this host carried). */
  bytesFromUpstream: number;
}

/** One function version's image distribution: its strategy, tree, and every member's progress. */
export interface DistributionView {
  /** The distribution key, `tenant/name@version`. */
  fn: string;
  tenant: string;
  name: string;
  version: number;
  strategy: string;
  /** The image: distinct blocks and their compressed bytes; null when its manifest cannot be read. */
  image: { digest: string; blocks: number; bytes: number } | null;
  /** The function tree (`tree` strategy); null for the others. */
  tree: { size: number; height: number; root: TreeNodeView | null } | null;
  /** Members, by host id. */
  hosts: DistributionHostView[];
  bytesFromRegistry: number;
  bytesFromPeers: number;
}

/** A host as the cluster view lists it. */
export interface ClusterHostView {
  id: string;
  name: string;
  roles: string[];
  /** Embedded host only. */
  cpus?: number;
  loadAverage?: number[];
  memory: { totalBytes: number; freeBytes: number; platformRssBytes: number };
  instances: InstanceCounts;
  pools: number;
  /**
   * Cached images: how many (for a tenant, of its own), and the versions (`tenant/name@version`) of the
   * viewer's tenants whose image the host holds or is fetching.
   */
  images: number;
  imageVersions: string[];
  /** Cluster hosts only. */
  lastHeartbeatMsAgo?: number;
}

/** The cluster view. */
export interface ClusterView {
  mode: 'embedded' | 'cluster';
  message: string;
  hosts: ClusterHostView[];
  /** Every function version with hosts in its distribution, in key order. */
  trees: DistributionView[];
}
