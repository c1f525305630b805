/**
 * The cgroup v1 side of a container, as the host sees it. crun creates and removes the container's
 * own cgroup (`<parent>/<id>/ctr`); the per-instance parent (`<parent>/<id>`) is ours, made by crun's
 * `mkdir -p` and removed here. It outlives the container on purpose: its hierarchical
 * `memory.max_usage_in_bytes` still says, after crun has deleted the leaf, whether the container ran
 * into its memory limit (v1's `oom_kill` counter is not hierarchical, and the leaf is gone by then).
 */
import { readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Paths of one instance's cgroups, relative to the root of every v1 hierarchy. */
export interface InstanceCgroup {
  /** Ours: holds the container's cgroup, kept until cleanup so its peak usage can be read. */
  parent: string;
  /** crun's: the OCI `cgroupsPath`. */
  leaf: string;
}

/** The cgroup paths for container `containerId` under the tier's `prefix` (e.g. `kindling`). */
export function instanceCgroup(prefix: string, containerId: string): InstanceCgroup {
  const parent = `${prefix}/${containerId}`;
  return { parent, leaf: `${parent}/ctr` };
}

/** The mounted v1 hierarchies (`memory`, `pids`, `cpu`, …), skipping the v2 mount and aliases. */
export function v1Hierarchies(): string[] {
  let names: string[];
  try {
    names = readdirSync(CGROUP_ROOT);
  } catch {
    return []; // no cgroup filesystem at all: nothing to clean
  }
  // `cpu,cpuacct`-style co-mounts appear once as a dir and again as symlinks: stat de-duplicates by device and inode.
  const seen = new Set<string>();
  const out: string[] = [];
  for (const name of names) {
    if (name === 'unified') continue;
    const dir = join(CGROUP_ROOT, name);
    try {
      const st = statSync(dir);
      const key = `${st.dev}:${st.ino}`;
      if (!st.isDirectory() || seen.has(key)) continue;
      seen.add(key);
      out.push(dir);
    } catch {
      continue; // vanished while listing
    }
  }
  return out;
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'latin1').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined; // the cgroup is gone
  }
}

/** Peak memory use of the instance (container plus anything left of it), bytes; undefined if unknown. */
export function peakMemoryBytes(cg: InstanceCgroup): number | undefined {
  return readNumber(join(CGROUP_ROOT, 'memory', cg.parent, 'memory.max_usage_in_bytes'));
}

/** Memory charged to the container right now, bytes; undefined once it is gone. */
export function currentMemoryBytes(cg: InstanceCgroup): number | undefined {
  return readNumber(join(CGROUP_ROOT, 'memory', cg.leaf, 'memory.usage_in_bytes'));
}

/**
 * Removes the instance's cgroups in every hierarchy: leaf first (normally crun already did), then the
 * parent, then the tier's prefix dir when it is empty. Processes still in a leaf are SIGKILLed first
 * (a crun killed mid-create may leave some). A cgroup whose last process is still exiting refuses
 * rmdir (EBUSY) for a few ms, so failures are retried for up to ~2 s. Returns what is left.
 */
export async function removeInstanceCgroups(cg: InstanceCgroup, prefix: string): Promise<string[]> {
  let left: string[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    left = [];
    for (const root of v1Hierarchies()) {
      const leaf = join(root, cg.leaf);
      for (const pid of readPids(join(leaf, 'cgroup.procs'))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      for (const dir of [leaf, join(root, cg.parent)]) {
        if (!removeDir(dir)) left.push(dir);
      }
      // Shared by every instance: removed only when empty; EBUSY/ENOTEMPTY just means others still run.
      removeDir(join(root, prefix));
    }
    if (left.length === 0) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return left;
}

function readPids(path: string): number[] {
  try {
    return readFileSync(path, 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // no such cgroup
  }
}

/** rmdir; true when the dir is gone afterwards. */
function removeDir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
