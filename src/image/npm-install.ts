/**
 * Installs a function's npm dependencies into a cache keyed by its package.json and lockfile, for
 * directories deployed without node_modules. The same manifest files reuse the same install.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  const key = createHash('sha256')
    .update(pkg)
    .update('\0')
    .update(lock ?? '')
    .digest('hex');
  const target = join(cacheDir, key);
  if (await exists(join(target, MARKER))) return join(target, 'node_modules');

  await mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `${key}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp);
    await copyFile(join(dir, 'package.json'), join(tmp, 'package.json'));
    if (lock) await copyFile(join(dir, 'package-lock.json'), join(tmp, 'package-lock.json'));
    await runNpm(tmp, dir);
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

function runNpm(cwd: string, forDir: string): Promise<void> {
  const args = ['install', '--omit=dev', '--no-audit', '--no-fund'];
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
