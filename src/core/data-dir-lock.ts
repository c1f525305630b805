/**
 * An exclusive lock on a data directory, so one process at a time owns it (its SQLite database,
 * registry, block cache, containers and `endpoint.json`).
 *
 * The lock is a file, `<dir>/kindling.lock`, holding the owner's pid, what it runs and where it
 * serves. It is created whole and exclusively: the content goes to a private file first, which is
 * then hard-linked to the lock's name (`link` fails with EEXIST when the lock exists, as an
 * O_EXCL create does, and no reader ever sees a half-written lock).
 *
 * A process killed with SIGKILL cannot remove its lock: the next start finds a lock whose process is
 * gone (no such pid, or a pid since reused by a process that started later) and takes it over.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KindlingError } from './errors.js';

/** The lock file's name inside a data directory. */
export const LOCK_FILE = 'kindling.lock';

/** What a lock file says about its owner. */
export interface LockOwner {
  pid: number;
  /** What the owner runs, e.g. `kindling up`. */
  command: string;
  /** Where it serves, once known. */
  url?: string;
  /** The port it was asked to listen on (0: any), before it knows its URL. */
  port?: number;
  /** The owner's start time in clock ticks since boot (/proc/PID/stat), to tell a reused pid. */
  startTicks?: string;
  /** Tells this lock from a later one of the same pid. */
  token: string;
}

/** A held lock. */
export interface DataDirLock {
  /** The lock file. */
  readonly path: string;
  /** Records where the owner serves (shown to a process refused the lock). */
  update(fields: { url: string }): void;
  /** Removes the lock if it is still this one. Idempotent; also runs when the process exits. */
  release(): void;
}

/** Options of `lockDataDir`. */
export interface LockOptions {
  /** What this process runs, for the other process's error message (e.g. `kindling up`). */
  command: string;
  port?: number;
  /** How to choose another data directory, for the refusal's fix, e.g. `--data DIR or KINDLING_DATA`. */
  otherDir: string;
  /** Told when a stale lock is taken over. */
  say?: (line: string) => void;
}

/**
 * Takes the lock of data directory `dir` (which must exist), or throws KINDLING_CONFLICT naming the
 * directory, the running owner's pid and URL, and the fix.
 */
export function lockDataDir(dir: string, opts: LockOptions): DataDirLock {
  const root = resolve(dir);
  const path = join(root, LOCK_FILE);
  const self = procStat(process.pid);
  const own: LockOwner = {
    pid: process.pid,
    command: opts.command,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(self ? { startTicks: self.startTicks } : {}),
    token: randomBytes(8).toString('hex'),
  };
  const write = (owner: LockOwner) => {
    const partial = `${path}.${process.pid}.${owner.token}.tmp`;
    writeFileSync(partial, JSON.stringify(owner) + '\n', { mode: 0o644 });
    return partial;
  };
  const partial = write(own);
  try {
    // A stale lock is moved aside and the link tried again; a few rounds bound a run of stale locks.
    for (let round = 0; ; round++) {
      try {
        linkSync(partial, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readOwner(path);
      if (holder === undefined) continue; // removed meanwhile: try again
      if (round < 3 && !isAlive(holder)) {
        takeOver(path, holder, root, opts.say);
        continue;
      }
      throw lockedError(root, holder, opts.otherDir);
    }
  } finally {
    rmSync(partial, { force: true });
  }

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // Only our own lock: a lock taken over after this process was presumed dead is not ours.
    if (tokenOf(path) === own.token) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return {
    path,
    update(fields) {
      if (released) return;
      Object.assign(own, fields);
      // Replaced whole by a rename, so the lock never stops existing.
      renameSync(write(own), path);
    },
    release,
  };
}

/**
 * Starts a service that owns `dir`: takes the lock, runs `start` with it, and releases it if `start`
 * fails (a service that started releases it when it closes).
 */
export async function startHoldingDataDir<T>(
  dir: string,
  opts: LockOptions,
  start: (lock: DataDirLock) => Promise<T>,
): Promise<T> {
  const lock = lockDataDir(dir, opts);
  try {
    return await start(lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * The live owner of `dir`'s lock, or undefined when it is not locked (or its owner is gone). For
 * commands that must not act on a directory another process owns (`kindling cluster down`).
 */
export function liveLockOwner(dir: string): LockOwner | undefined {
  const holder = readOwner(join(resolve(dir), LOCK_FILE));
  return holder && isAlive(holder) ? holder : undefined;
}

/** The one-line description of an owner: `kindling up, pid 123, http://127.0.0.1:8080`. */
export function describeOwner(owner: LockOwner): string {
  const where = owner.url ?? (owner.port !== undefined ? `port ${owner.port}` : undefined);
  return [owner.command, `pid ${owner.pid}`, ...(where ? [where] : [])].join(', ');
}

function lockedError(root: string, holder: LockOwner, otherDir: string): KindlingError {
  return new KindlingError(
    'KINDLING_CONFLICT',
    `data directory ${root} is in use by another Kindling process (${describeOwner(holder)}): ` +
      `stop it first (Ctrl-C where it runs, or kill ${holder.pid}), or use another data directory (${otherDir})`,
    {
      dataDir: root,
      pid: holder.pid,
      command: holder.command,
      ...(holder.url ? { url: holder.url } : {}),
    },
  );
}

/**
 * Moves a stale lock aside. The rename is atomic: if another process took the lock over first, what
 * was moved is its fresh lock, which is put back (the caller then finds it alive and refuses).
 */
function takeOver(path: string, stale: LockOwner, root: string, say?: (line: string) => void): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed meanwhile
    throw err;
  }
  const moved = readOwner(aside);
  if (moved?.token === stale.token) {
    say?.(
      `taking over data directory ${root}: its lock was held by pid ${stale.pid} (${stale.command}), ` +
        'which is no longer running (it did not shut down cleanly)',
    );
    rmSync(aside, { force: true });
    return;
  }
  try {
    linkSync(aside, path);
  } finally {
    rmSync(aside, { force: true });
  }
}

/** The lock's owner, or undefined when there is no lock (or it is unreadable, e.g. being replaced). */
function readOwner(path: string): LockOwner | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isInteger(owner.pid) && typeof owner.token === 'string') return owner as LockOwner;
  } catch {
    // not JSON: reported below
  }
  throw new KindlingError(
    'KINDLING_CONFLICT',
    `the lock file ${path} is not one Kindling wrote (${JSON.stringify(text.slice(0, 80))}): ` +
      'remove it if no Kindling process uses that data directory',
  );
}

/** The token in a lock file; undefined when there is none or it is not a lock this code wrote. */
function tokenOf(path: string): string | undefined {
  try {
    return readOwner(path)?.token;
  } catch (err) {
    if (KindlingError.is(err)) return undefined; // someone else's file: not ours to remove
    throw err;
  }
}

/**
 * True while the owner runs: its pid exists, is not a zombie (killed, not yet reaped by its parent),
 * and, where /proc tells, started when the owner did (not a reused pid).
 */
function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the pid exists, owned by another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(owner.pid);
  if (stat === undefined) return true; // no /proc: the pid is all there is to go by
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return owner.startTicks === undefined || stat.startTicks === owner.startTicks;
}

/** A process's state and start time from /proc/PID/stat, or undefined where /proc is not there. */
function procStat(pid: number): { state: string; startTicks: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined; // no /proc, or the process is gone: the caller falls back on the pid
  }
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTicks: fields[19] ?? '' };
}
