/**
 * Installs a function's npm dependencies into a cache keyed by its package.json and lockfile, for
 * directories deployed without node_modules. The same manifest files reuse the same install.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { KindlingError } from '../core/errors.js';

const MARKER = '.kindling-installed';
const STDERR_TAIL = 4000;

/**
 * Returns the `node_modules` directory holding the production dependencies of the package in
 * `dir`, installing them into `cacheDir/<sha256 of package.json + package-lock.json>` on first use.
 * The install runs in a temp directory renamed into place when done, so a failed or concurrent
 * install never leaves a half-filled cache entry. Rejects with KINDLING_BUILD_FAILED carrying the
 * end of npm's output.
 */
export async function installDependencies(dir: string, cacheDir: string): Promise<string> {
  const pkg = await readFile(join(dir, 'package.json'));
  const lock = await readOptional(join(dir, 'package-lock.json'));
  const local = localDependencies(pkg, dir);
  const hash = createHash('sha256')
    .update(pkg)
    .update('\0')
    .update(lock ?? '');
  // A package on the local disk (`file:./vendor/x`) is part of the key by its files' names, sizes
  // and times: changing it installs again.
  for (const [name, path] of local) hash.update(`\0${name}\0${await treeSignature(path)}`);
  const key = hash.digest('hex');
  const target = join(cacheDir, key);
  if (await exists(join(target, MARKER))) return join(target, 'node_modules');

  await mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `${key}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp);
    const outside = [...local].filter(([, path]) => !isInside(dir, path));
    if (outside.length === 0) {
      // Local packages inside the function's directory are copied beside the manifest at the same
      // relative paths, so its specs and its lockfile hold as they are (npm links them; the links
      // are relative and stay inside this cache entry).
      await copyFile(join(dir, 'package.json'), join(tmp, 'package.json'));
      if (lock) await copyFile(join(dir, 'package-lock.json'), join(tmp, 'package-lock.json'));
      for (const [, path] of local)
        await cp(path, join(tmp, relative(dir, path)), {
          recursive: true,
          filter: (from) => !underNodeModules(path, from),
        });
      await runNpm(tmp, dir);
    } else {
      // A package outside it is named by absolute path and copied in (--install-links). The
      // lockfile's relative paths would point nowhere from here: npm resolves afresh.
      const manifest = JSON.parse(pkg.toString('utf8')) as Record<string, Record<string, string> | undefined>;
      for (const [name, path] of local)
        for (const field of DEPENDENCY_FIELDS)
          if (manifest[field]?.[name] !== undefined) manifest[field]![name] = `file:${path}`;
      await writeFile(join(tmp, 'package.json'), JSON.stringify(manifest, null, 2));
      await runNpm(tmp, dir, ['--install-links']);
    }
    await writeFile(join(tmp, MARKER), '');
    try {
      await rename(tmp, target);
    } catch (err) {
      // Another build installed the same key first; its result is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'EEXIST' && code !== 'ENOTEMPTY') || !(await exists(join(target, MARKER)))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return join(target, 'node_modules');
}

/** The fields whose packages a production install brings in. */
const DEPENDENCY_FIELDS = ['dependencies', 'optionalDependencies'] as const;

const isInside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/**
 * Dependencies in `package.json` given as a path on this disk (`file:`, `link:`, `./x`, `../x`,
 * `/x`), by name, as absolute paths resolved against the function's directory.
 */
function localDependencies(pkg: Buffer, dir: string): Map<string, string> {
  const found = new Map<string, string>();
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(pkg.toString('utf8')) as Record<string, unknown>;
  } catch {
    return found; // npm reports an unreadable package.json itself
  }
  for (const field of DEPENDENCY_FIELDS) {
    const deps = manifest[field];
    if (!deps || typeof deps !== 'object') continue;
    for (const [name, spec] of Object.entries(deps as Record<string, unknown>)) {
      if (typeof spec !== 'string') continue;
      const path =
        /^(?:file|link):(.*)$/.exec(spec)?.[1] ?? (/^(?:\.{1,2}\/|\/)/.test(spec) ? spec : undefined);
      if (path !== undefined) found.set(name, resolve(dir, path));
    }
  }
  return found;
}

/** Whether `path` lies in a node_modules directory below `root` (a local package's own installs). */
const underNodeModules = (root: string, path: string) =>
  relative(root, path).split(sep).includes('node_modules');

/** Names, sizes and modification times of the files under `dir` (without its node_modules). */
async function treeSignature(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const lines: string[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    // parentPath from Node 20.12; `path` before it (the same, deprecated since).
    const path = join((e as { parentPath?: string }).parentPath ?? e.path, e.name);
    if (underNodeModules(dir, path)) continue;
    const info = await stat(path);
    lines.push(`${relative(dir, path)}\t${info.size}\t${info.mtimeMs}`);
  }
  return lines.sort().join('\n');
}

function runNpm(cwd: string, forDir: string, extra: string[] = []): Promise<void> {
  const args = ['install', '--omit=dev', '--no-audit', '--no-fund', ...extra];
  return new Promise((resolve, reject) => {
    const child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-STDERR_TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => {
      reject(
        new KindlingError(
          'KINDLING_BUILD_FAILED',
          `could not run npm to install the dependencies of ${forDir}: ${err.message}; is npm on PATH?`,
          undefined,
          { cause: err },
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      reject(
        new KindlingError(
          'KINDLING_BUILD_FAILED',
          `npm ${args.join(' ')} for ${forDir} failed (${signal ?? `exit ${code}`}); fix package.json or run npm install yourself and deploy with node_modules:\n${output.trim()}`,
          { exitCode: code, signal },
        ),
      );
    });
  });
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
