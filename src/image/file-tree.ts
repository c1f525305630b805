/**
 * Collects the files that go into an image: a whole function directory (`bundle: false`), or the
 * external packages of a bundle with everything they depend on.
 */
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import { KindlingError } from '../core/errors.js';
import { PACKAGE_NAME_RE } from './build-config.js';

/** One file to pack: where it goes in the image and where its bytes are. */
export interface SourceFile {
  /** Relative POSIX path inside the image. */
  path: string;
  /** Unix permission bits (no setuid/setgid/sticky: an image never needs them). */
  mode: number;
  size: number;
  /** Absolute path to read the bytes from, or the bytes themselves. */
  source: { file: string } | { bytes: Buffer };
}

/** Directories never shipped: VCS data, bundler caches, a Kindling data dir. */
const SKIP = new Set(['.git', 'node_modules/.cache', '.kindling']);

/** Files found and the things skipped, as warnings for the build output. */
export interface CollectResult {
  files: SourceFile[];
  warnings: string[];
}

/**
 * Every regular file under `dir`, with paths relative to it and prefixed by `prefix`. Symlinks are
 * followed when they stay inside `within` (npm's and pnpm's links do) and skipped with a warning
 * otherwise, so a build never ships files from outside the function; cycles are cut.
 */
export async function collectDirectory(dir: string, prefix = '', within = dir): Promise<CollectResult> {
  const files: SourceFile[] = [];
  const warnings: string[] = [];
  const boundary = await realpath(within);
  const inside = (p: string): boolean => p === boundary || p.startsWith(boundary + sep);

  async function walk(abs: string, rel: string, stack: Set<string>): Promise<void> {
    const entries = await readdir(abs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const childAbs = join(abs, e.name);
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      if (SKIP.has(childRel) || SKIP.has(stripPrefix(childRel, prefix))) continue;
      let target = childAbs;
      let info = await lstat(childAbs);
      if (info.isSymbolicLink()) {
        let real: string;
        try {
          real = await realpath(childAbs);
        } catch {
          warnings.push(`skipped ${childRel}: a dangling symlink`);
          continue;
        }
        if (!inside(real)) {
          warnings.push(`skipped ${childRel}: a symlink to ${real}, outside ${boundary}`);
          continue;
        }
        target = real;
        info = await stat(real);
      }
      if (info.isDirectory()) {
        const real = await realpath(target);
        if (stack.has(real)) {
          warnings.push(`skipped ${childRel}: a symlink cycle`);
          continue;
        }
        stack.add(real);
        await walk(target, childRel, stack);
        stack.delete(real);
      } else if (info.isFile()) {
        files.push({ path: childRel, mode: info.mode & 0o777, size: info.size, source: { file: target } });
      } else {
        warnings.push(`skipped ${childRel}: not a regular file`);
      }
    }
  }

  await walk(dir, prefix, new Set([await realpath(dir)]));
  return { files, warnings };
}

/**
 * The files of the packages `names` and of their transitive `dependencies`,
 * `optionalDependencies` and `peerDependencies`, found in `nodeModules` the way Node resolves them
 * (nested node_modules first, then the enclosing ones), as `node_modules/...` paths. Rejects with
 * KINDLING_BUILD_FAILED when a requested package is not installed.
 */
export async function collectPackages(nodeModules: string, names: readonly string[]): Promise<CollectResult> {
  const warnings: string[] = [];
  const included = new Set<string>(); // package dirs relative to nodeModules' parent, e.g. node_modules/a
  // `by` is the package that needs `name`; undefined for the packages asked for.
  const queue: Array<{ name: string; from: string; required: boolean; by: string | undefined }> = names.map(
    (name) => ({ name, from: 'node_modules', required: true, by: undefined }),
  );
  const root = join(nodeModules, '..');
  while (queue.length > 0) {
    const item = queue.shift() as (typeof queue)[number];
    if (!PACKAGE_NAME_RE.test(item.name)) {
      warnings.push(
        `${item.by ?? 'kindling.json'} names a dependency "${item.name}" that is not a package name; skipped`,
      );
      continue;
    }
    const found = await resolvePackage(root, item.from, item.name);
    if (found === undefined) {
      if (item.by === undefined) {
        throw new KindlingError(
          'KINDLING_BUILD_FAILED',
          `external package "${item.name}" is not installed in ${nodeModules}; add it to package.json "dependencies" or remove it from kindling.json "external"`,
          { package: item.name },
        );
      }
      if (item.required) warnings.push(`${item.by} depends on ${item.name}, which is not installed`);
      continue;
    }
    if (included.has(found)) continue;
    included.add(found);
    const pkg = await readPackageJson(join(root, found));
    const deps = (field: string): string[] =>
      typeof pkg[field] === 'object' && pkg[field] !== null ? Object.keys(pkg[field] as object) : [];
    for (const d of deps('dependencies')) queue.push({ name: d, from: found, required: true, by: item.name });
    for (const d of [...deps('optionalDependencies'), ...deps('peerDependencies')]) {
      queue.push({ name: d, from: found, required: false, by: item.name });
    }
  }
  // Walking a package includes its nested node_modules, so packages inside another are covered.
  const tops = [...included]
    .sort()
    .filter((p, i, all) => !all.slice(0, i).some((q) => p.startsWith(`${q}/`)));
  const files: SourceFile[] = [];
  for (const top of tops) {
    const r = await collectDirectory(join(root, top), top, root);
    files.push(...r.files);
    warnings.push(...r.warnings);
  }
  return { files, warnings };
}

/** Node's lookup: `<from>/node_modules/<name>`, then each enclosing node_modules up to the root. */
async function resolvePackage(root: string, from: string, name: string): Promise<string | undefined> {
  const parts = from.split('/node_modules/');
  for (let i = parts.length; i >= 1; i--) {
    const base = parts.slice(0, i).join('/node_modules/');
    const dirs = base === 'node_modules' ? [base] : [`${base}/node_modules`];
    if (i === 1 && base !== 'node_modules') dirs.push('node_modules');
    for (const d of dirs) {
      const candidate = posix.join(d, name);
      if (await isDirectory(join(root, candidate))) return candidate;
    }
  }
  return undefined;
}

async function readPackageJson(dir: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new KindlingError(
      'KINDLING_BUILD_FAILED',
      `${join(dir, 'package.json')} is not valid JSON: ${(err as Error).message}`,
    );
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return false;
    throw err;
  }
}

function stripPrefix(rel: string, prefix: string): string {
  return prefix !== '' && rel.startsWith(`${prefix}/`) ? rel.slice(prefix.length + 1) : rel;
}
