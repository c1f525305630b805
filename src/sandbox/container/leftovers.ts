/**
 * Containers a container tier created and did not delete: after the platform was SIGKILLed (crun's
 * state outlives it) or, before the namespace holder left the terminal's process group, after a
 * Ctrl-C killed the holder so that no crun command of the shutdown could run.
 *
 * A container is this tier's when crun's state says its bundle lies inside the tier's state
 * directory (every bundle the tier makes does; a platform owns its state directory through the data
 * directory's lock) and its id has the tier's `kindling-` prefix. Containers of another platform,
 * of another data directory or of anything else on the host have other bundles and are left alone.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { KindlingError } from '../../core/errors.js';
import { instanceCgroup, removeInstanceCgroups } from './cgroups.js';
import { removeCellDirs } from './container-cells.js';
import type { Crun } from './crun.js';

/** Every id the tier gives a container starts with this. */
export const CONTAINER_ID_PREFIX = 'kindling-';

/** Names the tier gives its bundles (see `bundleName`); nothing else in its state dir is removed. */
const BUNDLE_NAME = /^(?:[A-Za-z0-9_-]+-v\d+-[0-9a-f]{8}|cells-bundle)$/;

/** A new bundle directory's name for a function version (random: a restarted tier never reuses one). */
export function bundleName(functionName: string, functionVersion: number): string {
  return `${functionName.replace(/[^A-Za-z0-9_-]/g, '_')}-v${functionVersion}-${randomBytes(4).toString('hex')}`;
}

/** One entry of `crun list --format json`. */
interface ListedContainer {
  id: string;
  status: string;
  bundle: string;
}

/** Ids (and states) of the containers in crun's state whose bundle is inside `stateDir`. */
export async function ownedContainers(crun: Crun, stateDir: string): Promise<ListedContainer[]> {
  const res = await crun.exec(['list', '--format', 'json'], 10_000);
  if (!res.ok)
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      `could not list crun's containers to find this tier's: ${res.stderr.trim() || 'no output'}`,
    );
  // crun prints nothing at all (not `[]`) when it knows no container.
  const listed = (res.stdout.trim() ? JSON.parse(res.stdout) : []) as ListedContainer[];
  return listed.filter(
    (c) => typeof c.id === 'string' && c.id.startsWith(CONTAINER_ID_PREFIX) && isInside(c.bundle, stateDir),
  );
}

/**
 * Deletes (`crun delete --force`, whatever their state) the containers with a bundle inside
 * `stateDir` except those in `keep`, and removes their cgroups. Returns the deleted ids; rejects with
 * KINDLING_UNAVAILABLE naming any it could not delete, after trying every one.
 */
export async function removeOwnedContainers(
  crun: Crun,
  stateDir: string,
  cgroupPrefix: string,
  keep: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const owned = (await ownedContainers(crun, stateDir)).filter((c) => !keep.has(c.id));
  const failed: string[] = [];
  await Promise.all(
    owned.map(async ({ id }) => {
      const res = await crun.exec(['delete', '--force', id], 10_000);
      if (!res.ok) failed.push(`${id} (${res.stderr.trim() || 'no output'})`);
      else await removeInstanceCgroups(instanceCgroup(cgroupPrefix, id), cgroupPrefix);
    }),
  );
  if (failed.length > 0)
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      `could not delete container(s) ${failed.join(', ')}: delete them with \`crun delete --force ID\``,
    );
  return owned.map((c) => c.id);
}

/**
 * Removes what an earlier tier on `stateDir` left on disk: stem cells' directories (unmounting them
 * first) and bundles, except the bundles in `keep` (names this tier has made since it started).
 */
export async function removeStaleFiles(
  crun: Crun,
  stateDir: string,
  keep: ReadonlySet<string>,
): Promise<void> {
  const cells = join(stateDir, 'cells');
  for (const cell of entries(cells)) {
    removeCellDirs(crun, join(cells, cell, 'fn'), join(cells, cell, 'stage'));
    await rm(join(cells, cell), { recursive: true, force: true });
  }
  await rmdir(cells).catch((err: NodeJS.ErrnoException) => {
    // ENOTEMPTY: something there is not a cell's; it stays.
    if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY') throw err;
  });
  await Promise.all(
    entries(stateDir)
      .filter((name) => BUNDLE_NAME.test(name) && !keep.has(name))
      .map((name) => rm(join(stateDir, name), { recursive: true, force: true })),
  );
}

/** Where crun keeps container state when run as root without `--root`. */
export const DEFAULT_CRUN_ROOT = '/run/crun';

/**
 * Cheap check, without running crun: could an earlier tier on `stateDir` have left something? Yes
 * when crun's state dir holds a container with the tier's prefix (its bundle is checked later) or
 * the state dir is not empty (a clean close empties it).
 */
export function mayHaveLeftovers(crunRoot: string, stateDir: string): boolean {
  return entries(stateDir).length > 0 || entries(crunRoot).some((n) => n.startsWith(CONTAINER_ID_PREFIX));
}

/** Names in a directory; none when it does not exist. */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function isInside(path: unknown, dir: string): boolean {
  if (typeof path !== 'string' || !isAbsolute(path)) return false;
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
