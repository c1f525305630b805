/** The data-directory lock: exclusive, released by its owner only, taken over from a dead owner. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LOCK_FILE, liveLockOwner, lockDataDir } from '../../src/core/data-dir-lock.js';
import { KindlingError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/platform.js';

const lockModule = new URL('../../src/core/data-dir-lock.js', import.meta.url).href;

/** A real process that takes the lock of `dir` and waits; resolves once it holds it. */
async function lockInChild(dir: string) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { lockDataDir } from ${JSON.stringify(lockModule)};
       lockDataDir(process.argv[1], { command: 'test child', port: 1234, otherDir: '--data DIR' });
       console.log('locked');
       setInterval(() => {}, 1 << 30);`,
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`the child exited with ${code} before locking`)));
  });
  return child;
}

const exited = (child: ReturnType<typeof spawn>) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => child.once('exit', () => r()));

describe('data directory lock', () => {
  it('refuses a second owner with the directory, the pid, the URL and the fix', () => {
    const dir = tempDir();
    const lock = lockDataDir(dir, { command: 'kindling up', port: 0, otherDir: '--data DIR' });
    try {
      lock.update({ url: 'http://127.0.0.1:18781' });
      assert.throws(
        () => lockDataDir(dir, { command: 'kindling up', otherDir: '--data DIR or KINDLING_DATA' }),
        (err: unknown) => {
          assert.ok(KindlingError.is(err) && err.code === 'KINDLING_CONFLICT', String(err));
          assert.match(err.message, new RegExp(`data directory ${dir} is in use`));
          assert.match(err.message, new RegExp(`pid ${process.pid}, http://127\\.0\\.0\\.1:18781`));
          assert.match(err.message, /use another data directory \(--data DIR or KINDLING_DATA\)/);
          return true;
        },
      );
      assert.equal(liveLockOwner(dir)?.pid, process.pid);
    } finally {
      lock.release();
    }
    assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'released');
    assert.equal(liveLockOwner(dir), undefined);
    lockDataDir(dir, { command: 'again', otherDir: 'x' }).release();
  });

  it('another live process holding the lock refuses this one', async () => {
    const dir = tempDir();
    const child = await lockInChild(dir);
    try {
      assert.throws(
        () => lockDataDir(dir, { command: 'kindling up', otherDir: 'x' }),
        new RegExp(`\\(test child, pid ${child.pid}, port 1234\\)`),
      );
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  it('takes over the lock of a process killed with SIGKILL, saying so', async () => {
    const dir = tempDir();
    const child = await lockInChild(dir);
    child.kill('SIGKILL');
    await exited(child);
    assert.ok(existsSync(join(dir, LOCK_FILE)), 'SIGKILL leaves the lock behind');
    const said: string[] = [];
    const lock = lockDataDir(dir, { command: 'kindling up', otherDir: 'x', say: (l) => said.push(l) });
    try {
      assert.equal(said.length, 1);
      assert.match(
        said[0]!,
        new RegExp(`held by pid ${child.pid} \\(test child\\), which is no longer running`),
      );
      assert.equal(liveLockOwner(dir)?.pid, process.pid);
    } finally {
      lock.release();
    }
  });

  it('takes over a lock whose pid now belongs to a process that started later', () => {
    const dir = tempDir();
    // The parent of this test process is alive, but did not start at tick 1 after boot.
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.ppid, command: 'kindling up', startTicks: '1', token: 'old' }),
    );
    const said: string[] = [];
    const lock = lockDataDir(dir, { command: 'kindling up', otherDir: 'x', say: (l) => said.push(l) });
    lock.release();
    assert.equal(said.length, 1, 'a reused pid is not the owner');
  });

  it('a release does not remove a lock another process has taken over since', () => {
    const dir = tempDir();
    const lock = lockDataDir(dir, { command: 'kindling up', otherDir: 'x' });
    const other = JSON.stringify({ pid: process.ppid, command: 'other', token: 'theirs' });
    writeFileSync(join(dir, LOCK_FILE), other);
    lock.release();
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), other);
  });

  it('refuses a lock file it did not write, saying how to fix it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), 'hello');
    assert.throws(
      () => lockDataDir(dir, { command: 'kindling up', otherDir: 'x' }),
      /is not one Kindling wrote/,
    );
  });
});
