/**
 * One process per data directory, with real processes: a second `kindling up` (or worker, or
 * cluster) on a directory in use is refused with one line and leaves the running one intact; a
 * platform killed with SIGKILL leaves a lock the next start takes over.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lockDataDir } from '../../src/core/data-dir-lock.js';
import { cliPath, runCli, startPlatformProcess, tempDir } from '../helpers/platform.js';

const stop = async (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
};

/** Asserts `res` is the refusal for a directory held by `pid`: one line, with what to do. */
function assertRefused(res: ReturnType<typeof runCli>, dataDir: string, pid: number, url?: string) {
  assert.notEqual(res.status, 0, res.stdout);
  assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
  assert.match(res.stderr, new RegExp(`data directory ${dataDir} is in use by another Kindling process`));
  assert.match(res.stderr, new RegExp(`pid ${pid}\\b`));
  if (url) assert.ok(res.stderr.includes(url), res.stderr);
  assert.match(res.stderr, /stop it first .*or use another data directory \(--data DIR/);
}

describe('data directory lock (processes)', () => {
  it('refuses a second kindling up on the same data directory; the first keeps its endpoint', async () => {
    const dataDir = tempDir();
    const first = await startPlatformProcess(dataDir);
    try {
      const endpoint = readFileSync(join(dataDir, 'endpoint.json'), 'utf8');
      const up = ['up', '--port', '0', '--no-examples'];
      assertRefused(runCli([...up, '--data', dataDir]), dataDir, first.child.pid!, first.url);
      // The directory every other command reads, given as the global option or the environment.
      assertRefused(runCli(['--data-dir', dataDir, ...up]), dataDir, first.child.pid!, first.url);
      assertRefused(runCli(up, { KINDLING_DATA: dataDir }), dataDir, first.child.pid!, first.url);
      assert.equal(readFileSync(join(dataDir, 'endpoint.json'), 'utf8'), endpoint, 'endpoint.json is intact');
      const ls = runCli(['ls', '--data-dir', dataDir]);
      assert.equal(ls.status, 0, `the CLI still finds the first platform: ${ls.stderr}`);
    } finally {
      await stop(first.child);
    }
    assert.equal(existsSync(join(dataDir, 'kindling.lock')), false, 'SIGTERM releases the lock');
    assert.equal(existsSync(join(dataDir, 'endpoint.json')), false);
  });

  it('refuses a port in use before it deploys or creates anything', async () => {
    const dataDir = tempDir();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as AddressInfo;
    try {
      const res = runCli(['up', '--port', String(port), '--data', dataDir]);
      assert.equal(res.status, 1, res.stdout);
      assert.equal(res.stderr.trim(), `kindling: port ${port} is in use: pass --port or set KINDLING_PORT`);
      assert.doesNotMatch(res.stdout, /Deploying|deployed/);
      assert.equal(
        existsSync(join(dataDir, 'admin-key')),
        false,
        'the first start that works creates the key',
      );
    } finally {
      taken.close();
    }
  });

  it('a platform killed with SIGKILL leaves a stale lock that the next start takes over', async () => {
    const dataDir = tempDir();
    const first = await startPlatformProcess(dataDir);
    await stop(first.child, 'SIGKILL');
    assert.ok(existsSync(join(dataDir, 'kindling.lock')));
    const second = await startPlatformProcess(dataDir);
    try {
      assert.match(
        second.output(),
        new RegExp(`taking over data directory ${dataDir}: its lock was held by pid ${first.child.pid} `),
      );
      const lock = JSON.parse(readFileSync(join(dataDir, 'kindling.lock'), 'utf8'));
      assert.equal(lock.pid, second.child.pid);
      assert.equal(lock.url, second.url);
    } finally {
      await stop(second.child, 'SIGINT');
    }
    assert.equal(existsSync(join(dataDir, 'kindling.lock')), false, 'SIGINT releases the lock');
  });

  it('refuses a second kindling worker on the same data directory', async () => {
    const dataDir = tempDir();
    // No control plane answers there: the worker serves and keeps retrying its registration.
    const args = ['worker', '--control', 'http://127.0.0.1:9', '--key', 'k', '--id', 'h1', '--data', dataDir];
    const first = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        first.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('serving at') && resolve());
        first.once('exit', (code) => reject(new Error(`the worker exited with ${code}: ${out}`)));
      });
      const second = runCli([...args.slice(0, -4), '--id', 'h2', '--data', dataDir]);
      assertRefused(second, dataDir, first.pid!);
      assert.match(second.stderr, /kindling worker --id h1/);
    } finally {
      await stop(first);
    }
    assert.equal(existsSync(join(dataDir, 'kindling.lock')), false);
  });

  it('cluster up and cluster down refuse a cluster directory in use', () => {
    const dataDir = tempDir();
    const lock = lockDataDir(dataDir, { command: 'kindling cluster up', otherDir: '--data DIR' });
    try {
      assertRefused(
        runCli(['cluster', 'up', '--loopback', '--hosts', '1', '--data', dataDir]),
        dataDir,
        process.pid,
      );
      const down = runCli(['cluster', 'down', '--data', dataDir]);
      assert.notEqual(down.status, 0);
      assert.match(
        down.stderr,
        new RegExp(`the cluster in ${dataDir} is running \\(kindling cluster up, pid ${process.pid}\\)`),
      );
    } finally {
      lock.release();
    }
    assert.match(runCli(['cluster', 'down', '--data', dataDir]).stdout, /nothing to remove/);
  });
});
