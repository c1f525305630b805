/**
 * OCI bundles, prepared ahead of the request (LightVM's split tool stack: everything that does not
 * depend on the one instance is done before, so only `crun run` is on the critical path).
 *
 * A prepared bundle is per function version: a directory with its own rootfs skeleton (empty dirs and
 * mount points; the root is read-only, so nothing ever writes into it) and the instance-independent
 * part of config.json. Starting an instance adds one small file, `<containerId>.json`, passed to
 * `crun run --config`, and removes it when the instance ends. Bundles live under the tier's state dir
 * and are removed by `release()` or when the tier closes.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LibraryMount } from './oci-config.js';

/** A prepared bundle of one function version. */
export interface PreparedBundle {
  /** The bundle directory (`crun run --bundle`). */
  dir: string;
  /** Its rootfs skeleton. */
  rootfs: string;
}

/** Host directories the node binary may load shared libraries from (see `ldd $(which node)`). */
const LIBRARY_DIRS = ['/lib', '/lib64', '/usr/lib', '/usr/lib64'];

/**
 * How the host's library dirs appear in the container: real dirs are bind-mounted read-only; symlinks
 * (a merged-/usr host has `/lib -> usr/lib`) are recreated in the skeleton, so the dynamic loader's
 * paths resolve the same way inside.
 */
export function hostLibraries(): { mounts: LibraryMount[]; links: Array<{ path: string; target: string }> } {
  const mounts: LibraryMount[] = [];
  const links: Array<{ path: string; target: string }> = [];
  for (const dir of LIBRARY_DIRS) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue; // not on this host (e.g. no /usr/lib64)
    }
    if (st.isSymbolicLink()) links.push({ path: dir, target: readlinkSync(dir) });
    else if (st.isDirectory()) mounts.push({ host: dir, container: dir });
  }
  return { mounts, links };
}

const ETC_FILES: Record<string, string> = {
  'etc/passwd':
    'root:x:0:0:root:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  'etc/hosts': '127.0.0.1 localhost\n::1 localhost\n',
  'etc/hostname': 'kindling\n',
};

/** Creates a bundle directory with its rootfs skeleton: mount points, library links and a tiny /etc. */
export async function createBundle(
  dir: string,
  libraries: ReturnType<typeof hostLibraries>,
): Promise<PreparedBundle> {
  const rootfs = join(dir, 'rootfs');
  const dirs = [
    'proc',
    'dev',
    'tmp',
    'fn',
    'kindling/runtime',
    'etc',
    ...libraries.mounts.map((m) => m.container.slice(1)),
  ];
  await Promise.all(dirs.map((d) => mkdir(join(rootfs, d), { recursive: true })));
  await Promise.all([
    // A file bind mount needs a file as its mount point.
    writeFile(join(rootfs, 'kindling/node'), ''),
    ...Object.entries(ETC_FILES).map(([path, text]) => writeFile(join(rootfs, path), text)),
    ...libraries.links.map(async (link) => {
      const at = join(rootfs, link.path);
      if (!existsSync(at)) await symlink(link.target, at);
    }),
  ]);
  return { dir, rootfs };
}

/** Removes a bundle directory and everything in it. */
export async function removeBundle(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
